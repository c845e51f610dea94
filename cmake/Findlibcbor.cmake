# Finds libcbor and defines libcbor::libcbor.
find_path(libcbor_INCLUDE_DIR NAMES cbor.h)
find_library(libcbor_LIBRARY NAMES cbor)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(libcbor REQUIRED_VARS libcbor_LIBRARY libcbor_INCLUDE_DIR)
if(libcbor_FOUND AND NOT TARGET libcbor::libcbor)
  add_library(libcbor::libcbor UNKNOWN IMPORTED)
  set_target_properties(libcbor::libcbor PROPERTIES IMPORTED_LOCATION "${libcbor_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${libcbor_INCLUDE_DIR}")
endif()
mark_as_advanced(libcbor_INCLUDE_DIR libcbor_LIBRARY)
