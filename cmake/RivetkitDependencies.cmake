# Finds every dependency (Debian 12 packages) and records, for each, the namespace of its
# imported targets. cmake/RivetkitInstall.cmake uses that record to write a find_dependency()
# into rivetkitConfig.cmake for exactly the packages the installed targets link: with static
# libraries even PRIVATE dependencies reach consumers (as $<LINK_ONLY:...>), so they must be
# found there too.
#
# rivetkit_dependency(<Package> NAMESPACE <ns> [ARGS <find_package arguments>...])
macro(rivetkit_dependency package)
  cmake_parse_arguments(_rkdep "" "NAMESPACE" "ARGS" ${ARGN})
  find_package(${package} ${_rkdep_ARGS} REQUIRED)
  list(APPEND RIVETKIT_DEPENDENCIES ${package})
  set(RIVETKIT_DEPENDENCY_${package}_NAMESPACE "${_rkdep_NAMESPACE}")
  set(RIVETKIT_DEPENDENCY_${package}_ARGS "${_rkdep_ARGS}")
endmacro()

set(RIVETKIT_DEPENDENCIES "")
set(THREADS_PREFER_PTHREAD_FLAG ON)
rivetkit_dependency(Threads NAMESPACE Threads)
rivetkit_dependency(fmt NAMESPACE fmt)
rivetkit_dependency(nlohmann_json NAMESPACE nlohmann_json ARGS 3.10)
rivetkit_dependency(SQLite3 NAMESPACE SQLite)
rivetkit_dependency(OpenSSL NAMESPACE OpenSSL)
rivetkit_dependency(Asio NAMESPACE asio)
rivetkit_dependency(libcbor NAMESPACE libcbor)
# llhttp is compiled in-tree (cmake/Findllhttp.cmake), so its target is not imported: when a
# package target links it, it is installed and exported with rivetkit (as rivetkit::llhttp)
# instead of being re-found by consumers.
rivetkit_dependency(llhttp NAMESPACE llhttp)
