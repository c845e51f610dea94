// Hook order on create, wake, sleep and destroy (runtime-semantics §7.1, §7.2).
// The order is recorded in the actor's own state, so it also shows that what the hooks write is
// persisted across sleep; destroy deletes the state, so on_destroy reports its log to an
// observer actor (through c.client(), which must work inside on_destroy).

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/testing.hpp>

#include "runtime_test_support.hpp"

namespace lifecycle_test {

using strings = std::vector<std::string>;

struct life_state {
    strings log;
};
RIVETKIT_FIELDS(life_state, log)

struct life_vars {
    std::int64_t hits = 0;
};

struct observer_state {
    std::vector<strings> reports;
};
RIVETKIT_FIELDS(observer_state, reports)

const auto observer = rivetkit::actor<observer_state>()
                          .action<"report">([](auto& c, strings log) { c.state().reports.push_back(std::move(log)); })
                          .action<"reports">([](auto& c) { return std::as_const(c).state().reports; });

/// Connection hooks only log connections that ask for it, so one-off calls stay out of the log.
bool tracked(const rivetkit::value& params) { return params["track"].is_bool() && params["track"].as_bool(); }

template <class Ctx>
rivetkit::task<void> report_destroy(Ctx& c) {
    c.state().log.push_back("on_destroy");
    strings log = std::as_const(c).state().log;
    auto h = c.client().get_or_create("observer", rivetkit::actor_key{"obs"});
    auto call = h.async_call("report", log);
    co_await std::move(call);
}

const auto lifecycle =
    rivetkit::actor<life_state, void, rivetkit::value, life_vars>()
        .create_state([](auto&, const rivetkit::value&) {
            life_state s;
            s.log.push_back("create_state");
            return s;
        })
        .on_create([](auto& c, const rivetkit::value&) { c.state().log.push_back("on_create"); })
        .create_vars([](auto& c, const rivetkit::value&) {
            c.state().log.push_back("create_vars");
            return life_vars{};
        })
        .on_wake([](auto& c) { c.state().log.push_back("on_wake"); })
        .on_sleep([](auto& c) { c.state().log.push_back("on_sleep"); })
        .on_destroy([](auto& c) { return report_destroy(c); })
        .on_before_connect([](auto& c, const rivetkit::value& p) {
            if (tracked(p)) c.state().log.push_back("on_before_connect");
        })
        .on_connect([](auto& c, const auto& conn) {
            if (tracked(conn.params())) c.state().log.push_back("on_connect");
        })
        .on_disconnect([](auto& c, const auto& conn) {
            if (tracked(conn.params())) c.state().log.push_back("on_disconnect");
        })
        .action<"log">([](auto& c) { return std::as_const(c).state().log; })
        .action<"hit">([](auto& c) { return ++c.vars().hits; })
        .action<"sleep">([](auto& c) { c.sleep(); })
        .action<"destroy">([](auto& c) { c.destroy(); });

rivetkit::value track() { return rivetkit::object{{"track", true}}; }

}  // namespace lifecycle_test

using namespace lifecycle_test;
using namespace rivetkit_test;

TEST_CASE("lifecycle: create runs create_state, on_create, create_vars, on_wake", "[runtime]") {
    rivetkit::testing::test_registry t({{"life", lifecycle}, {"observer", observer}});
    auto h = t.client().get_or_create(lifecycle, "life", {"a"});
    CHECK(h.call<"log">() == strings{"create_state", "on_create", "create_vars", "on_wake"});
    // Later calls start nothing again.
    CHECK(h.call<"log">() == strings{"create_state", "on_create", "create_vars", "on_wake"});
}

TEST_CASE("lifecycle: a wake after sleep runs create_vars and on_wake only", "[runtime]") {
    rivetkit::testing::test_registry t({{"life", lifecycle}, {"observer", observer}});
    auto h = t.client().get_or_create(lifecycle, "life", {"a"});
    REQUIRE(h.call<"log">().size() == 4);

    SECTION("explicit sleep") {
        h.call<"sleep">();
        t.settle();
    }
    SECTION("idle sleep") {
        t.advance(30s);
    }
    REQUIRE(t.awake_count() == 0);
    CHECK(h.call<"log">() ==
          strings{"create_state", "on_create", "create_vars", "on_wake", "on_sleep", "create_vars", "on_wake"});
    CHECK(t.awake_count() == 1);
}

TEST_CASE("lifecycle: sleeping runs on_sleep, then on_disconnect of open connections", "[runtime]") {
    rivetkit::testing::test_registry t({{"life", lifecycle}, {"observer", observer}});
    auto h = t.client().get_or_create(lifecycle, "life", {"a"}, with_params(track()));
    auto conn = h.connect();
    conn.wait_connected();
    CHECK(conn.call<"log">() ==
          strings{"create_state", "on_create", "create_vars", "on_wake", "on_before_connect", "on_connect"});

    conn.call<"sleep">();
    t.settle();
    // The connection was closed by the sleep; the client reconnects, which wakes the actor.
    auto viewer = t.client().get_or_create(lifecycle, "life", {"a"});
    CHECK(viewer.call<"log">() == strings{"create_state", "on_create", "create_vars", "on_wake",
                                          "on_before_connect", "on_connect", "on_sleep", "on_disconnect",
                                          "create_vars", "on_wake", "on_before_connect", "on_connect"});
    conn.dispose();
    t.settle();
    CHECK(viewer.call<"log">().back() == "on_disconnect");
}

TEST_CASE("lifecycle: destroy runs on_destroy (not on_sleep), which can call other actors", "[runtime]") {
    rivetkit::testing::test_registry t({{"life", lifecycle}, {"observer", observer}});
    auto obs = t.client().get_or_create(observer, "observer", {"obs"});
    auto h = t.client().get_or_create(lifecycle, "life", {"a"});
    REQUIRE(h.call<"log">().size() == 4);

    SECTION("right after create") {
        h.call<"destroy">();
        t.settle();
        REQUIRE(obs.call<"reports">().size() == 1);
        CHECK(obs.call<"reports">()[0] == strings{"create_state", "on_create", "create_vars", "on_wake", "on_destroy"});
    }
    SECTION("after a sleep and a wake") {
        h.call<"sleep">();
        t.settle();
        REQUIRE(t.awake_count() == 0);
        h.call<"destroy">();
        t.settle();
        REQUIRE(obs.call<"reports">().size() == 1);
        CHECK(obs.call<"reports">()[0] == strings{"create_state", "on_create", "create_vars", "on_wake", "on_sleep",
                                                  "create_vars", "on_wake", "on_destroy"});
    }
    // Only the observer is left.
    CHECK(t.awake_count() == 1);
}

TEST_CASE("lifecycle: vars are ephemeral and recreated on every wake", "[runtime]") {
    rivetkit::testing::test_registry t({{"life", lifecycle}, {"observer", observer}});
    auto h = t.client().get_or_create(lifecycle, "life", {"a"});
    CHECK(h.call<"hit">() == 1);
    CHECK(h.call<"hit">() == 2);
    h.call<"sleep">();
    t.settle();
    REQUIRE(t.awake_count() == 0);
    CHECK(h.call<"hit">() == 1);
    // Other actors have their own vars.
    CHECK(t.client().get_or_create(lifecycle, "life", {"b"}).call<"hit">() == 1);
}
