// The ceiling for workload 7: what the in-process call pattern costs with no actor runtime.
//
//   inprocess_ceiling [--actors N] [--calls N] [--concurrency N] [--threads N] [--work-ns N]
//
// The same shape as inprocess_actions: `concurrency` coroutines on one io_context run by
// `threads` threads, each call going to one of `actors` strands (co_spawn onto the strand, an
// increment, back to the caller), but nothing else: no resolution, connection, commit or
// allocation of its own. --work-ns adds that much busy work (no memory traffic) inside each call.
// It shows how much a second io thread can add to calls of a given cost on this machine
// (bench/README.md).

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include "cli.hpp"

namespace {

struct options {
    std::size_t actors = 100;
    std::size_t calls = 2'000'000;
    std::size_t concurrency = 256;
    std::size_t threads = 2;
    std::size_t work_ns = 0;
};

options parse(int argc, char** argv) {
    options o;
    bench::parse_options(argc, argv,
                         {{"--actors", &o.actors}, {"--calls", &o.calls}, {"--concurrency", &o.concurrency},
                          {"--threads", &o.threads}, {"--work-ns", &o.work_ns}});
    return o;
}

struct fake_actor {
    asio::strand<asio::io_context::executor_type> strand;
    std::int64_t count = 0;
};

struct shared {
    std::vector<std::unique_ptr<fake_actor>> actors;
    std::atomic<std::size_t> next{0};
    std::size_t total = 0;
    std::chrono::nanoseconds work{0};
};

asio::awaitable<std::int64_t> increment(fake_actor& a, std::chrono::nanoseconds work) {
    if (work.count() > 0) {
        const auto until = std::chrono::steady_clock::now() + work;
        while (std::chrono::steady_clock::now() < until) {
        }
    }
    co_return ++a.count;
}

asio::awaitable<void> worker(shared& s) {
    for (;;) {
        std::size_t i = s.next.fetch_add(1, std::memory_order_relaxed);
        if (i >= s.total) break;
        auto& a = *s.actors[i % s.actors.size()];
        co_await asio::co_spawn(a.strand, increment(a, s.work), asio::use_awaitable);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    asio::io_context io(static_cast<int>(o.threads));
    shared s;
    s.total = o.calls;
    s.work = std::chrono::nanoseconds(o.work_ns);
    for (std::size_t i = 0; i < o.actors; ++i) {
        s.actors.push_back(std::make_unique<fake_actor>(fake_actor{asio::make_strand(io.get_executor())}));
    }
    for (std::size_t w = 0; w < o.concurrency; ++w) asio::co_spawn(io, worker(s), asio::detached);

    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < o.threads; ++t) threads.emplace_back([&io] { io.run(); });
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = static_cast<double>(o.calls) / seconds;

    std::printf("inprocess_ceiling threads=%zu actors=%zu concurrency=%zu calls=%zu work_ns=%zu\n", o.threads,
                o.actors, o.concurrency, o.calls, o.work_ns);
    std::printf("  %.0f calls/s  (%.2f s)\n", rate, seconds);
    std::printf("{\"workload\":\"inprocess_ceiling\",\"threads\":%zu,\"work_ns\":%zu,\"ops_per_s\":%.1f}\n", o.threads,
                o.work_ns, rate);
    return 0;
}
