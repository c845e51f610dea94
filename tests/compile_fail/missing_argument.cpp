// A typed call with too few arguments.
#include "compile_check.hpp"

namespace compile_check {
std::int64_t use(counter_handle& h) { return h.call<"increment">(); }
}  // namespace compile_check
