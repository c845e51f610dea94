# Findllhttp: finds llhttp's C sources and compiles them, as C, into a static library.
#
# llhttp has no library package on Debian 12. The node-llhttp package ships the generated
# parser sources and the header instead:
#   /usr/share/llhttp/{api.c,http.c,llhttp.c}
#   /usr/share/include/llhttp/llhttp.h
# An upstream release tree (src/*.c, include/llhttp.h) works too: point llhttp_ROOT at it.
#
# Defines
#   llhttp::llhttp       ALIAS of the in-tree static library `rivetkit_llhttp`
#   llhttp_FOUND, llhttp_VERSION, llhttp_INCLUDE_DIR, llhttp_SOURCE_DIR
# Hints: llhttp_ROOT, or the cache entries llhttp_SOURCE_DIR and llhttp_INCLUDE_DIR.
#
# Install/export plan. The library is built here, not imported, so once the static rivetkit
# links it (PRIVATE is enough) the export of rivetkit names it as $<LINK_ONLY:...>, and CMake
# refuses to export rivetkit unless this target is in the same export set. Therefore:
#   - cmake/RivetkitInstall.cmake installs every in-tree library that the package's targets
#     link into the rivetkit-targets export set; this one is exported as rivetkit::llhttp
#     (EXPORT_NAME llhttp) and installed as librivetkit_llhttp.a (OUTPUT_NAME, so it never
#     clashes with a system libllhttp). Consumers need no llhttp on their machine.
#   - its include directory is BUILD_INTERFACE only: llhttp is an implementation detail of the
#     net layer and must not appear in installed headers, and the exported target must not name
#     a path of the build machine.
#   - it is position-independent, so it can also go into a shared rivetkit (BUILD_SHARED_LIBS).
#   - it is EXCLUDE_FROM_ALL: built only once something links it.

set(_llhttp_source_hints)
set(_llhttp_include_hints)
if(llhttp_ROOT)
  list(APPEND _llhttp_source_hints "${llhttp_ROOT}" "${llhttp_ROOT}/src")
  list(APPEND _llhttp_include_hints "${llhttp_ROOT}/include" "${llhttp_ROOT}/include/llhttp")
endif()

find_path(llhttp_SOURCE_DIR NAMES llhttp.c
  HINTS ${_llhttp_source_hints}
  PATHS /usr/share/llhttp /usr/local/share/llhttp
  NO_DEFAULT_PATH
  DOC "Directory holding llhttp's C sources (api.c, http.c, llhttp.c)")
if(llhttp_SOURCE_DIR)
  # The header next to the sources first, so sources and header come from one release.
  list(APPEND _llhttp_include_hints
    "${llhttp_SOURCE_DIR}/../include/llhttp" "${llhttp_SOURCE_DIR}/../include")
endif()
find_path(llhttp_INCLUDE_DIR NAMES llhttp.h
  HINTS ${_llhttp_include_hints}
  PATHS /usr/share/include/llhttp /usr/local/share/include/llhttp
  NO_DEFAULT_PATH
  DOC "Directory holding llhttp.h")

set(_llhttp_sources)
set(_llhttp_sources_complete FALSE)
if(llhttp_SOURCE_DIR)
  set(_llhttp_sources_complete TRUE)
  foreach(_llhttp_file IN ITEMS api.c http.c llhttp.c)
    if(EXISTS "${llhttp_SOURCE_DIR}/${_llhttp_file}")
      list(APPEND _llhttp_sources "${llhttp_SOURCE_DIR}/${_llhttp_file}")
    else()
      set(_llhttp_sources_complete FALSE)
    endif()
  endforeach()
endif()

if(llhttp_INCLUDE_DIR AND EXISTS "${llhttp_INCLUDE_DIR}/llhttp.h")
  file(STRINGS "${llhttp_INCLUDE_DIR}/llhttp.h" _llhttp_version_lines
    REGEX "^#define LLHTTP_VERSION_(MAJOR|MINOR|PATCH) ")
  foreach(_llhttp_part IN ITEMS MAJOR MINOR PATCH)
    string(REGEX REPLACE ".*#define LLHTTP_VERSION_${_llhttp_part} ([0-9]+).*" "\\1"
      _llhttp_${_llhttp_part} "${_llhttp_version_lines}")
  endforeach()
  set(llhttp_VERSION "${_llhttp_MAJOR}.${_llhttp_MINOR}.${_llhttp_PATCH}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(llhttp
  REQUIRED_VARS llhttp_SOURCE_DIR llhttp_INCLUDE_DIR _llhttp_sources_complete
  VERSION_VAR llhttp_VERSION
  REASON_FAILURE_MESSAGE "install Debian's node-llhttp (C sources in /usr/share/llhttp) or set llhttp_ROOT")

if(llhttp_FOUND AND NOT TARGET llhttp::llhttp)
  get_property(_llhttp_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "C" IN_LIST _llhttp_languages)
    enable_language(C)
  endif()
  add_library(rivetkit_llhttp STATIC ${_llhttp_sources})
  add_library(llhttp::llhttp ALIAS rivetkit_llhttp)
  set_source_files_properties(${_llhttp_sources} PROPERTIES LANGUAGE C)
  set_target_properties(rivetkit_llhttp PROPERTIES
    LINKER_LANGUAGE C
    C_STANDARD 99
    C_STANDARD_REQUIRED ON
    POSITION_INDEPENDENT_CODE ON
    OUTPUT_NAME rivetkit_llhttp
    EXPORT_NAME llhttp
    EXCLUDE_FROM_ALL ON)
  target_include_directories(rivetkit_llhttp PUBLIC $<BUILD_INTERFACE:${llhttp_INCLUDE_DIR}>)
endif()

mark_as_advanced(llhttp_SOURCE_DIR llhttp_INCLUDE_DIR)
unset(_llhttp_source_hints)
unset(_llhttp_include_hints)
unset(_llhttp_sources_complete)
unset(_llhttp_version_lines)
unset(_llhttp_languages)
