// rivetkit::value, rivetkit::object and the C++ conversions of rivetkit/convert.hpp.

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include <rivetkit/convert.hpp>

using rivetkit::array;
using rivetkit::object;
using rivetkit::value;

namespace value_test {
struct player {
    std::string name;
    std::int64_t score = 0;
    std::optional<std::string> team;
};
RIVETKIT_FIELDS(player, name, score, team)

struct room {
    std::vector<player> players;
    std::map<std::string, std::int64_t> totals;
    std::int32_t capacity = 8;
};
RIVETKIT_FIELDS(room, players, totals, capacity)

// A type converted by hand, through ADL.
struct celsius {
    double degrees = 0;
};
rivetkit::value to_value(const celsius& c) { return std::to_string(c.degrees) + "C"; }
void from_value(const rivetkit::value& v, celsius& c) { c.degrees = std::stod(v.as_string()); }
}  // namespace value_test

TEST_CASE("object keeps insertion order and replaces in place", "[value]") {
    object o{{"b", 1}, {"a", 2}};
    o.insert_or_assign("c", 3);
    o.insert_or_assign("b", 10);
    std::vector<std::string> keys;
    for (const auto& [k, v] : o) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"b", "a", "c"});
    CHECK(o.find("b")->as_int() == 10);
    CHECK(o.erase("a"));
    CHECK_FALSE(o.erase("a"));
    CHECK(o.size() == 2);
    // Member order does not matter for equality (JS structural equality).
    CHECK(object{{"x", 1}, {"y", 2}} == object{{"y", 2}, {"x", 1}});
}

TEST_CASE("large objects stay consistent through inserts, erases, copies and moves", "[value]") {
    object o;
    for (int i = 0; i < 200; ++i) o.insert_or_assign("k" + std::to_string(i), i);
    REQUIRE(o.size() == 200);
    for (int i = 0; i < 200; ++i) REQUIRE(o.find("k" + std::to_string(i))->as_int() == i);
    CHECK(o.find("k200") == nullptr);
    for (int i = 0; i < 200; i += 3) REQUIRE(o.erase("k" + std::to_string(i)));
    for (int i = 0; i < 200; ++i) {
        const value* v = o.find("k" + std::to_string(i));
        if (i % 3 == 0) {
            REQUIRE(v == nullptr);
        } else {
            REQUIRE(v != nullptr);
            REQUIRE(v->as_int() == i);
        }
    }
    object copy = o;
    copy.insert_or_assign("extra", true);
    CHECK(o.find("extra") == nullptr);
    CHECK(copy.find("k1")->as_int() == 1);
    object moved = std::move(copy);
    CHECK(moved.find("extra")->as_bool());
    o["k1"] = value("changed");
    CHECK(o.find("k1")->as_string() == "changed");
    CHECK(moved.find("k1")->as_int() == 1);
}

TEST_CASE("value accessors check kinds and ranges", "[value]") {
    CHECK(value().is_undefined());
    CHECK(value(rivetkit::null).is_null());
    CHECK(value(nullptr).is_nullish());
    CHECK(value(5).as_int() == 5);
    CHECK(value(5.0).as_int() == 5);
    CHECK(value(rivetkit::bigint{-7}).as_int() == -7);
    CHECK_THROWS_AS(value(5.5).as_int(), rivetkit::conversion_error);
    CHECK_THROWS_AS(value(1e30).as_int(), rivetkit::conversion_error);
    CHECK_THROWS_AS(value("x").as_int(), rivetkit::conversion_error);
    CHECK(value(std::uint64_t{18446744073709551615ull}).is_number());
    const value o = object{{"a", array{1, 2}}};
    CHECK(o["a"].at(1).as_int() == 2);
    CHECK(o["missing"].is_undefined());
    CHECK(o["a"].at(9).is_undefined());
    value w;
    w["x"]["y"] = 1;  // undefined becomes an object on write
    CHECK(w["x"]["y"].as_int() == 1);
    CHECK(value(array{1, "two", rivetkit::null}).to_debug_string() == R"([1,"two",null])");
}

TEST_CASE("structs round-trip through RIVETKIT_FIELDS, missing members keep defaults", "[value][convert]") {
    value_test::room r;
    r.players = {{"ada", 3, "red"}, {"bob", 1, std::nullopt}};
    r.totals = {{"red", 3}};
    r.capacity = 4;
    value v = rivetkit::to_value(r);
    CHECK(v["players"].at(0)["name"].as_string() == "ada");
    CHECK(v["players"].at(1)["team"].is_null());
    auto back = rivetkit::from_value<value_test::room>(v);
    REQUIRE(back.players.size() == 2);
    CHECK(back.players[0].team == std::optional<std::string>("red"));
    CHECK_FALSE(back.players[1].team.has_value());
    CHECK(back.totals.at("red") == 3);
    CHECK(back.capacity == 4);

    auto partial = rivetkit::from_value<value_test::room>(object{{"players", array{}}});
    CHECK(partial.capacity == 8);
}

TEST_CASE("conversion errors name the path of the offending member", "[value][convert]") {
    value bad = object{{"players", array{object{{"name", "ada"}}, object{{"name", 42}}}}};
    try {
        (void)rivetkit::from_value<value_test::room>(bad);
        FAIL("expected a conversion error");
    } catch (const rivetkit::conversion_error& e) {
        CHECK(e.path() == ".players[1].name");
        CHECK(std::string(e.what()) == ".players[1].name: expected string, got integer");
    }
    CHECK_THROWS_AS(rivetkit::from_value<std::int8_t>(value(300)), rivetkit::conversion_error);
    CHECK_THROWS_AS(rivetkit::from_value<std::uint32_t>(value(-1)), rivetkit::conversion_error);
    CHECK_THROWS_AS((rivetkit::from_value<std::array<int, 2>>(value(array{1}))), rivetkit::conversion_error);
}

TEST_CASE("standard containers, tuples, optionals and ADL conversions", "[value][convert]") {
    auto t = std::make_tuple(std::string("a"), std::int64_t{2}, true);
    CHECK(rivetkit::from_value<decltype(t)>(rivetkit::to_value(t)) == t);
    std::pair<int, std::string> p{1, "x"};
    CHECK(rivetkit::from_value<decltype(p)>(rivetkit::to_value(p)) == p);
    std::optional<int> none;
    CHECK(rivetkit::to_value(none).is_null());
    CHECK_FALSE(rivetkit::from_value<std::optional<int>>(value()).has_value());
    rivetkit::bytes b{1, 2, 3};
    CHECK(rivetkit::to_value(b).is_binary());
    CHECK(rivetkit::from_value<rivetkit::bytes>(rivetkit::to_value(b)) == b);
    CHECK(rivetkit::to_value(value_test::celsius{21.5}).as_string().rfind("21.5", 0) == 0);
    CHECK(rivetkit::from_value<value_test::celsius>(value("30")).degrees == 30.0);
    std::uint64_t big = 18446744073709549568ull;  // exactly representable as a double
    CHECK(rivetkit::from_value<std::uint64_t>(rivetkit::to_value(big)) == big);
}
