# Configures, builds and runs one consumer project (cmake -P; see tests/consumer/CMakeLists.txt).
#
# CONSUMER_SOURCE_DIR    the consumer project
# CONSUMER_WORK_DIR      scratch directory: <work>/build, and <work>/prefix when installing
# CONSUMER_INSTALL_FROM  optional: a rivetkit build tree to install into <work>/prefix first
# CONSUMER_GENERATOR[_PLATFORM|_TOOLSET], CONSUMER_MAKE_PROGRAM, CONSUMER_{C,CXX}_COMPILER,
# CONSUMER_{C,CXX}_FLAGS[_CONFIG], CONSUMER_LINK_FLAGS, CONSUMER_CONFIG: the parent build's
# toolchain, so the consumer links what the library was compiled for.
# RIVETKIT_REPO_DIR, RIVETKIT_EXPECTED_VERSION: handed to the consumer project when given.
# CONSUMER_TARGET        optional: build only this target (and what it needs) instead of all

cmake_minimum_required(VERSION 3.20)

foreach(var IN ITEMS CONSUMER_SOURCE_DIR CONSUMER_WORK_DIR CONSUMER_GENERATOR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake: ${var} is required")
  endif()
endforeach()

function(run_step what)
  string(JOIN " " shown ${ARGN})
  message(STATUS "consumer: ${what}: ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "consumer: ${what} failed (${result})")
  endif()
endfunction()

set(build_dir "${CONSUMER_WORK_DIR}/build")
set(config_args "")
if(CONSUMER_CONFIG)
  set(config_args --config "${CONSUMER_CONFIG}")
endif()

set(configure_args
  -S "${CONSUMER_SOURCE_DIR}" -B "${build_dir}" -G "${CONSUMER_GENERATOR}"
  "-DCMAKE_C_COMPILER=${CONSUMER_C_COMPILER}"
  "-DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}"
  "-DCMAKE_C_FLAGS=${CONSUMER_C_FLAGS}"
  "-DCMAKE_CXX_FLAGS=${CONSUMER_CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${CONSUMER_LINK_FLAGS}")
foreach(var IN ITEMS RIVETKIT_REPO_DIR RIVETKIT_EXPECTED_VERSION)
  if(DEFINED ${var})
    list(APPEND configure_args "-D${var}=${${var}}")
  endif()
endforeach()
if(CONSUMER_GENERATOR_PLATFORM)
  list(APPEND configure_args -A "${CONSUMER_GENERATOR_PLATFORM}")
endif()
if(CONSUMER_GENERATOR_TOOLSET)
  list(APPEND configure_args -T "${CONSUMER_GENERATOR_TOOLSET}")
endif()
if(CONSUMER_MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${CONSUMER_MAKE_PROGRAM}")
endif()
if(CONSUMER_CONFIG)
  string(TOUPPER "${CONSUMER_CONFIG}" config_upper)
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${CONSUMER_CONFIG}")
  if(DEFINED CONSUMER_CXX_FLAGS_CONFIG)
    list(APPEND configure_args
      "-DCMAKE_C_FLAGS_${config_upper}=${CONSUMER_C_FLAGS_CONFIG}"
      "-DCMAKE_CXX_FLAGS_${config_upper}=${CONSUMER_CXX_FLAGS_CONFIG}")
  endif()
endif()

if(CONSUMER_INSTALL_FROM)
  # A fresh prefix each time, so files removed from the project do not linger there.
  set(prefix "${CONSUMER_WORK_DIR}/prefix")
  file(REMOVE_RECURSE "${prefix}")
  run_step("install" "${CMAKE_COMMAND}" --install "${CONSUMER_INSTALL_FROM}" --prefix "${prefix}" ${config_args})
  list(APPEND configure_args
    "-DCMAKE_PREFIX_PATH=${prefix}"
    "-DRIVETKIT_EXPECTED_PREFIX=${prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
endif()

run_step("configure" "${CMAKE_COMMAND}" ${configure_args})
set(target_args "")
if(CONSUMER_TARGET)
  set(target_args --target "${CONSUMER_TARGET}")
endif()
run_step("build" "${CMAKE_COMMAND}" --build "${build_dir}" ${config_args} ${target_args})
run_step("run" "${build_dir}/bin/rivetkit_consumer")
