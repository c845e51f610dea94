# rivetkit_add_header_check(<target> INCLUDE_DIRS <dir>... LINK <target>...)
#
# Public headers must be self-contained (design §10). For every header under each include
# directory, except those in a detail/ folder, this writes a translation unit that includes
# only that header (twice, which also checks #pragma once), and compiles them all into the
# object library <target> with the project warnings. New headers are picked up at build time.
function(rivetkit_add_header_check target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "INCLUDE_DIRS;LINK")
  set(sources "")
  set(seen "")
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/${target}")
  foreach(dir IN LISTS arg_INCLUDE_DIRS)
    file(GLOB_RECURSE headers CONFIGURE_DEPENDS RELATIVE "${dir}" "${dir}/*.hpp" "${dir}/*.h")
    list(SORT headers)
    foreach(header IN LISTS headers)
      if(header MATCHES "(^|/)detail/")
        continue()
      endif()
      if(header IN_LIST seen)
        message(FATAL_ERROR "two public headers install as <${header}>; rename one")
      endif()
      list(APPEND seen "${header}")
      set(source "${out_dir}/${header}.cpp")
      # file(CONFIGURE) rewrites only on change, so reconfiguring does not trigger rebuilds.
      file(CONFIGURE OUTPUT "${source}"
        CONTENT "// Generated: <${header}> compiles on its own.\n#include <${header}>\n#include <${header}>\n")
      list(APPEND sources "${source}")
    endforeach()
  endforeach()
  if(NOT sources)
    message(STATUS "${target}: no public headers to check")
    return()
  endif()
  add_library(${target} OBJECT ${sources})
  target_link_libraries(${target} PRIVATE ${arg_LINK})
  rivetkit_set_warnings(${target})
endfunction()
