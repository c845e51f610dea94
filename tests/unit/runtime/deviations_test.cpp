// The deliberate deviations from RivetKit 2.0.33 listed in docs/deviations.md that no other test
// file covers directly.

#include <catch2/catch.hpp>

#include "runtime_test_support.hpp"

using namespace rivetkit_test;

namespace deviations_test {

struct st {
    std::int64_t wakes = 0;
    std::int64_t created_marker = 0;
    std::int64_t ran = 0;
    std::string greeting;
};
RIVETKIT_FIELDS(st, wakes, created_marker, ran, greeting)

inline const auto lazy_sleeper = rivetkit::actor<st>()
    .on_wake([](auto& c) { c.state().wakes += 1; })
    // on_sleep suspends for a while: requests arriving meanwhile must wait, then wake the actor.
    .on_sleep([](auto& c) -> rivetkit::task<void> { co_await c.sleep_for(std::chrono::milliseconds(500)); })
    .action<"nap">([](auto& c) { c.sleep(); })
    .action<"wakes">([](auto& c) { return std::as_const(c).state().wakes; });

inline const auto greeter = rivetkit::actor<st>()
    .on_connect([](auto&, auto conn) { conn.send("greeting", std::string("hello ") + conn.id()); })
    .action<"noop">([](auto&) {});

inline const auto eager = rivetkit::actor<st>()
    .on_create([](auto& c) {
        c.state().created_marker = 42;
        c.schedule().after(1000, "tick");
    })
    .on_wake([](auto& c) { c.state().wakes += 1; })
    .action<"tick">([](auto& c) { c.state().ran += 1; })
    .action<"get">([](auto& c) { return std::as_const(c).state(); });

}  // namespace deviations_test

TEST_CASE("deviation: an unknown actor id is actor/not_found", "[runtime][deviation]") {
    rivetkit::testing::test_registry t({{"greeter", deviations_test::greeter}});
    require_error([&] { (void)t.client().get_for_id("greeter", "0123456789abcdef").call("noop"); }, "actor", "not_found");
}

TEST_CASE("deviation: conn.send() works inside on_connect", "[runtime][deviation]") {
    rivetkit::testing::test_registry t({{"greeter", deviations_test::greeter}});
    auto conn = t.client().get_or_create("greeter", {"a"}).connect();
    std::vector<std::string> got;
    conn.on("greeting", [&](const rivetkit::array& args) { got.push_back(args.at(0).as_string()); });
    conn.wait_connected();
    t.settle();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == "hello " + conn.connection_id());
    CHECK(conn.status() == rivetkit::connection_status::connected);  // not disconnected by a throw
}

TEST_CASE("deviation: a request to an actor that is going to sleep waits and wakes it", "[runtime][deviation]") {
    rivetkit::testing::test_registry t({{"s", deviations_test::lazy_sleeper}});
    auto h = t.client().get_or_create(deviations_test::lazy_sleeper, "s", {"a"});
    REQUIRE(h.call<"wakes">() == 1);
    h.call<"nap">();
    t.settle();  // the sleep has begun: on_sleep is waiting on its timer
    REQUIRE(t.awake_count() == 0);  // stopping instances do not count as awake
    auto call = start(t, h.async_call<"wakes">());
    t.settle();
    CHECK_FALSE(call.done());  // held while the old instance stops
    t.advance(std::chrono::milliseconds(500));
    REQUIRE(call.done());
    CHECK(call.get() == 2);  // a new instance answered
}

TEST_CASE("deviation: on_create may schedule, and start persists what create and wake changed", "[runtime][deviation]") {
    auto store = std::make_shared<test_store>();
    rivetkit::testing::test_registry t({{"e", deviations_test::eager}}, options_on(store));
    auto h = t.client().get_or_create(deviations_test::eager, "e", {"a"});
    auto id = h.resolve();
    // Starts the actor without running an action (the raw request itself fails: no handler).
    CHECK_THROWS_AS(h.fetch({}), rivetkit::error);
    t.settle();
    auto committed = store->committed_state(id);
    CHECK(committed["created_marker"].as_int() == 42);
    CHECK(committed["wakes"].as_int() == 1);
    t.advance(std::chrono::milliseconds(1000));
    CHECK(h.call<"get">().ran == 1);
}
