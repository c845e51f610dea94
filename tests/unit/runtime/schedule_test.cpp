// c.schedule(): after/at run the action with its arguments at the right (virtual) time, wake a
// sleeping actor, survive sleep and restarts, and all due events run in timestamp order.

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/testing.hpp>

#include "runtime_test_support.hpp"

namespace schedule_test {

constexpr std::int64_t t0 = 1'700'000'000'000;

struct run {
    std::string tag;
    std::int64_t arg = 0;
    std::int64_t at = 0;
    bool had_conn = true;
};
RIVETKIT_FIELDS(run, tag, arg, at, had_conn)

struct sched_state {
    std::vector<run> runs;
    std::int64_t wakes = 0;
};
RIVETKIT_FIELDS(sched_state, runs, wakes)

rivetkit::actor_options quick_sleep() {
    rivetkit::actor_options o;
    o.sleep_timeout = std::chrono::milliseconds(1000);
    return o;
}

template <class Def>
auto with_schedule_actions(const Def& def) {
    return def.on_wake([](auto& c) { ++c.state().wakes; })
        .template action<"after">([](auto& c, std::int64_t ms, std::string tag, std::int64_t arg) {
            c.schedule().after(ms, "record", tag, arg);
        })
        .template action<"at">([](auto& c, std::int64_t ts, std::string tag, std::int64_t arg) {
            c.schedule().at(ts, "record", tag, arg);
        })
        .template action<"atCoroutine">([](auto& c, std::int64_t ts, std::string tag) {
            c.schedule().at(ts, "recordLater", tag);
        })
        .template action<"record">([](auto& c, std::string tag, std::int64_t arg) {
            c.state().runs.push_back(run{std::move(tag), arg, c.now_ms(), c.has_conn()});
        })
        .template action<"recordLater">([](auto& c, std::string tag) -> rivetkit::task<void> {
            co_await c.sleep_for(std::chrono::milliseconds(5));
            c.state().runs.push_back(run{tag, -1, c.now_ms(), c.has_conn()});
        })
        .template action<"scheduleMissing">([](auto& c, std::int64_t ms) {
            c.schedule().after(ms, "noSuchAction");
            c.schedule().after(ms, "record", std::string("after-missing"), std::int64_t{0});
        })
        .template action<"runs">([](auto& c) { return std::as_const(c).state().runs; })
        .template action<"wakes">([](auto& c) { return std::as_const(c).state().wakes; })
        .template action<"sleep">([](auto& c) { c.sleep(); });
}

const auto scheduled = with_schedule_actions(rivetkit::actor<sched_state>());
const auto sleepy = with_schedule_actions(rivetkit::actor<sched_state>().options(quick_sleep()));

std::vector<std::string> tags(const std::vector<run>& runs) {
    std::vector<std::string> out;
    for (const auto& r : runs) out.push_back(r.tag);
    return out;
}

}  // namespace schedule_test

using namespace schedule_test;
using namespace rivetkit_test;

TEST_CASE("schedule: after(ms) runs the action with its arguments at now + ms", "[runtime]") {
    rivetkit::testing::test_registry t({{"sched", scheduled}});
    auto h = t.client().get_or_create(scheduled, "sched", {"a"});
    h.call<"after">(5000, "a", 7);
    t.advance(4999ms);
    CHECK(h.call<"runs">().empty());
    t.advance(1ms);
    auto runs = h.call<"runs">();
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].tag == "a");
    CHECK(runs[0].arg == 7);
    CHECK(runs[0].at == t0 + 5000);
    CHECK_FALSE(runs[0].had_conn);  // scheduled calls have no connection
    // It ran once.
    t.advance(60s);
    CHECK(h.call<"runs">().size() == 1);
}

TEST_CASE("schedule: at(ts) runs the action at ts", "[runtime]") {
    rivetkit::testing::test_registry t({{"sched", scheduled}});
    auto h = t.client().get_or_create(scheduled, "sched", {"a"});
    h.call<"at">(t0 + 2000, "b", 8);
    t.advance(1999ms);
    CHECK(h.call<"runs">().empty());
    t.advance(1ms);
    auto runs = h.call<"runs">();
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].tag == "b");
    CHECK(runs[0].arg == 8);
    CHECK(runs[0].at == t0 + 2000);
}

TEST_CASE("schedule: events run in timestamp order, ties in scheduling order", "[runtime]") {
    rivetkit::testing::test_registry t({{"sched", scheduled}});
    auto h = t.client().get_or_create(scheduled, "sched", {"a"});
    h.call<"at">(t0 + 3000, "third", 3);
    h.call<"at">(t0 + 1000, "first", 1);
    h.call<"at">(t0 + 2000, "second-a", 2);
    h.call<"at">(t0 + 2000, "second-b", 2);
    t.advance(1000ms);
    CHECK(tags(h.call<"runs">()) == std::vector<std::string>{"first"});
    t.advance(1000ms);
    CHECK(tags(h.call<"runs">()) == std::vector<std::string>{"first", "second-a", "second-b"});
    t.advance(1000ms);
    auto runs = h.call<"runs">();
    CHECK(tags(runs) == std::vector<std::string>{"first", "second-a", "second-b", "third"});
    REQUIRE(runs.size() == 4);
    CHECK(runs[0].at == t0 + 1000);
    CHECK(runs[1].at == t0 + 2000);
    CHECK(runs[2].at == t0 + 2000);
    CHECK(runs[3].at == t0 + 3000);
}

TEST_CASE("schedule: an alarm wakes a sleeping actor, and events survive sleep", "[runtime]") {
    rivetkit::testing::test_registry t({{"sched", sleepy}});
    auto h = t.client().get_or_create(sleepy, "sched", {"a"});
    h.call<"after">(10'000, "wake-me", 1);
    h.call<"after">(20'000, "again", 2);

    t.advance(1000ms);  // idle: asleep, the events pending
    REQUIRE(t.awake_count() == 0);

    t.advance(9000ms);  // the first alarm wakes it and the event runs
    CHECK(t.awake_count() == 1);
    t.advance(1000ms);  // idle again
    CHECK(t.awake_count() == 0);
    t.advance(9000ms);
    CHECK(t.awake_count() == 1);

    auto runs = h.call<"runs">();
    REQUIRE(runs.size() == 2);
    CHECK(runs[0].tag == "wake-me");
    CHECK(runs[0].at == t0 + 10'000);
    CHECK(runs[1].tag == "again");
    CHECK(runs[1].arg == 2);
    CHECK(runs[1].at == t0 + 20'000);
    CHECK(h.call<"wakes">() == 3);
}

TEST_CASE("schedule: events survive an explicit sleep", "[runtime]") {
    rivetkit::testing::test_registry t({{"sched", scheduled}});
    auto h = t.client().get_or_create(scheduled, "sched", {"a"});
    h.call<"after">(60'000, "later", 5);
    h.call<"sleep">();
    t.settle();
    REQUIRE(t.awake_count() == 0);
    t.advance(60s);
    CHECK(t.awake_count() == 1);
    auto runs = h.call<"runs">();
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].at == t0 + 60'000);
}

TEST_CASE("schedule: coroutine actions can be scheduled", "[runtime]") {
    rivetkit::testing::test_registry t({{"sched", scheduled}});
    auto h = t.client().get_or_create(scheduled, "sched", {"a"});
    h.call<"atCoroutine">(t0 + 100, "co");
    t.advance(100ms);
    CHECK(h.call<"runs">().empty());  // still waiting on its own sleep_for
    t.advance(5ms);
    auto runs = h.call<"runs">();
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].tag == "co");
    CHECK(runs[0].at == t0 + 105);
}

TEST_CASE("schedule: a scheduled action that does not exist is dropped, the rest still run", "[runtime]") {
    rivetkit::testing::test_registry t({{"sched", scheduled}});
    auto h = t.client().get_or_create(scheduled, "sched", {"a"});
    h.call<"scheduleMissing">(100);
    t.advance(100ms);
    CHECK(tags(h.call<"runs">()) == std::vector<std::string>{"after-missing"});
}

TEST_CASE("schedule: every due event runs in timestamp order on one wake after a restart", "[runtime]") {
    auto store = std::make_shared<test_store>();
    std::string id;
    {
        rivetkit::testing::test_registry t({{"sched", scheduled}}, options_on(store));
        auto h = t.client().get_or_create(scheduled, "sched", {"a"});
        id = h.resolve();
        h.call<"at">(t0 + 3000, "c", 3);
        h.call<"at">(t0 + 1000, "a", 1);
        h.call<"at">(t0 + 2000, "b", 2);
        // The store remembers the earliest alarm for a restart.
        CHECK(store->alarm(id) == t0 + 1000);
    }  // shut down (as for sleep) before anything was due

    SECTION("a request wakes it") {
        rivetkit::testing::test_registry t({{"sched", scheduled}},
                                           options_on(store, rivetkit::durability::durable, t0 + 10'000));
        auto runs = t.client().get_or_create(scheduled, "sched", {"a"}).call<"runs">();
        REQUIRE(runs.size() == 3);
        CHECK(tags(runs) == std::vector<std::string>{"a", "b", "c"});
        for (const auto& r : runs) CHECK(r.at == t0 + 10'000);
        CHECK(runs[1].arg == 2);
    }
    SECTION("the alarm the registry restores at start wakes it") {
        rivetkit::testing::test_registry t({{"sched", scheduled}},
                                           options_on(store, rivetkit::durability::durable, t0 + 10'000));
        REQUIRE(t.awake_count() == 0);
        t.settle();      // the registry's start re-arms the stored alarm ...
        t.advance(0ms);  // ... which is already due
        CHECK(t.awake_count() == 1);
        auto runs = t.client().get_or_create(scheduled, "sched", {"a"}).call<"runs">();
        CHECK(tags(runs) == std::vector<std::string>{"a", "b", "c"});
        CHECK(store->alarm(id) == std::nullopt);
    }
}

TEST_CASE("schedule: what a scheduled action changes is committed when it ran", "[runtime]") {
    auto store = std::make_shared<test_store>();
    rivetkit::testing::test_registry t({{"sched", scheduled}}, options_on(store));
    auto h = t.client().get_or_create(scheduled, "sched", {"a"});
    auto id = h.resolve();
    h.call<"after">(1000, "a", 1);
    CHECK(store->committed_state(id)["runs"].size() == 0);
    t.advance(1000ms);
    // No request came in since: the alarm's own commit wrote it.
    CHECK(store->committed_state(id)["runs"].size() == 1);
    CHECK(store->committed_state(id)["runs"].at(0)["tag"] == rivetkit::value("a"));
    // And the alarm is cleared once nothing is left.
    CHECK_FALSE(store->alarm(id).has_value());
}
