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

// The same calls through a remote client's typed handle and connection.
std::int64_t use_remote() {
    auto client = rivetkit::create_client("http://127.0.0.1:6420");
    auto h = client.get_or_create(counter, "counter", {"k"});
    auto conn = h.connect();
    std::int64_t a = h.call<"increment">(5);
    std::int64_t b = conn.call<"increment">(std::int64_t{2});
    std::string s = conn.call<"rename">(label{"x"});
    return a + b + static_cast<std::int64_t>(s.size());
}

}  // namespace compile_check
