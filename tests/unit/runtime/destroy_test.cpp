// Destroy: c.destroy() and the manager's destroy_actor run on_destroy, delete the actor and its
// data; the same name and key then create a fresh actor under the same (deterministic) id
// (runtime-semantics §4.8, driver-test-suite §3.8).

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/testing.hpp>

#include "runtime_test_support.hpp"

namespace destroy_test {

struct observer_state {
    std::vector<std::string> destroyed;
};
RIVETKIT_FIELDS(observer_state, destroyed)

const auto observer = rivetkit::actor<observer_state>()
                          .action<"notifyDestroyed">([](auto& c, std::string key) {
                              c.state().destroyed.push_back(std::move(key));
                          })
                          .action<"destroyed">([](auto& c) { return std::as_const(c).state().destroyed; });

struct doomed_state {
    std::int64_t value = 0;
};
RIVETKIT_FIELDS(doomed_state, value)

template <class Ctx>
rivetkit::task<void> notify_observer(Ctx& c) {
    std::string key = rivetkit::serialize_key(c.key());
    auto h = c.client().get_or_create("observer", rivetkit::actor_key{"observer"});
    auto call = h.async_call("notifyDestroyed", key);
    co_await std::move(call);
}

rivetkit::actor_options quick_sleep() {
    rivetkit::actor_options o;
    o.sleep_timeout = std::chrono::milliseconds(1000);
    return o;
}

const auto doomed = rivetkit::actor<doomed_state>()
                        .options(quick_sleep())
                        .on_destroy([](auto& c) { return notify_observer(c); })
                        .action<"setValue">([](auto& c, std::int64_t v) { return c.state().value = v; })
                        .action<"getValue">([](auto& c) { return std::as_const(c).state().value; })
                        .action<"scheduleSet">([](auto& c, std::int64_t ms, std::int64_t v) {
                            c.schedule().after(ms, "setValue", v);
                        })
                        .action<"destroy">([](auto& c) { c.destroy(); });

}  // namespace destroy_test

using namespace destroy_test;
using namespace rivetkit_test;

TEST_CASE("destroy: c.destroy() runs on_destroy and removes the actor, it can be created again", "[runtime]") {
    rivetkit::testing::test_registry t({{"doomed", doomed}, {"observer", observer}});
    auto obs = t.client().get_or_create(observer, "observer", {"observer"});
    auto h = t.client().get_or_create(doomed, "doomed", {"d"});
    CHECK(h.call<"setValue">(42) == 42);
    auto id = h.resolve();

    h.call<"destroy">();  // returns normally
    t.settle();
    CHECK(obs.call<"destroyed">() == std::vector<std::string>{"d"});

    require_error([&] { (void)t.client().get(doomed, "doomed", {"d"}).call<"getValue">(); }, "actor", "not_found");
    require_error([&] { (void)t.client().get(doomed, "doomed", {"d"}).resolve(); }, "actor", "not_found");
    require_error([&] { (void)t.client().get_for_id(doomed, "doomed", id).call<"getValue">(); }, "actor", "not_found");

    // A fresh actor, initial state, same id.
    auto again = t.client().get_or_create(doomed, "doomed", {"d"});
    CHECK(again.call<"getValue">() == 0);
    CHECK(again.resolve() == id);
    // The old handle reaches the new actor too (it looks it up by key).
    CHECK(h.call<"getValue">() == 0);
    // on_destroy ran once.
    CHECK(obs.call<"destroyed">().size() == 1);
}

TEST_CASE("destroy: handles that reached the actor before (and their copies) see it gone", "[runtime]") {
    // An in-process handle remembers the instance its last call reached and goes straight to it
    // while it runs; a stopped instance must never be used from there.
    rivetkit::testing::test_registry t({{"doomed", doomed}, {"observer", observer}});
    auto creator = t.client().get_or_create(doomed, "doomed", {"g"});
    CHECK(creator.call<"setValue">(7) == 7);
    auto by_key = t.client().get(doomed, "doomed", {"g"});
    CHECK(by_key.call<"getValue">() == 7);
    auto by_id = t.client().get_for_id(doomed, "doomed", creator.resolve());
    CHECK(by_id.call<"getValue">() == 7);
    auto copy = by_key;

    creator.call<"destroy">();
    t.settle();
    require_error([&] { (void)by_key.call<"getValue">(); }, "actor", "not_found");
    require_error([&] { (void)copy.call<"getValue">(); }, "actor", "not_found");
    require_error([&] { (void)by_id.call<"getValue">(); }, "actor", "not_found");
    // The get-or-create handle makes a fresh one, which the others then reach.
    CHECK(creator.call<"getValue">() == 0);
    CHECK(creator.call<"setValue">(8) == 8);
    CHECK(by_key.call<"getValue">() == 8);
    CHECK(copy.call<"getValue">() == 8);
}

TEST_CASE("destroy: over a connection, and recreation with create()", "[runtime]") {
    rivetkit::testing::test_registry t({{"doomed", doomed}, {"observer", observer}});
    auto obs = t.client().get_or_create(observer, "observer", {"observer"});
    auto h = t.client().create(doomed, "doomed", {"c"});
    auto conn = h.connect();
    CHECK(conn.call<"setValue">(99) == 99);
    conn.call<"destroy">();
    t.settle();
    conn.dispose();
    t.settle();
    CHECK(obs.call<"destroyed">() == std::vector<std::string>{"c"});
    require_error([&] { (void)t.client().get(doomed, "doomed", {"c"}).call<"getValue">(); }, "actor", "not_found");
    // create() does not see a duplicate any more.
    auto fresh = t.client().create(doomed, "doomed", {"c"});
    CHECK(fresh.call<"getValue">() == 0);
}

TEST_CASE("destroy: the manager's destroy_actor wakes a sleeping actor so on_destroy runs", "[runtime]") {
    rivetkit::testing::test_registry t({{"doomed", doomed}, {"observer", observer}});
    auto obs = t.client().get_or_create(observer, "observer", {"observer"});
    auto h = t.client().get_or_create(doomed, "doomed", {"m"});
    h.call<"setValue">(5);
    auto id = h.resolve();
    t.advance(1000ms);
    REQUIRE(t.awake_count() == 0);  // asleep (the observer has not started yet)

    t.core().block_on(t.core().manager().destroy_actor(id));
    CHECK(obs.call<"destroyed">() == std::vector<std::string>{"m"});
    auto gone = t.core().block_on(t.core().manager().get_for_id(id));
    CHECK_FALSE(gone.has_value());
    require_error([&] { (void)t.client().get(doomed, "doomed", {"m"}).call<"getValue">(); }, "actor", "not_found");
    CHECK(t.client().get_or_create(doomed, "doomed", {"m"}).call<"getValue">() == 0);

    // Destroying an actor that does not exist is actor/not_found.
    require_error([&] { t.core().block_on(t.core().manager().destroy_actor("ffffffffffffffff")); }, "actor",
                  "not_found");
}

TEST_CASE("destroy: scheduled events of a destroyed actor never run", "[runtime]") {
    auto store = std::make_shared<test_store>();
    rivetkit::testing::test_registry t({{"doomed", doomed}, {"observer", observer}}, options_on(store));
    auto h = t.client().get_or_create(doomed, "doomed", {"s"});
    auto id = h.resolve();
    h.call<"scheduleSet">(5000, 77);
    CHECK(store->alarm(id).has_value());
    h.call<"destroy">();
    t.settle();
    CHECK_FALSE(store->has_actor(id));
    CHECK_FALSE(store->alarm(id).has_value());
    t.advance(10s);
    // Nothing woke up or re-created the actor.
    CHECK_FALSE(store->has_actor(id));
    auto fresh = t.client().get_or_create(doomed, "doomed", {"s"});
    t.advance(10s);
    CHECK(fresh.call<"getValue">() == 0);
}
