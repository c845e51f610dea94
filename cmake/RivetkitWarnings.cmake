# rivetkit_set_warnings(target): the project's warning flags.
function(rivetkit_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(RIVETKIT_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Sanitizer flags, also handed to the consumer-test projects (tests/consumer): a static library
# built with them can only be linked by a program that links the sanitizer runtimes too.
set(RIVETKIT_SANITIZE_COMPILE_FLAGS
  -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
set(RIVETKIT_SANITIZE_LINK_FLAGS -fsanitize=address,undefined)

# Directory-wide, so every target created after this point (library, drivers, tests, examples,
# the in-tree llhttp) is instrumented: include this file before any add_library.
if(RIVETKIT_SANITIZE)
  add_compile_options(${RIVETKIT_SANITIZE_COMPILE_FLAGS})
  add_link_options(${RIVETKIT_SANITIZE_LINK_FLAGS})
endif()
