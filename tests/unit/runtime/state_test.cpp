// Actor state: persistence across sleep and wake, creation input, the initial state.

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/testing.hpp>

#include "runtime_test_support.hpp"

namespace state_test {

struct counter_state {
    std::int64_t count = 0;
    std::vector<std::string> tags;
};
RIVETKIT_FIELDS(counter_state, count, tags)

const auto counter = rivetkit::actor<counter_state>()
                         .action<"add">([](auto& c, std::int64_t by) { return c.state().count += by; })
                         .action<"tag">([](auto& c, std::string t) { c.state().tags.push_back(std::move(t)); })
                         .action<"get">([](auto& c) { return std::as_const(c).state(); })
                         .action<"sleep">([](auto& c) { c.sleep(); });

counter_state preset() {
    counter_state s;
    s.count = 42;
    s.tags = {"preset"};
    return s;
}

const auto preset_counter =
    rivetkit::actor<counter_state>().state(preset()).action<"get">([](auto& c) { return std::as_const(c).state(); });

struct game_input {
    std::string name;
    std::int64_t level = 0;
};
RIVETKIT_FIELDS(game_input, name, level)

struct game_state {
    std::optional<game_input> from_create_state;
    std::optional<game_input> from_on_create;
};
RIVETKIT_FIELDS(game_state, from_create_state, from_on_create)

const auto game = rivetkit::actor<game_state, void, rivetkit::value, void, game_input>()
                      .create_state([](auto&, const game_input& in) {
                          game_state s;
                          s.from_create_state = in;
                          return s;
                      })
                      .on_create([](auto& c, const game_input& in) { c.state().from_on_create = in; })
                      .action<"inputs">([](auto& c) { return std::as_const(c).state(); })
                      .action<"input">([](auto& c) { return c.input(); });

// Untyped input: undefined when the creator gave none.
const auto raw_input = rivetkit::actor<game_state>().action<"input">([](auto& c) { return c.input(); });

}  // namespace state_test

using namespace state_test;
using namespace rivetkit_test;

TEST_CASE("state: persists across sleep and wake", "[runtime]") {
    rivetkit::testing::test_registry t({{"counter", counter}});
    auto h = t.client().get_or_create(counter, "counter", {"a"});
    CHECK(h.call<"add">(5) == 5);
    h.call<"tag">("x");
    REQUIRE(t.awake_count() == 1);

    // No connections and no requests: the actor sleeps exactly sleep_timeout (30 s) later.
    t.advance(29'999ms);
    CHECK(t.awake_count() == 1);
    t.advance(1ms);
    REQUIRE(t.awake_count() == 0);

    auto s = h.call<"get">();  // wakes it
    CHECK(t.awake_count() == 1);
    CHECK(s.count == 5);
    CHECK(s.tags == std::vector<std::string>{"x"});
    CHECK(h.call<"add">(1) == 6);
}

TEST_CASE("state: every call resets the idle timer", "[runtime]") {
    rivetkit::testing::test_registry t({{"counter", counter}});
    auto h = t.client().get_or_create(counter, "counter", {"a"});
    h.call<"add">(1);
    t.advance(20s);
    h.call<"add">(1);
    t.advance(20s);
    CHECK(t.awake_count() == 1);
    t.advance(10s);
    CHECK(t.awake_count() == 0);
    CHECK(h.call<"get">().count == 2);
}

TEST_CASE("state: explicit sleep keeps the state", "[runtime]") {
    rivetkit::testing::test_registry t({{"counter", counter}});
    auto h = t.client().get_or_create(counter, "counter", {"a"});
    h.call<"add">(7);
    h.call<"sleep">();
    t.settle();
    REQUIRE(t.awake_count() == 0);
    CHECK(h.call<"get">().count == 7);
}

TEST_CASE("state: actors with different keys have separate state", "[runtime]") {
    rivetkit::testing::test_registry t({{"counter", counter}});
    auto a = t.client().get_or_create(counter, "counter", {"a"});
    auto b = t.client().get_or_create(counter, "counter", {"b"});
    auto ab = t.client().get_or_create(counter, "counter", {"a", "b"});
    auto none = t.client().get_or_create(counter, "counter");
    a.call<"add">(5);
    b.call<"add">(10);
    CHECK(a.call<"add">(0) == 5);
    CHECK(b.call<"add">(0) == 10);
    CHECK(ab.call<"add">(0) == 0);
    CHECK(none.call<"add">(0) == 0);
}

TEST_CASE("state: state(initial) is the initial state of every new actor", "[runtime]") {
    rivetkit::testing::test_registry t({{"preset", preset_counter}, {"counter", counter}});
    auto s = t.client().get_or_create(preset_counter, "preset", {"a"}).call<"get">();
    CHECK(s.count == 42);
    CHECK(s.tags == std::vector<std::string>{"preset"});
    // Without state(...): a value-initialised State.
    auto d = t.client().get_or_create(counter, "counter", {"a"}).call<"get">();
    CHECK(d.count == 0);
    CHECK(d.tags.empty());
}

TEST_CASE("state: input reaches create_state, on_create and c.input()", "[runtime]") {
    rivetkit::testing::test_registry t({{"game", game}, {"raw", raw_input}});
    game_input in{"dungeon", 3};

    SECTION("create") {
        auto h = t.client().create(game, "game", {"g"}, with_input(rivetkit::to_value(in)));
        auto s = h.call<"inputs">();
        REQUIRE(s.from_create_state.has_value());
        REQUIRE(s.from_on_create.has_value());
        CHECK(s.from_create_state->name == "dungeon");
        CHECK(s.from_create_state->level == 3);
        CHECK(s.from_on_create->name == "dungeon");
        CHECK(h.call<"input">().level == 3);
    }
    SECTION("get_or_create keeps the first input") {
        auto h = t.client().get_or_create(game, "game", {"g"}, with_input(rivetkit::to_value(in)));
        CHECK(h.call<"input">().name == "dungeon");
        game_input other{"castle", 9};
        auto again = t.client().get_or_create(game, "game", {"g"}, with_input(rivetkit::to_value(other)));
        CHECK(again.call<"input">().name == "dungeon");
        CHECK(again.call<"inputs">().from_on_create->level == 3);
    }
    SECTION("input survives sleep") {
        auto h = t.client().get_or_create(game, "game", {"g"}, with_input(rivetkit::to_value(in)));
        REQUIRE(h.call<"input">().name == "dungeon");
        t.advance(30s);
        REQUIRE(t.awake_count() == 0);
        CHECK(h.call<"input">().name == "dungeon");
    }
    SECTION("no input: a default Input, and undefined for untyped input") {
        auto h = t.client().get_or_create(game, "game", {"none"});
        CHECK(h.call<"input">().name.empty());
        CHECK(h.call<"inputs">().from_on_create->level == 0);
        rivetkit::value v = t.client().get_or_create("raw", {"none"}).call("input");
        CHECK(v.is_undefined());
        auto with_in = t.client().get_or_create("raw", {"x"}, with_input(rivetkit::to_value(in)));
        rivetkit::value given = with_in.call("input");
        CHECK(given["name"] == rivetkit::value("dungeon"));
    }
}
