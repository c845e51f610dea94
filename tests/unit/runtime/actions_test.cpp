// Coroutine actions: interleaving at co_await points, the action timeout, plain actions.

#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/registry.hpp>
#include <rivetkit/testing.hpp>

#include "runtime_test_support.hpp"

namespace actions_test {

using strings = std::vector<std::string>;

struct co_state {
    std::int64_t value = 0;
    strings trace;
};
RIVETKIT_FIELDS(co_state, value, trace)

const auto interleaving =
    rivetkit::actor<co_state>()
        .action<"slowRead">([](auto& c, std::int64_t ms) -> rivetkit::task<std::int64_t> {
            c.state().trace.push_back("a:start");
            const std::int64_t before = std::as_const(c).state().value;
            co_await c.sleep_for(std::chrono::milliseconds(ms));
            c.state().trace.push_back("a:end(before=" + std::to_string(before) + ")");
            co_return std::as_const(c).state().value;
        })
        .action<"slowSet">([](auto& c, std::int64_t v, std::int64_t ms) -> rivetkit::task<std::int64_t> {
            c.state().trace.push_back("b:start");
            co_await c.sleep_for(std::chrono::milliseconds(ms));
            c.state().value = v;
            c.state().trace.push_back("b:end");
            co_return v;
        })
        .action<"set">([](auto& c, std::int64_t v) {
            c.state().value = v;
            c.state().trace.push_back("set");
            return v;
        })
        // A coroutine action with no result.
        .action<"slowNothing">([](auto& c) -> rivetkit::task<void> {
            co_await c.sleep_for(std::chrono::milliseconds(10));
            c.state().trace.push_back("nothing");
        })
        .action<"trace">([](auto& c) { return std::as_const(c).state().trace; });

rivetkit::actor_options short_timeout() {
    rivetkit::actor_options o;
    o.action_timeout = std::chrono::milliseconds(1000);
    return o;
}

const auto timing = rivetkit::actor<co_state>()
                        .options(short_timeout())
                        .action<"slow">([](auto& c, std::int64_t ms) -> rivetkit::task<std::string> {
                            co_await c.sleep_for(std::chrono::milliseconds(ms));
                            c.state().value += 1;
                            co_return "done after " + std::to_string(ms);
                        })
                        .action<"plain">([](auto&) { return std::string("plain"); })
                        .action<"immediate">([](auto&) -> rivetkit::task<std::string> { co_return "immediate"; })
                        .action<"completed">([](auto& c) { return std::as_const(c).state().value; });

/// A clock that counts the timers started with one particular delay (the action timeout).
class counting_clock final : public rivetkit::clock {
public:
    explicit counting_clock(rivetkit::milliseconds watched) : watched_(watched) {}
    std::int64_t now_ms() const override { return inner_->now_ms(); }
    std::shared_ptr<rivetkit::timer> start_timer(rivetkit::milliseconds delay, asio::any_io_executor ex,
                                                 rivetkit::detail::unique_function<void()> fn) override {
        if (delay == watched_) ++count_;
        return inner_->start_timer(delay, std::move(ex), std::move(fn));
    }
    [[nodiscard]] int count() const { return count_.load(); }

private:
    std::shared_ptr<rivetkit::virtual_clock> inner_ = std::make_shared<rivetkit::virtual_clock>();
    rivetkit::milliseconds watched_;
    std::atomic<int> count_{0};
};

}  // namespace actions_test

using namespace actions_test;
using namespace rivetkit_test;

TEST_CASE("coroutine actions: another action runs while one waits", "[runtime]") {
    rivetkit::testing::test_registry t({{"co", interleaving}});
    auto h = t.client().get_or_create(interleaving, "co", {"a"});
    REQUIRE(h.call<"trace">().empty());

    auto a = start(t, h.async_call<"slowRead">(100));
    t.settle();
    REQUIRE_FALSE(a.done());

    // A plain action runs to completion while A is suspended, and changes the state.
    CHECK(h.call<"set">(42) == 42);
    CHECK_FALSE(a.done());

    t.advance(99ms);
    CHECK_FALSE(a.done());
    t.advance(1ms);
    REQUIRE(a.done());
    CHECK(a.get() == 42);  // A sees B's change after resuming
    CHECK(h.call<"trace">() == strings{"a:start", "set", "a:end(before=0)"});
}

TEST_CASE("coroutine actions: two coroutine actions interleave at their co_await points", "[runtime]") {
    rivetkit::testing::test_registry t({{"co", interleaving}});
    auto h = t.client().get_or_create(interleaving, "co", {"a"});
    auto c1 = h.connect();
    auto c2 = h.connect();
    c1.wait_connected();
    c2.wait_connected();

    auto a = start(t, c1.async_call<"slowRead">(100));
    auto b = start(t, c2.async_call<"slowSet">(7, 50));
    t.settle();
    CHECK(h.call<"trace">() == strings{"a:start", "b:start"});

    t.advance(50ms);
    REQUIRE(b.done());
    CHECK(b.get() == 7);
    CHECK_FALSE(a.done());

    t.advance(50ms);
    REQUIRE(a.done());
    CHECK(a.get() == 7);
    CHECK(h.call<"trace">() == strings{"a:start", "b:start", "b:end", "a:end(before=0)"});
    c1.dispose();
    c2.dispose();
}

TEST_CASE("coroutine actions: a task<void> action returns once it has finished", "[runtime]") {
    rivetkit::testing::test_registry t({{"co", interleaving}});
    auto h = t.client().get_or_create(interleaving, "co", {"a"});
    auto f = start(t, h.async_call<"slowNothing">());
    static_assert(std::is_same_v<decltype(f), in_flight<void>>);
    t.settle();
    CHECK_FALSE(f.done());
    t.advance(10ms);
    REQUIRE(f.done());
    CHECK_NOTHROW(f.get());
    CHECK(h.call<"trace">() == strings{"nothing"});
}

TEST_CASE("coroutine actions: action_timeout ends a slow coroutine action with action/timed_out", "[runtime]") {
    rivetkit::testing::test_registry t({{"timing", timing}});
    auto h = t.client().get_or_create(timing, "timing", {"a"});
    CHECK(h.call<"plain">() == "plain");
    CHECK(h.call<"immediate">() == "immediate");

    auto slow = start(t, h.async_call<"slow">(5000));
    t.settle();
    t.advance(999ms);
    CHECK_FALSE(slow.done());
    t.advance(1ms);
    REQUIRE(slow.done());
    auto e = require_error([&] { (void)slow.get(); }, "action", "timed_out");
    CHECK(e.message().rfind("Action timed out", 0) == 0);

    // The timed-out work is not cancelled: it finishes later, and the actor keeps working.
    CHECK(h.call<"completed">() == 0);
    t.advance(4s);
    CHECK(h.call<"completed">() == 1);

    // Within the deadline a coroutine action answers normally.
    auto quick = start(t, h.async_call<"slow">(500));
    t.settle();
    t.advance(500ms);
    REQUIRE(quick.done());
    CHECK(quick.get() == "done after 500");
}

TEST_CASE("coroutine actions: timed-out calls over a connection leave the connection usable", "[runtime]") {
    rivetkit::testing::test_registry t({{"timing", timing}});
    auto conn = t.client().get_or_create(timing, "timing", {"a"}).connect();
    conn.wait_connected();
    auto slow = start(t, conn.async_call<"slow">(2000));
    t.settle();
    t.advance(1s);
    REQUIRE(slow.done());
    require_error([&] { (void)slow.get(); }, "action", "timed_out");
    CHECK(conn.call<"plain">() == "plain");
    conn.dispose();
    t.advance(1s);  // let the abandoned action finish
}

TEST_CASE("coroutine actions: plain actions are never put under the action timeout", "[runtime]") {
    // A plain action runs to completion in one go; only coroutine actions get a deadline timer.
    // Counting the timers started with the action timeout's delay shows which calls got one.
    auto clock = std::make_shared<counting_clock>(short_timeout().action_timeout);
    rivetkit::registry_config cfg;
    cfg.driver = rivetkit::drivers::memory();
    cfg.threads = 1;
    cfg.clock = clock;
    auto reg = rivetkit::setup({{"timing", timing}}, cfg);
    reg.start();
    auto h = reg.client().get_or_create(timing, "timing", {"a"});
    CHECK(h.call<"plain">() == "plain");
    CHECK(h.call<"plain">() == "plain");
    CHECK(clock->count() == 0);
    CHECK(h.call<"immediate">() == "immediate");
    CHECK(clock->count() == 1);
    reg.stop();
}
