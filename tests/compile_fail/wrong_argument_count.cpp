// A typed call with too many arguments.
#include "compile_check.hpp"

namespace compile_check {
std::int64_t use(counter_handle& h) { return h.call<"increment">(1, 2); }
}  // namespace compile_check
