// A typed call of an action the definition does not have.
#include "compile_check.hpp"

namespace compile_check {
std::int64_t use(counter_handle& h) { return h.call<"incremnet">(5); }
}  // namespace compile_check
