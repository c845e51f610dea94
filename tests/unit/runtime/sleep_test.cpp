// Sleep: the idle timer, what keeps an actor awake, no_sleep, explicit sleep, and the
// background work a stop waits for (runtime-semantics §7.3, §7.4, §7.11).

#include <catch2/catch.hpp>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/testing.hpp>

#include "rivetkit/detail/registry_core.hpp"
#include "rivetkit/detail/sleep_queue.hpp"
#include "runtime_test_support.hpp"

namespace sleep_test {

struct nap_state {
    std::int64_t wakes = 0;
    std::int64_t sleeps = 0;
    std::int64_t background_done = 0;
    std::int64_t wait_until_done = 0;
};
RIVETKIT_FIELDS(nap_state, wakes, sleeps, background_done, wait_until_done)

template <class Types>
rivetkit::task<void> background_work(rivetkit::actor_context<Types> c, std::int64_t ms) {
    co_await c.sleep_for(std::chrono::milliseconds(ms));
    ++c.state().background_done;
}

template <class Types>
rivetkit::task<void> wait_until_work(rivetkit::actor_context<Types> c, std::int64_t ms) {
    co_await c.sleep_for(std::chrono::milliseconds(ms));
    ++c.state().wait_until_done;
}

rivetkit::actor_options nap_options(bool no_sleep = false) {
    rivetkit::actor_options o;
    o.sleep_timeout = std::chrono::milliseconds(1000);
    o.wait_until_timeout = std::chrono::milliseconds(10'000);
    o.no_sleep = no_sleep;
    return o;
}

template <class Def>
auto with_nap_actions(const Def& def) {
    return def.on_wake([](auto& c) { ++c.state().wakes; })
        .on_sleep([](auto& c) { ++c.state().sleeps; })
        .template action<"counts">([](auto& c) { return std::as_const(c).state(); })
        .template action<"sleep">([](auto& c) { c.sleep(); })
        .template action<"destroy">([](auto& c) { c.destroy(); })
        .template action<"background">([](auto& c, std::int64_t ms) { c.run_in_background(background_work(c, ms)); })
        .template action<"waitUntil">([](auto& c, std::int64_t ms) { c.wait_until(wait_until_work(c, ms)); })
        .template action<"long">([](auto& c, std::int64_t ms) -> rivetkit::task<std::int64_t> {
            co_await c.sleep_for(std::chrono::milliseconds(ms));
            co_return ms;
        });
}

const auto napper = with_nap_actions(rivetkit::actor<nap_state>().options(nap_options()));
const auto insomniac = with_nap_actions(rivetkit::actor<nap_state>().options(nap_options(true)));

}  // namespace sleep_test

using namespace sleep_test;
using namespace rivetkit_test;

TEST_CASE("sleep: an idle actor sleeps after sleep_timeout and wakes on the next call", "[runtime]") {
    rivetkit::testing::test_registry t({{"napper", napper}});
    auto h = t.client().get_or_create(napper, "napper", {"a"});
    CHECK(h.call<"counts">().wakes == 1);
    t.advance(999ms);
    CHECK(t.awake_count() == 1);
    t.advance(1ms);
    REQUIRE(t.awake_count() == 0);
    auto s = h.call<"counts">();
    CHECK(s.sleeps == 1);
    CHECK(s.wakes == 2);
}

TEST_CASE("sleep: an open connection keeps the actor awake", "[runtime]") {
    rivetkit::testing::test_registry t({{"napper", napper}});
    auto conn = t.client().get_or_create(napper, "napper", {"a"}).connect();
    conn.wait_connected();
    t.advance(60s);
    CHECK(t.awake_count() == 1);
    CHECK(conn.call<"counts">().sleeps == 0);

    conn.dispose();
    t.settle();
    CHECK(t.awake_count() == 1);
    t.advance(999ms);
    CHECK(t.awake_count() == 1);
    t.advance(1ms);
    CHECK(t.awake_count() == 0);
    auto s = t.client().get_or_create(napper, "napper", {"a"}).call<"counts">();
    CHECK(s.sleeps == 1);
    CHECK(s.wakes == 2);
}

TEST_CASE("sleep: an action in flight keeps the actor awake", "[runtime]") {
    rivetkit::testing::test_registry t({{"napper", napper}});
    auto h = t.client().get_or_create(napper, "napper", {"a"});
    auto f = start(t, h.async_call<"long">(5000));
    t.settle();
    t.advance(4999ms);
    CHECK(t.awake_count() == 1);
    CHECK_FALSE(f.done());
    t.advance(1ms);
    REQUIRE(f.done());
    CHECK(f.get() == 5000);
    t.advance(999ms);
    CHECK(t.awake_count() == 1);
    t.advance(1ms);
    CHECK(t.awake_count() == 0);
}

TEST_CASE("sleep: no_sleep disables the idle sleep, c.sleep() still works", "[runtime]") {
    rivetkit::testing::test_registry t({{"insomniac", insomniac}});
    auto h = t.client().get_or_create(insomniac, "insomniac", {"a"});
    h.call<"counts">();
    t.advance(3600s);
    CHECK(t.awake_count() == 1);
    CHECK(h.call<"counts">().sleeps == 0);

    h.call<"sleep">();
    t.settle();
    CHECK(t.awake_count() == 0);
    auto s = h.call<"counts">();
    CHECK(s.sleeps == 1);
    CHECK(s.wakes == 2);
}

TEST_CASE("sleep: c.sleep() puts the actor to sleep once the action returned", "[runtime]") {
    rivetkit::testing::test_registry t({{"napper", napper}});
    auto h = t.client().get_or_create(napper, "napper", {"a"});
    h.call<"sleep">();  // returns normally
    t.settle();
    CHECK(t.awake_count() == 0);
    CHECK(h.call<"counts">().sleeps == 1);
}

TEST_CASE("sleep: run_in_background keeps the actor awake until the work finishes", "[runtime]") {
    rivetkit::testing::test_registry t({{"napper", napper}});
    auto h = t.client().get_or_create(napper, "napper", {"a"});
    h.call<"background">(60'000);
    t.advance(59'999ms);
    CHECK(t.awake_count() == 1);
    t.advance(1ms);  // the work finishes; the idle timer starts now
    CHECK(t.awake_count() == 1);
    t.advance(999ms);
    CHECK(t.awake_count() == 1);
    t.advance(1ms);
    CHECK(t.awake_count() == 0);
    auto s = h.call<"counts">();
    CHECK(s.background_done == 1);
    CHECK(s.sleeps == 1);
}

TEST_CASE("sleep: wait_until does not keep the actor awake, but its stop waits for the work", "[runtime]") {
    rivetkit::testing::test_registry t({{"napper", napper}});
    auto h = t.client().get_or_create(napper, "napper", {"a"});
    h.call<"waitUntil">(5000);
    t.advance(1000ms);  // idle: the stop begins, and waits
    CHECK(t.awake_count() == 0);
    t.advance(4000ms);  // the work finishes; the stop saves what it did
    auto s = h.call<"counts">();
    CHECK(s.wait_until_done == 1);
    CHECK(s.sleeps == 1);
    CHECK(s.wakes == 2);
}

TEST_CASE("sleep: a stop waits for wait_until work at most wait_until_timeout", "[runtime]") {
    rivetkit::testing::test_registry t({{"napper", napper}});
    auto h = t.client().get_or_create(napper, "napper", {"a"});
    h.call<"waitUntil">(60'000);
    t.advance(1000ms);  // the stop begins
    REQUIRE(t.awake_count() == 0);
    t.advance(10'000ms);  // wait_until_timeout: the stop completes without the work
    auto s = h.call<"counts">();  // a new instance (would not be reachable while still stopping)
    CHECK(s.wait_until_done == 0);
    CHECK(s.sleeps == 1);
    CHECK(s.wakes == 2);
    t.advance(60s);  // the abandoned work ends; it cannot touch the new instance's state
    CHECK(h.call<"counts">().wait_until_done == 0);
}

TEST_CASE("sleep: idle actors share one timer and each sleeps at its own deadline", "[runtime]") {
    rivetkit::testing::test_registry t({{"napper", napper}});
    auto a = t.client().get_or_create(napper, "napper", {"a"});
    auto b = t.client().get_or_create(napper, "napper", {"b"});
    auto c = t.client().get_or_create(napper, "napper", {"c"});
    CHECK(a.call<"counts">().wakes == 1);
    CHECK(b.call<"counts">().wakes == 1);
    CHECK(c.call<"counts">().wakes == 1);
    CHECK(t.core().sleeps().size() == 3);
    CHECK(t.clock().pending() == 1);  // one timer for the three idle checks
    t.advance(400ms);
    (void)b.call<"counts">();  // b's deadline moves to 1400 ms
    t.advance(300ms);
    (void)c.call<"counts">();  // c's to 1700 ms
    t.advance(299ms);
    CHECK(t.awake_count() == 3);
    t.advance(1ms);  // 1000 ms: a
    CHECK(t.awake_count() == 2);
    t.advance(399ms);
    CHECK(t.awake_count() == 2);
    t.advance(1ms);  // 1400 ms: b
    CHECK(t.awake_count() == 1);
    t.advance(299ms);
    CHECK(t.awake_count() == 1);
    t.advance(1ms);  // 1700 ms: c
    CHECK(t.awake_count() == 0);
    CHECK(t.core().sleeps().size() == 0);
    CHECK(t.clock().pending() == 0);
    CHECK(a.call<"counts">().sleeps == 1);
    CHECK(b.call<"counts">().sleeps == 1);
    CHECK(c.call<"counts">().sleeps == 1);
}

TEST_CASE("sleep: an actor that sleeps or is destroyed early leaves the shared queue", "[runtime]") {
    rivetkit::testing::test_registry t({{"napper", napper}});
    auto a = t.client().get_or_create(napper, "napper", {"a"});
    auto b = t.client().get_or_create(napper, "napper", {"b"});
    (void)a.call<"counts">();
    t.advance(500ms);
    (void)b.call<"counts">();  // b's deadline: 1500 ms
    CHECK(t.core().sleeps().size() == 2);
    a.call<"sleep">();  // a leaves before its deadline (the queue's earliest entry)
    t.advance(1ms);
    CHECK(t.awake_count() == 1);
    CHECK(t.core().sleeps().size() == 1);
    CHECK(t.clock().pending() == 1);  // retimed to b's deadline
    t.advance(998ms);
    CHECK(t.awake_count() == 1);
    t.advance(1ms);  // 1500 ms
    CHECK(t.awake_count() == 0);
    CHECK(t.core().sleeps().size() == 0);
    CHECK(a.call<"counts">().sleeps == 1);  // wakes a again
    CHECK(t.core().sleeps().size() == 1);
    a.call<"destroy">();
    t.advance(1ms);
    CHECK(t.awake_count() == 0);
    CHECK(t.core().sleeps().size() == 0);
    CHECK(t.clock().pending() == 0);
}
