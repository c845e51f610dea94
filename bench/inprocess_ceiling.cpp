// The ceiling for workload 7: what the in-process call pattern costs with no actor runtime.
//
//   inprocess_ceiling [--actors N] [--calls N] [--concurrency N] [--threads N] [--work-ns N]
//                     [--contexts shared|per-thread] [--placement any|local]
//
// The same shape as inprocess_actions: `concurrency` coroutines, each call going to one of
// `actors` strands (co_spawn onto the strand, an increment, back to the caller), but nothing
// else: no resolution, connection, commit or allocation of its own. --work-ns adds that much busy
// work (no memory traffic) inside each call. It shows how much a second io thread can add to
// calls of a given cost on this machine (bench/README.md).
//
// --contexts shared (the default, as the runtime): one io_context run by `threads` threads.
// --contexts per-thread: one io_context per thread, each run by its own thread; actors and
// callers are dealt round-robin over them. --placement local then sends each caller only to
// actors of its own io_context (no call crosses threads); `any` (the default) to all actors.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
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
    std::string contexts = "shared";
    std::string placement = "any";
};

options parse(int argc, char** argv) {
    options o;
    bench::parse_options(argc, argv,
                         {{"--actors", &o.actors}, {"--calls", &o.calls}, {"--concurrency", &o.concurrency},
                          {"--threads", &o.threads}, {"--work-ns", &o.work_ns}},
                         {{"--contexts", &o.contexts}, {"--placement", &o.placement}});
    if ((o.contexts != "shared" && o.contexts != "per-thread") || (o.placement != "any" && o.placement != "local") ||
        (o.placement == "local" && o.contexts != "per-thread") || o.threads == 0 || o.actors < o.threads) {
        std::fprintf(stderr,
                     "--contexts is shared or per-thread, --placement any or local (local needs per-thread), "
                     "and there must be at least one thread and as many actors as threads\n");
        std::exit(2);
    }
    return o;
}

struct fake_actor {
    asio::strand<asio::io_context::executor_type> strand;
    std::int64_t count = 0;
};

struct shared {
    std::vector<std::unique_ptr<fake_actor>> actors;  // actor i runs on io_context i % contexts
    std::size_t contexts = 1;
    bool local = false;
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> done{0};  // callers finished
    std::size_t callers = 0;
    std::vector<asio::io_context*> ios;
    std::chrono::steady_clock::time_point end;
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

// `home`: the index of the io_context this caller runs on.
asio::awaitable<void> worker(shared& s, std::size_t home) {
    // With local placement, the caller's own actors: home, home + contexts, home + 2 * contexts...
    const std::size_t mine = (s.actors.size() - home + s.contexts - 1) / s.contexts;
    for (;;) {
        std::size_t i = s.next.fetch_add(1, std::memory_order_relaxed);
        if (i >= s.total) break;
        const std::size_t k = s.local ? home + (i % mine) * s.contexts : i % s.actors.size();
        auto& a = *s.actors[k];
        co_await asio::co_spawn(a.strand, increment(a, s.work), asio::use_awaitable);
    }
    // The last caller to finish ends the run: a call may still come back to an io_context whose
    // own callers are all done, so none of them may stop for lack of work before this.
    if (s.done.fetch_add(1, std::memory_order_acq_rel) + 1 == s.callers) {
        s.end = std::chrono::steady_clock::now();
        for (auto* io : s.ios) io->stop();
    }
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    const std::size_t contexts = o.contexts == "per-thread" ? o.threads : 1;
    std::vector<std::unique_ptr<asio::io_context>> ios;
    for (std::size_t c = 0; c < contexts; ++c) {
        ios.push_back(std::make_unique<asio::io_context>(static_cast<int>(o.threads / contexts)));
    }
    shared s;
    s.total = o.calls;
    s.work = std::chrono::nanoseconds(o.work_ns);
    s.contexts = contexts;
    s.local = o.placement == "local";
    s.callers = o.concurrency;
    for (auto& io : ios) s.ios.push_back(io.get());
    for (std::size_t i = 0; i < o.actors; ++i) {
        s.actors.push_back(std::make_unique<fake_actor>(fake_actor{asio::make_strand(ios[i % contexts]->get_executor())}));
    }
    for (std::size_t w = 0; w < o.concurrency; ++w) {
        asio::co_spawn(*ios[w % contexts], worker(s, w % contexts), asio::detached);
    }

    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (auto& io : ios) guards.push_back(asio::make_work_guard(*io));
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < o.threads; ++t) {
        threads.emplace_back([&ios, contexts, t] { ios[t % contexts]->run(); });
    }
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(s.end - start).count();
    const double rate = static_cast<double>(o.calls) / seconds;

    std::printf("inprocess_ceiling threads=%zu actors=%zu concurrency=%zu calls=%zu work_ns=%zu contexts=%s placement=%s\n",
                o.threads, o.actors, o.concurrency, o.calls, o.work_ns, o.contexts.c_str(), o.placement.c_str());
    std::printf("  %.0f calls/s  (%.2f s)\n", rate, seconds);
    std::printf("{\"workload\":\"inprocess_ceiling\",\"threads\":%zu,\"work_ns\":%zu,\"contexts\":\"%s\",\"placement\":\"%s\",\"ops_per_s\":%.1f}\n",
                o.threads, o.work_ns, o.contexts.c_str(), o.placement.c_str(), rate);
    return 0;
}
