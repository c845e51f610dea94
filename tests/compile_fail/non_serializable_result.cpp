// An action whose result type cannot be converted to rivetkit::value.
#include "compile_check.hpp"

namespace compile_check {

struct opaque_result {
    std::int64_t count = 0;
};

inline const auto broken = rivetkit::actor<counter_state>().action<"give">([](auto&) { return opaque_result{}; });

}  // namespace compile_check
