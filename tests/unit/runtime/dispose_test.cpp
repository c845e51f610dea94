// After actor_connection::dispose() returns, none of its listeners runs again.

#include <catch2/catch.hpp>

#include <rivetkit/actor.hpp>
#include <rivetkit/testing.hpp>

namespace dispose_test {
inline const auto ticker = rivetkit::actor<rivetkit::value>()
    .action<"tick">([](auto& c) { c.broadcast("tick", std::int64_t{1}); })
    .action<"twice">([](auto& c) {
        c.broadcast("first", std::int64_t{1});
        c.broadcast("second", std::int64_t{2});
    });
}

TEST_CASE("dispose: status listeners see disposed at once, and nothing fires afterwards", "[runtime]") {
    rivetkit::testing::test_registry t({{"ticker", dispose_test::ticker}});
    auto h = t.client().get_or_create("ticker", {"a"});
    auto conn = h.connect();
    int ticks = 0;
    std::vector<rivetkit::connection_status> statuses;
    conn.on("tick", [&](const rivetkit::array&) { ++ticks; });
    conn.on_status([&](rivetkit::connection_status s) { statuses.push_back(s); });
    conn.wait_connected();
    h.call("tick");
    t.settle();
    REQUIRE(ticks == 1);

    // Events may be in flight towards the connection when it is disposed.
    h.call("tick");
    h.call("tick");
    conn.dispose();
    const int ticks_at_dispose = ticks;
    REQUIRE_FALSE(statuses.empty());
    CHECK(statuses.back() == rivetkit::connection_status::disposed);
    auto seen = statuses.size();
    t.settle();
    h.call("tick");
    t.settle();
    CHECK(ticks == ticks_at_dispose);
    CHECK(statuses.size() == seen);
    CHECK(conn.status() == rivetkit::connection_status::disposed);
    CHECK_THROWS_AS(conn.call("tick"), rivetkit::error);
}

TEST_CASE("dispose inside a listener: the next event, already queued, is not delivered", "[runtime]") {
    rivetkit::testing::test_registry t({{"ticker", dispose_test::ticker}});
    auto h = t.client().get_or_create("ticker", {"b"});
    auto conn = h.connect();
    int first = 0;
    int second = 0;
    conn.on("first", [&](const rivetkit::array&) {
        ++first;
        conn.dispose();
    });
    conn.on("second", [&](const rivetkit::array&) { ++second; });
    conn.wait_connected();
    h.call("twice");  // both events are queued for the connection, in order
    t.settle();
    CHECK(first == 1);
    CHECK(second == 0);
}
