#include <catch2/catch.hpp>

#include <rivetkit/actor.hpp>
#include <rivetkit/testing.hpp>

namespace smoke {
struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

inline const auto counter = rivetkit::actor<counter_state>()
    .action<"increment">([](auto& c, std::int64_t by) {
        c.state().count += by;
        c.broadcast("newCount", c.state().count);
        return c.state().count;
    })
    .action<"getCount">([](auto& c) { return std::as_const(c).state().count; });
}  // namespace smoke

TEST_CASE("smoke: increment through the typed in-process client", "[runtime][smoke]") {
    rivetkit::testing::test_registry t({{"counter", smoke::counter}});
    auto h = t.client().get_or_create(smoke::counter, "counter", {"a"});
    CHECK(h.call<"increment">(5) == 5);
    CHECK(h.call<"increment">(2) == 7);
    CHECK(h.call<"getCount">() == 7);
    auto other = t.client().get_or_create(smoke::counter, "counter", {"b"});
    CHECK(other.call<"getCount">() == 0);
}
