// A typed call with an argument of the wrong type (a string for an integer).
#include "compile_check.hpp"

namespace compile_check {
std::int64_t use(counter_handle& h) { return h.call<"increment">("five"); }
}  // namespace compile_check
