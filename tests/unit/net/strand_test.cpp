// net/strand.hpp: which executor a connection or a WebSocket session serialises on.

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <typeinfo>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>

#include "net/strand.hpp"

using namespace rivetkit::net;

namespace {
using io_executor = asio::io_context::executor_type;
using io_strand = asio::strand<io_executor>;
}  // namespace

TEST_CASE("strand: target_as sees only the exact type (any_io_executor::target does not check)", "[strand]") {
    asio::io_context io;
    const asio::any_io_executor plain = io.get_executor();
    const asio::any_io_executor stranded = asio::make_strand(io.get_executor());
    CHECK(target_as<io_executor>(plain) != nullptr);
    CHECK(target_as<io_strand>(plain) == nullptr);
    CHECK(target_as<io_strand>(stranded) != nullptr);
    CHECK(target_as<io_executor>(stranded) == nullptr);
    CHECK(target_as<io_executor>(asio::any_io_executor{}) == nullptr);
}

TEST_CASE("strand: serialising() gives a plain io_context executor a strand of its own", "[strand]") {
    asio::io_context io;
    const asio::any_io_executor plain = io.get_executor();
    const asio::any_io_executor s = serialising(plain);
    CHECK(s.target_type() == typeid(io_strand));  // compact: the io_context's own executor type
    CHECK(s != plain);
    // Each call is a new strand: two sessions on one io_context do not serialise each other.
    CHECK(serialising(plain) != s);
}

TEST_CASE("strand: serialising() keeps a strand of an io_context as it is", "[strand]") {
    asio::io_context io;
    const asio::any_io_executor strand = asio::make_strand(io.get_executor());
    CHECK(serialising(strand) == strand);
}

TEST_CASE("strand: other executors get a strand over the type-erased executor", "[strand]") {
    asio::thread_pool pool(1);
    const asio::any_io_executor ex = pool.get_executor();
    const asio::any_io_executor s = compact_strand(ex);
    CHECK(s.target_type() == typeid(asio::strand<asio::any_io_executor>));
    CHECK(serialising(ex).target_type() == typeid(asio::strand<asio::any_io_executor>));
    // A strand handed to compact_strand() is wrapped, never read as an io_context executor.
    asio::io_context io;
    const asio::any_io_executor strand = asio::make_strand(io.get_executor());
    CHECK(compact_strand(strand).target_type() == typeid(asio::strand<asio::any_io_executor>));
    pool.join();
}

TEST_CASE("strand: handlers posted to serialising(io executor) never overlap on two threads", "[strand]") {
    asio::io_context io;
    const asio::any_io_executor s = serialising(io.get_executor());
    constexpr int handlers = 4000;
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    int ran = 0;  // written by the handlers alone: a strand makes that safe
    for (int i = 0; i < handlers; ++i) {
        asio::post(s, [&] {
            if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
            std::this_thread::yield();  // widens the window another thread would run in
            ++ran;
            inside.fetch_sub(1);
        });
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) threads.emplace_back([&io] { io.run(); });
    for (auto& t : threads) t.join();
    CHECK(overlaps.load() == 0);
    CHECK(ran == handlers);
}
