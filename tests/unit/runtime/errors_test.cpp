// Errors as clients see them: user errors with code and metadata, masked internal errors, and
// the runtime's own errors (runtime-semantics §9).

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/testing.hpp>

#include "runtime_test_support.hpp"

namespace errors_test {

struct err_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(err_state, count)

const auto failing =
    rivetkit::actor<err_state>()
        .action<"throwSimple">([](auto&) -> std::int64_t { throw rivetkit::user_error("Simple error message"); })
        .action<"throwDetailed">([](auto& c) -> std::int64_t {
            throw rivetkit::user_error("Detailed error message", "detailed_error",
                                       rivetkit::object{{"reason", "test"}, {"timestamp", c.now_ms()}});
        })
        .action<"throwInternal">([](auto&) -> std::int64_t { throw std::runtime_error("secret database password"); })
        .action<"throwNonStd">([](auto&) -> std::int64_t { throw 42; })
        .action<"throwAsync">([](auto& c) -> rivetkit::task<std::int64_t> {
            c.state().count += 100;  // a change made before the error is still kept
            throw rivetkit::user_error("Async failure", "async_failure");
            co_return 0;
        })
        .action<"add">([](auto& c, std::int64_t by) { return c.state().count += by; })
        .action<"ok">([](auto&) { return std::string("success"); });

}  // namespace errors_test

using namespace errors_test;
using namespace rivetkit_test;

TEST_CASE("errors: user_error reaches the client with group user, its code, message and metadata", "[runtime]") {
    rivetkit::testing::test_registry t({{"failing", failing}});
    auto h = t.client().get_or_create(failing, "failing", {"a"});

    auto simple = require_error([&] { (void)h.call<"throwSimple">(); }, "user", "user_error");
    CHECK(simple.message() == "Simple error message");
    CHECK(simple.metadata().is_undefined());

    auto detailed = require_error([&] { (void)h.call<"throwDetailed">(); }, "user", "detailed_error");
    CHECK(detailed.message() == "Detailed error message");
    CHECK(detailed.metadata()["reason"] == rivetkit::value("test"));
    CHECK(detailed.metadata()["timestamp"] == rivetkit::value(t.now_ms()));

    auto async = require_error([&] { (void)h.call<"throwAsync">(); }, "user", "async_failure");
    CHECK(async.message() == "Async failure");

    // The actor keeps working after errors.
    CHECK(h.call<"ok">() == "success");
    CHECK(h.call<"add">(1) == 101);
}

TEST_CASE("errors: any other exception reaches the client as internal/internal_error", "[runtime]") {
    rivetkit::testing::test_registry t({{"failing", failing}});
    auto h = t.client().get_or_create(failing, "failing", {"a"});
    auto e = require_error([&] { (void)h.call<"throwInternal">(); }, "internal", "internal_error");
    CHECK(e.message() == rivetkit::errors::internal_error_message);
    CHECK(std::string(e.what()).find("secret") == std::string::npos);
    auto odd = require_error([&] { (void)h.call<"throwNonStd">(); }, "internal", "internal_error");
    CHECK(odd.message() == rivetkit::errors::internal_error_message);
    CHECK(h.call<"ok">() == "success");
}

TEST_CASE("errors: the same errors arrive over a connection, which stays open", "[runtime]") {
    rivetkit::testing::test_registry t({{"failing", failing}});
    auto conn = t.client().get_or_create(failing, "failing", {"a"}).connect();
    conn.wait_connected();
    auto e = require_error([&] { (void)conn.call<"throwDetailed">(); }, "user", "detailed_error");
    CHECK(e.metadata()["reason"] == rivetkit::value("test"));
    require_error([&] { (void)conn.call<"throwInternal">(); }, "internal", "internal_error");
    require_error([&] { (void)conn.call("nope"); }, "action", "not_found");
    CHECK(conn.call<"ok">() == "success");
    CHECK(conn.status() == rivetkit::connection_status::connected);
    conn.dispose();
}

TEST_CASE("errors: unknown action is action/not_found", "[runtime]") {
    rivetkit::testing::test_registry t({{"failing", failing}});
    auto h = t.client().get_or_create("failing", {"a"});
    require_error([&] { (void)h.call("doesNotExist"); }, "action", "not_found");
    // Only the definition's own actions exist.
    require_error([&] { (void)h.call("toString"); }, "action", "not_found");
    require_error([&] { (void)h.call("constructor"); }, "action", "not_found");
    CHECK(h.call("ok") == rivetkit::value("success"));
}

TEST_CASE("errors: arguments of the wrong type are action/invalid_request", "[runtime]") {
    rivetkit::testing::test_registry t({{"failing", failing}});
    auto h = t.client().get_or_create("failing", {"a"});
    require_error([&] { (void)h.call("add", "five"); }, "action", "invalid_request");
    require_error([&] { (void)h.call("add", 1.5); }, "action", "invalid_request");
    require_error([&] { (void)h.call("add"); }, "action", "invalid_request");  // missing
    CHECK(h.call("add", 5) == rivetkit::value(5));
    // A rejected call changed nothing.
    CHECK(h.call("add", 0) == rivetkit::value(5));
}

TEST_CASE("errors: get of a missing actor is actor/not_found, nothing is created", "[runtime]") {
    rivetkit::testing::test_registry t({{"failing", failing}});
    require_error([&] { (void)t.client().get(failing, "failing", {"missing"}).call<"ok">(); }, "actor", "not_found");
    require_error([&] { (void)t.client().get(failing, "failing", {"missing"}).resolve(); }, "actor", "not_found");
    require_error([&] { (void)t.client().get_for_id(failing, "failing", "0123456789abcdef").call<"ok">(); },
                  "actor", "not_found");
    CHECK(t.awake_count() == 0);

    // A get after a get_or_create finds the same actor.
    t.client().get_or_create(failing, "failing", {"missing"}).call<"add">(3);
    CHECK(t.client().get(failing, "failing", {"missing"}).call<"add">(0) == 3);
    // An id found under a different actor name is not found.
    auto id = t.client().get(failing, "failing", {"missing"}).resolve();
    require_error([&] { (void)t.client().get_for_id("other", id).call("ok"); }, "actor", "not_found");
    // So is an actor name the registry does not define.
    require_error([&] { (void)t.client().get_or_create("unknownActor", {"x"}).call("ok"); }, "actor", "not_found");
}

TEST_CASE("errors: create of an existing actor is actor/duplicate_key", "[runtime]") {
    rivetkit::testing::test_registry t({{"failing", failing}});
    auto h = t.client().create(failing, "failing", {"dup"});
    CHECK(h.call<"add">(5) == 5);
    require_error([&] { (void)t.client().create(failing, "failing", {"dup"}); }, "actor", "duplicate_key");

    // Also while the actor is asleep (the deviation: existing in storage is enough).
    t.advance(30s);
    REQUIRE(t.awake_count() == 0);
    require_error([&] { (void)t.client().create(failing, "failing", {"dup"}); }, "actor", "duplicate_key");
    // The original is untouched.
    CHECK(h.call<"add">(0) == 5);
    // A different key is a different actor.
    CHECK(t.client().create(failing, "failing", {"dup", "2"}).call<"add">(0) == 0);
}
