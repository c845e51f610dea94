#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>

#include "rivetkit/detail/oneshot.hpp"
#include "rivetkit/detail/unique_function.hpp"

using rivetkit::detail::oneshot;
using rivetkit::detail::unique_function;

namespace {

// Counts live copies, so a test can see every callable destroyed exactly once.
struct tracked {
    std::shared_ptr<int> live;
    explicit tracked(std::shared_ptr<int> l) : live(std::move(l)) { ++*live; }
    tracked(const tracked& o) : live(o.live) { ++*live; }
    tracked(tracked&& o) noexcept : live(o.live) { ++*live; }
    ~tracked() { --*live; }
};

}  // namespace

TEST_CASE("unique_function keeps small callables inline and large ones on the heap", "[unique_function]") {
    auto live = std::make_shared<int>(0);
    SECTION("small, inline") {
        unique_function<int(int)> f = [t = tracked(live)](int x) { return x + 1; };
        CHECK(*live == 1);
        unique_function<int(int)> g = std::move(f);
        CHECK_FALSE(f);
        REQUIRE(g);
        CHECK(g(41) == 42);
        CHECK(*live == 1);  // the moved-from copy is gone
        g = nullptr;
        CHECK(*live == 0);
    }
    SECTION("large, on the heap") {
        std::array<char, 200> big{};
        big[199] = 'z';
        unique_function<char()> f = [t = tracked(live), big] { return big[199]; };
        CHECK(*live == 1);
        unique_function<char()> g = std::move(f);
        CHECK_FALSE(f);
        CHECK(g() == 'z');
        CHECK(*live == 1);  // moved by pointer: no copy made
        {
            unique_function<char()> h;
            h = std::move(g);
            CHECK(h() == 'z');
        }
        CHECK(*live == 0);
    }
    SECTION("move-only captures and assignment over a held callable") {
        auto p = std::make_unique<std::string>("moved");
        unique_function<std::string()> f = [p = std::move(p)] { return *p; };
        unique_function<std::string()> g = [t = tracked(live)] { return std::string("held"); };
        CHECK(*live == 1);
        g = std::move(f);
        CHECK(*live == 0);  // the callable g held was destroyed
        CHECK(g() == "moved");
    }
}

TEST_CASE("oneshot runs every waiter once, in the order they registered", "[oneshot]") {
    auto o = oneshot<int>::make();
    std::vector<int> order;
    for (int i = 0; i < 4; ++i) o->on_ready([&order, i] { order.push_back(i); });
    CHECK(order.empty());
    CHECK(o->set_value(7));
    CHECK_FALSE(o->set_value(8));  // the first result wins
    CHECK(order == std::vector<int>{0, 1, 2, 3});
    CHECK(o->get() == 7);
    o->on_ready([&order] { order.push_back(9); });  // already set: runs inline
    CHECK(order.back() == 9);
}

TEST_CASE("oneshot wait returns a result set before or after it suspends", "[oneshot]") {
    asio::io_context io;
    auto early = oneshot<std::string>::make();
    early->set_value("early");
    auto late = oneshot<std::string>::make();
    auto failed = oneshot<void>::make();
    std::vector<std::string> seen;
    auto waiter = [&]() -> rivetkit::task<void> {
        // (Results named first: see the GCC 12 rule in docs/architecture.md.)
        std::string first = co_await early->wait();
        seen.push_back(first);
        std::string second = co_await late->wait();
        seen.push_back(second);
        try {
            co_await failed->wait();
            seen.push_back("no error");
        } catch (const std::runtime_error& e) {
            seen.push_back(e.what());
        }
    };
    asio::co_spawn(io, waiter(), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    io.poll();
    CHECK(seen == std::vector<std::string>{"early"});  // suspended on `late`
    std::thread setter([&] {
        late->set_value("late");
        failed->set_exception(std::make_exception_ptr(std::runtime_error("boom")));
    });
    setter.join();
    io.restart();
    io.run();
    CHECK(seen == std::vector<std::string>{"early", "late", "boom"});
}

TEST_CASE("oneshot resumes the waiters on one strand together, before handlers posted after it was set",
          "[oneshot]") {
    // A strand given separately posted handlers in a burst runs the first alone and the rest
    // after whatever the io_context had queued meanwhile; waiters that resumed that way would
    // let a reply of a batch leave before the others.
    asio::io_context io;
    auto strand = asio::make_strand(io);
    auto other = asio::make_strand(io);
    auto result = oneshot<int>::make();
    std::vector<std::string> order;
    auto waiter = [&](std::string name) -> rivetkit::task<void> {
        int v = co_await result->wait();
        order.push_back(name + "=" + std::to_string(v));
    };
    for (const char* name : {"a", "b", "c"}) {
        asio::co_spawn(strand, waiter(name), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    }
    asio::co_spawn(other, waiter("d"), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    io.poll();
    REQUIRE(order.empty());
    asio::post(io, [&] {
        result->set_value(5);
        asio::post(io, [&] { order.push_back("later"); });
    });
    io.run();
    // Registered a, d, b, c (the strand ran a alone first); a, b and c resume in one handler,
    // d on its own strand, both posted before "later".
    CHECK(order == std::vector<std::string>{"a=5", "b=5", "c=5", "d=5", "later"});
}

TEST_CASE("oneshot: a waiter whose completion throws does not keep the others of its group from resuming",
          "[oneshot]") {
    asio::io_context io;
    auto strand = asio::make_strand(io);
    auto result = oneshot<int>::make();
    int resumed = 0;
    auto waiter = [&]() -> rivetkit::task<void> {
        co_await result->wait();
        ++resumed;
    };
    // The first coroutine's completion handler throws when it finishes, inside the group.
    asio::co_spawn(strand, waiter(), [](std::exception_ptr) { throw std::runtime_error("completion threw"); });
    asio::co_spawn(strand, waiter(), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    io.poll();
    REQUIRE(resumed == 0);
    result->set_value(1);
    io.restart();
    CHECK_THROWS_WITH(io.run(), "completion threw");  // escapes run(), as any handler's would
    CHECK(resumed == 2);
    io.restart();
    io.run();
    CHECK(resumed == 2);
}
