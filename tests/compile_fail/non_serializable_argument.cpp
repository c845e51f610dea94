// An action parameter whose type cannot be converted to and from rivetkit::value (a state-like
// struct without RIVETKIT_FIELDS or conversion functions).
#include "compile_check.hpp"

namespace compile_check {

struct opaque_state {
    std::int64_t count = 0;
};

inline const auto broken =
    rivetkit::actor<counter_state>().action<"take">([](auto&, opaque_state s) { return s.count; });

}  // namespace compile_check
