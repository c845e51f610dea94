// Positive control: must compile, so the failures of the other checks are not caused by the
// command line.
#include "compile_check.hpp"

namespace compile_check {

struct note {
    std::string text;
};
RIVETKIT_FIELDS(note, text)

inline const auto noted = rivetkit::actor<counter_state>().action<"take">([](auto&, note n) { return n.text; });

std::int64_t use(counter_handle& h) {
    std::int64_t a = h.call<"increment">(5);
    std::int64_t b = h.call<"increment">(std::int64_t{2});
    std::string s = h.call<"rename">(label{"x"});
    return a + b + h.call<"getCount">() + static_cast<std::int64_t>(s.size());
}

}  // namespace compile_check
