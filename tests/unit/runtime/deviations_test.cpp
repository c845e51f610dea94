// The deliberate deviations from RivetKit 2.0.33 listed in docs/deviations.md that no other test
// file covers directly.

#include <catch2/catch.hpp>

#include <optional>

#include "rivetkit/detail/instance.hpp"
#include "rivetkit/detail/registry_core.hpp"
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

namespace deviations_test {

// The call as the transports start it: call_transient on the instance's strand. Returns the
// not_accepting it threw, if it did.
std::optional<rivetkit::detail::not_accepting> transient_call_on(rivetkit::testing::test_registry& t,
                                                                 const std::shared_ptr<rivetkit::actor_instance>& inst,
                                                                 std::string name, rivetkit::array args) {
    auto call = inst->call_transient(rivetkit::value(), nullptr, std::move(name), std::move(args));
    auto done = rivetkit::detail::oneshot<void>::make();
    asio::co_spawn(inst->strand(), std::move(call), [done](std::exception_ptr e, const rivetkit::value&) {
        e ? (void)done->set_exception(e) : (void)done->set_value();
    });
    t.settle();
    REQUIRE(done->ready());
    try {
        done->get();
    } catch (rivetkit::detail::not_accepting& e) {
        return std::move(e);
    } catch (...) {
    }
    return std::nullopt;
}

}  // namespace deviations_test

TEST_CASE("deviation: a call that reaches an instance after its stop began gets its arguments back, and the transports retry it",
          "[runtime][deviation]") {
    rivetkit::testing::test_registry t({{"s", deviations_test::lazy_sleeper}});
    auto h = t.client().get_or_create(deviations_test::lazy_sleeper, "s", {"a"});
    REQUIRE(h.call<"wakes">() == 1);
    auto id = h.resolve();
    auto loading = t.core().manager().load_actor(id);
    auto inst = t.core().block_on(std::move(loading));
    h.call<"nap">();
    t.settle();  // the stop has begun: on_sleep is waiting on its timer
    REQUIRE_FALSE(inst->accepting());

    // What a transport sees when its call lands behind the stop: nothing ran, the arguments
    // come back for the retry.
    auto stopped = deviations_test::transient_call_on(t, inst, "wakes", rivetkit::array{rivetkit::value(std::int64_t{7})});
    REQUIRE(stopped.has_value());
    CHECK(stopped->name == "wakes");
    REQUIRE(stopped->args.size() == 1);
    CHECK(stopped->args[0].as_int() == 7);
    CHECK(rivetkit::to_client_error(std::make_exception_ptr(*stopped)).group == "internal");  // masked if it escapes

    rivetkit::http_request req;
    req.method = "GET";
    req.path = "/kept";
    auto raw = inst->request_transient(rivetkit::value(), std::move(req));
    auto raw_done = rivetkit::detail::oneshot<std::string>::make();
    asio::co_spawn(inst->strand(), std::move(raw), [raw_done](std::exception_ptr e, const rivetkit::http_response&) {
        try {
            if (e) std::rethrow_exception(e);
            raw_done->set_value("answered");
        } catch (rivetkit::detail::not_accepting& n) {
            raw_done->set_value(n.request.path);
        } catch (...) {
            raw_done->set_value("other error");
        }
    });
    t.settle();
    REQUIRE(raw_done->ready());
    CHECK(raw_done->get() == "/kept");

    // The client's call, through the same handle, waits for the stop and reaches a new instance.
    auto call = start(t, h.async_call<"wakes">());
    t.advance(std::chrono::milliseconds(500));
    REQUIRE(call.done());
    CHECK(call.get() == 2);
}
