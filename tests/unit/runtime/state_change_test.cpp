// on_state_change: once per change, never for reads, not while starting, and changes made by
// the hook itself are persisted but not reported again (runtime-semantics §7.8; the
// actor-onstatechange conformance tests, driver-test-suite §3.14).

#include <catch2/catch.hpp>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/testing.hpp>

#include "runtime_test_support.hpp"

namespace state_change_test {

struct watched_state {
    std::int64_t value = 0;
    std::int64_t change_count = 0;
    std::int64_t wakes = 0;
    std::int64_t last_seen = -1;  // the value the hook was last shown
};
RIVETKIT_FIELDS(watched_state, value, change_count, wakes, last_seen)

const auto watched =
    rivetkit::actor<watched_state>()
        .on_create([](auto& c) { c.state().value = 100; })
        .on_wake([](auto& c) { ++c.state().wakes; })
        .on_state_change([](auto& c, const watched_state& s) {
            ++c.state().change_count;
            c.state().last_seen = s.value;
        })
        .action<"setValue">([](auto& c, std::int64_t v) { return c.state().value = v; })
        .action<"incrementMultiple">([](auto& c, std::int64_t n) {
            for (std::int64_t i = 0; i < n; ++i) ++c.state().value;
            return std::as_const(c).state().value;
        })
        .action<"incrementOnce">([](auto& c, std::int64_t n) {
            auto& s = c.state();  // one mutable access: one change
            for (std::int64_t i = 0; i < n; ++i) ++s.value;
            return s.value;
        })
        .action<"getValue">([](auto& c) { return std::as_const(c).state().value; })
        // A read through the mutable accessor: no change, no notification.
        .action<"getValueMutably">([](auto& c) { return c.state().value; })
        .action<"getDoubled">([](auto& c) { return c.state().value * 2; })
        .action<"rewriteSame">([](auto& c) { c.state().value = c.state().value; })
        .action<"getChangeCount">([](auto& c) { return std::as_const(c).state().change_count; })
        .action<"getLastSeen">([](auto& c) { return std::as_const(c).state().last_seen; })
        .action<"getWakes">([](auto& c) { return std::as_const(c).state().wakes; })
        .action<"resetChangeCount">([](auto& c) { c.state().change_count = 0; })
        .action<"sleep">([](auto& c) { c.sleep(); });

}  // namespace state_change_test

using namespace state_change_test;
using namespace rivetkit_test;

TEST_CASE("on_state_change: fires once for a change", "[runtime]") {
    rivetkit::testing::test_registry t({{"watched", watched}});
    auto h = t.client().get_or_create(watched, "watched", {"a"});
    CHECK(h.call<"setValue">(10) == 10);
    CHECK(h.call<"getChangeCount">() == 1);
    // The hook sees the new state.
    CHECK(h.call<"getLastSeen">() == 10);
}

TEST_CASE("on_state_change: three changes in a loop notify three times", "[runtime]") {
    rivetkit::testing::test_registry t({{"watched", watched}});
    auto h = t.client().get_or_create(watched, "watched", {"a"});
    CHECK(h.call<"incrementMultiple">(3) == 103);
    CHECK(h.call<"getChangeCount">() == 3);
    CHECK(h.call<"getLastSeen">() == 103);
    // Through one reference the three increments are one change.
    CHECK(h.call<"incrementOnce">(3) == 106);
    CHECK(h.call<"getChangeCount">() == 4);
}

TEST_CASE("on_state_change: never for reads", "[runtime]") {
    rivetkit::testing::test_registry t({{"watched", watched}});
    auto h = t.client().get_or_create(watched, "watched", {"a"});
    h.call<"setValue">(5);
    CHECK(h.call<"getValue">() == 5);
    CHECK(h.call<"getValueMutably">() == 5);
    CHECK(h.call<"getDoubled">() == 10);
    CHECK(h.call<"getChangeCount">() == 1);
    // Assigning the value it already has is no change either.
    h.call<"rewriteSame">();
    CHECK(h.call<"getChangeCount">() == 1);
}

TEST_CASE("on_state_change: not during create or wake, nor for connections", "[runtime]") {
    rivetkit::testing::test_registry t({{"watched", watched}});
    auto h = t.client().get_or_create(watched, "watched", {"a"});
    // on_create set value = 100 and on_wake counted a wake: no notifications.
    CHECK(h.call<"getValue">() == 100);
    CHECK(h.call<"getWakes">() == 1);
    CHECK(h.call<"getChangeCount">() == 0);

    auto conn = h.connect();
    CHECK(conn.call<"getValue">() == 100);
    conn.dispose();
    t.settle();
    CHECK(h.call<"getChangeCount">() == 0);

    h.call<"sleep">();
    t.settle();
    REQUIRE(t.awake_count() == 0);
    CHECK(h.call<"getWakes">() == 2);  // the wake's change is persisted, not reported
    CHECK(h.call<"getChangeCount">() == 0);
}

TEST_CASE("on_state_change: the hook's own changes are persisted, not re-notified", "[runtime]") {
    auto store = std::make_shared<test_store>();
    rivetkit::testing::test_registry t({{"watched", watched}}, options_on(store));
    auto h = t.client().get_or_create(watched, "watched", {"a"});
    auto id = h.resolve();
    h.call<"setValue">(7);
    // Committed together with the change that triggered it (durable mode: before the reply).
    CHECK(store->committed_state(id)["change_count"] == rivetkit::value(1));
    CHECK(store->committed_state(id)["value"] == rivetkit::value(7));
    CHECK(h.call<"getChangeCount">() == 1);

    h.call<"sleep">();
    t.settle();
    REQUIRE(t.awake_count() == 0);
    CHECK(h.call<"getChangeCount">() == 1);

    // Reference quirk kept: resetting the counter is itself a change, so it ends at 1.
    h.call<"resetChangeCount">();
    CHECK(h.call<"getChangeCount">() == 1);
}
