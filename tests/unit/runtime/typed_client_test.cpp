// The typed client: a handle typed by the definition returns each action's own C++ result type;
// calls by name return rivetkit::value.

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/testing.hpp>

#include "runtime_test_support.hpp"

namespace typed_client_test {

struct point {
    std::int64_t x = 0;
    std::int64_t y = 0;
    friend bool operator==(const point&, const point&) = default;
};
RIVETKIT_FIELDS(point, x, y)

struct shape {
    std::string name;
    std::vector<point> points;
    std::optional<std::string> label;
};
RIVETKIT_FIELDS(shape, name, points, label)

struct board_state {
    std::vector<shape> shapes;
    std::int64_t resets = 0;
};
RIVETKIT_FIELDS(board_state, shapes, resets)

template <class Ctx>
const shape& shape_at(const Ctx& c, std::int64_t i) {
    return c.state().shapes.at(static_cast<std::size_t>(i));
}

const auto board =
    rivetkit::actor<board_state>()
        .action<"add">([](auto& c, shape s) {
            c.state().shapes.push_back(std::move(s));
            return static_cast<std::int64_t>(std::as_const(c).state().shapes.size());
        })
        .action<"name">([](auto& c, std::int64_t i) { return shape_at(c, i).name; })
        .action<"get">([](auto& c, std::int64_t i) { return shape_at(c, i); })
        .action<"find">([](auto& c, std::string name) -> std::optional<shape> {
            for (const auto& s : std::as_const(c).state().shapes) {
                if (s.name == name) return s;
            }
            return std::nullopt;
        })
        .action<"centroid">([](auto& c, std::string name) -> std::optional<point> {
            for (const auto& s : std::as_const(c).state().shapes) {
                if (s.name != name || s.points.empty()) continue;
                point p;
                for (const auto& q : s.points) {
                    p.x += q.x;
                    p.y += q.y;
                }
                p.x /= static_cast<std::int64_t>(s.points.size());
                p.y /= static_cast<std::int64_t>(s.points.size());
                return p;
            }
            return std::nullopt;
        })
        .action<"counts">([](auto& c) {
            std::map<std::string, std::int64_t> out;
            for (const auto& s : std::as_const(c).state().shapes) {
                out[s.name] = static_cast<std::int64_t>(s.points.size());
            }
            return out;
        })
        .action<"isEmpty">([](auto& c) { return std::as_const(c).state().shapes.empty(); })
        .action<"scale">([](auto&, double f, point p) {
            return point{static_cast<std::int64_t>(static_cast<double>(p.x) * f),
                         static_cast<std::int64_t>(static_cast<double>(p.y) * f)};
        })
        .action<"reset">([](auto& c) {
            c.state().shapes.clear();
            ++c.state().resets;
        })
        .action<"resets">([](auto& c) { return std::as_const(c).state().resets; })
        .action<"asyncName">([](auto& c, std::int64_t i) -> rivetkit::task<std::string> {
            co_return shape_at(c, i).name;
        })
        .action<"asyncReset">([](auto& c) -> rivetkit::task<void> {
            c.state().shapes.clear();
            co_return;
        });

using board_def = std::remove_cvref_t<decltype(board)>;
using handle = rivetkit::typed_actor_handle<board_def>;

// Result types are the actions' own, checked at compile time.
static_assert(std::is_same_v<decltype(std::declval<handle&>().call<"add">(shape{})), std::int64_t>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().call<"name">(0)), std::string>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().call<"get">(0)), shape>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().call<"find">("x")), std::optional<shape>>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().call<"counts">()), std::map<std::string, std::int64_t>>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().call<"isEmpty">()), bool>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().call<"reset">()), void>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().call<"asyncName">(0)), std::string>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().call<"asyncReset">()), void>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().async_call<"name">(0)), rivetkit::task<std::string>>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().call("name", 0)), rivetkit::value>);
static_assert(std::is_same_v<decltype(std::declval<handle&>().connect().call<"name">(0)), std::string>);

shape triangle() {
    shape s;
    s.name = "triangle";
    s.points = {point{0, 0}, point{3, 0}, point{0, 3}};
    s.label = "T";
    return s;
}

}  // namespace typed_client_test

using namespace typed_client_test;
using namespace rivetkit_test;

TEST_CASE("typed client: typed handles return the actions' C++ result types", "[runtime]") {
    rivetkit::testing::test_registry t({{"board", board}});
    auto h = t.client().get_or_create(board, "board", {"b"});
    CHECK(h.call<"isEmpty">());
    CHECK(h.call<"add">(triangle()) == 1);
    CHECK_FALSE(h.call<"isEmpty">());

    std::string name = h.call<"name">(0);
    CHECK(name == "triangle");

    shape got = h.call<"get">(0);
    CHECK(got.name == "triangle");
    CHECK(got.points == std::vector<point>{point{0, 0}, point{3, 0}, point{0, 3}});
    CHECK(got.label == std::optional<std::string>("T"));

    std::optional<shape> found = h.call<"find">("triangle");
    REQUIRE(found.has_value());
    CHECK(found->points.size() == 3);
    CHECK_FALSE(h.call<"find">("circle").has_value());
    CHECK(h.call<"centroid">("triangle") == std::optional<point>(point{1, 1}));
    CHECK(h.call<"centroid">("circle") == std::nullopt);

    CHECK(h.call<"counts">() == std::map<std::string, std::int64_t>{{"triangle", 3}});
    CHECK(h.call<"scale">(2.0, point{3, 4}) == point{6, 8});
    CHECK(h.call<"asyncName">(0) == "triangle");

    h.call<"reset">();
    CHECK(h.call<"resets">() == 1);
    CHECK(h.call<"isEmpty">());
    h.call<"add">(triangle());
    h.call<"asyncReset">();
    CHECK(h.call<"isEmpty">());
}

TEST_CASE("typed client: an optional member that is absent reads as nullopt", "[runtime]") {
    rivetkit::testing::test_registry t({{"board", board}});
    auto h = t.client().get_or_create(board, "board", {"b"});
    shape bare;
    bare.name = "dot";
    h.call<"add">(bare);
    CHECK_FALSE(h.call<"get">(0).label.has_value());
}

TEST_CASE("typed client: typed connections return the same types", "[runtime]") {
    rivetkit::testing::test_registry t({{"board", board}});
    auto conn = t.client().get_or_create(board, "board", {"b"}).connect();
    CHECK(conn.call<"add">(triangle()) == 1);
    shape got = conn.call<"get">(0);
    CHECK(got.name == "triangle");
    conn.call<"reset">();
    CHECK(conn.call<"isEmpty">());
    conn.dispose();
}

TEST_CASE("typed client: calls by name return rivetkit::value", "[runtime]") {
    rivetkit::testing::test_registry t({{"board", board}});
    auto untyped = t.client().get_or_create("board", {"b"});
    rivetkit::value n = untyped.call("add", triangle());
    CHECK(n == rivetkit::value(1));

    rivetkit::value s = untyped.call("get", 0);
    REQUIRE(s.is_object());
    CHECK(s["name"] == rivetkit::value("triangle"));
    CHECK(s["points"].size() == 3);
    CHECK(s["points"].at(1)["x"] == rivetkit::value(3));
    CHECK(rivetkit::from_value<shape>(s).label == std::optional<std::string>("T"));

    CHECK(untyped.call("find", "circle").is_null());       // std::nullopt is null
    CHECK(untyped.call("reset").is_undefined());           // void is undefined
    CHECK(untyped.call("isEmpty") == rivetkit::value(true));

    // A typed handle's untyped form is the same.
    auto typed = t.client().get_or_create(board, "board", {"b"});
    CHECK(typed.call("resets") == rivetkit::value(1));
}
