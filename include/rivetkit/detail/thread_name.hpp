#pragma once
// Names for the threads the library starts, as `top -H`, `ps -L`, gdb and perf show them.

namespace rivetkit::detail {

/// Names the calling thread (Linux keeps 15 characters; a longer name is cut). Best effort:
/// where the platform has no thread names, or refuses, nothing happens.
void name_this_thread(const char* name) noexcept;

}  // namespace rivetkit::detail
