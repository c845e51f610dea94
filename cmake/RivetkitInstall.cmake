# Install rules and the CMake package (find_package(rivetkit)). Included by the top-level
# CMakeLists.txt after every target exists, when RIVETKIT_INSTALL is on.
#
# Exported: the package libraries (RIVETKIT_LIBRARY_TARGETS) plus every in-tree library they
# link, directly or not (the bundled llhttp once the net layer links it): with static libraries
# those reach the consumer's link line, so they must be in the export set too.
# rivetkitConfig.cmake re-finds exactly the packages whose imported targets the exported
# targets link, as declared in cmake/RivetkitDependencies.cmake.

include(CMakePackageConfigHelpers)

set(RIVETKIT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/rivetkit"
  CACHE STRING "Where rivetkitConfig.cmake is installed, relative to the prefix")
mark_as_advanced(RIVETKIT_INSTALL_CMAKEDIR)

# _rivetkit_link_closure(<targets-out> <packages-out> <target>...)
function(_rivetkit_link_closure targets_out packages_out)
  set(queue ${ARGN})
  set(targets "")
  set(packages "")
  while(queue)
    list(POP_FRONT queue target)
    if(target IN_LIST targets)
      continue()
    endif()
    list(APPEND targets ${target})
    set(links "")
    foreach(property IN ITEMS LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
      get_target_property(value ${target} ${property})
      if(value)
        list(APPEND links ${value})
      endif()
    endforeach()
    # Items may be wrapped in generator expressions ($<LINK_ONLY:fmt::fmt>); every word that
    # names a target is a dependency.
    string(JOIN " " links_text ${links})
    string(REGEX MATCHALL "[A-Za-z0-9_.+-]+(::[A-Za-z0-9_.+-]+)*" words "${links_text}")
    foreach(word IN LISTS words)
      if(NOT TARGET ${word})
        continue()
      endif()
      get_target_property(aliased ${word} ALIASED_TARGET)
      if(aliased)
        set(word ${aliased})
      endif()
      get_target_property(imported ${word} IMPORTED)
      if(NOT imported)
        list(APPEND queue ${word})
        continue()
      endif()
      string(REGEX MATCH "^[^:]+" namespace "${word}")
      set(provider "")
      foreach(package IN LISTS RIVETKIT_DEPENDENCIES)
        if(RIVETKIT_DEPENDENCY_${package}_NAMESPACE STREQUAL namespace)
          set(provider ${package})
          break()
        endif()
      endforeach()
      if(NOT provider)
        message(FATAL_ERROR "${target} links the imported target ${word}, but no package in "
          "cmake/RivetkitDependencies.cmake declares NAMESPACE ${namespace}; declare it there "
          "with rivetkit_dependency() so rivetkitConfig.cmake can find it for consumers.")
      endif()
      if(NOT provider IN_LIST packages)
        list(APPEND packages ${provider})
      endif()
    endforeach()
  endwhile()
  set(${targets_out} "${targets}" PARENT_SCOPE)
  set(${packages_out} "${packages}" PARENT_SCOPE)
endfunction()

_rivetkit_link_closure(_rivetkit_export_targets _rivetkit_linked_packages ${RIVETKIT_LIBRARY_TARGETS})

foreach(_rivetkit_target IN LISTS _rivetkit_export_targets)
  get_target_property(_rivetkit_type ${_rivetkit_target} TYPE)
  if(NOT _rivetkit_type MATCHES "LIBRARY$")
    message(FATAL_ERROR "rivetkit's exported targets link ${_rivetkit_target} (${_rivetkit_type}), which cannot be exported")
  endif()
endforeach()

install(TARGETS ${_rivetkit_export_targets}
  EXPORT rivetkit-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  OBJECTS DESTINATION ${CMAKE_INSTALL_LIBDIR}/rivetkit-objects)

# Public headers: include/ and each built driver's include/ (detail/ too: public templates use it).
foreach(_rivetkit_dir IN LISTS RIVETKIT_PUBLIC_INCLUDE_DIRS)
  install(DIRECTORY "${_rivetkit_dir}/"
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    OPTIONAL
    FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")
endforeach()

install(EXPORT rivetkit-targets
  NAMESPACE rivetkit::
  FILE rivetkit-targets.cmake
  DESTINATION ${RIVETKIT_INSTALL_CMAKEDIR})

# find_dependency() lines, in declaration order, for the packages actually linked; their find
# modules from cmake/ ship next to the config.
set(RIVETKIT_CONFIG_FIND_DEPENDENCIES "")
set(_rivetkit_find_modules "")
foreach(_rivetkit_package IN LISTS RIVETKIT_DEPENDENCIES)
  if(NOT _rivetkit_package IN_LIST _rivetkit_linked_packages)
    continue()
  endif()
  string(JOIN " " _rivetkit_args ${_rivetkit_package} ${RIVETKIT_DEPENDENCY_${_rivetkit_package}_ARGS})
  string(APPEND RIVETKIT_CONFIG_FIND_DEPENDENCIES "find_dependency(${_rivetkit_args})\n")
  if(EXISTS "${PROJECT_SOURCE_DIR}/cmake/Find${_rivetkit_package}.cmake")
    list(APPEND _rivetkit_find_modules "${PROJECT_SOURCE_DIR}/cmake/Find${_rivetkit_package}.cmake")
  endif()
endforeach()

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/rivetkitConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/rivetkitConfig.cmake"
  INSTALL_DESTINATION ${RIVETKIT_INSTALL_CMAKEDIR})
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/rivetkitConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
    "${PROJECT_BINARY_DIR}/rivetkitConfig.cmake"
    "${PROJECT_BINARY_DIR}/rivetkitConfigVersion.cmake"
    ${_rivetkit_find_modules}
  DESTINATION ${RIVETKIT_INSTALL_CMAKEDIR})

unset(_rivetkit_target)
unset(_rivetkit_type)
unset(_rivetkit_dir)
unset(_rivetkit_package)
unset(_rivetkit_args)
