# Compiles one source with -fsyntax-only and checks the outcome (run as `cmake -P`).
#   -DCOMPILER=<c++ compiler> -DSOURCE=<file> -DINCLUDES=<dir>|<dir>|...
#   -DEXPECT_SUCCESS=ON                     the source must compile, or
#   -DEXPECT=<text>                         it must fail, and the diagnostics must contain <text>
string(REPLACE "|" ";" include_list "${INCLUDES}")
set(args -std=c++20 -fsyntax-only)
foreach(dir IN LISTS include_list)
  if(NOT dir STREQUAL "")
    list(APPEND args "-I${dir}")
  endif()
endforeach()
execute_process(COMMAND "${COMPILER}" ${args} "${SOURCE}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(EXPECT_SUCCESS)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} must compile, but did not:\n${out}${err}")
  endif()
  return()
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} must not compile, but it did")
endif()
string(FIND "${out}${err}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed to compile, but not with \"${EXPECT}\":\n${out}${err}")
endif()
