// In-process action throughput: no sockets, the registry's own io threads.
//
//   inprocess_actions [--actors N] [--calls N] [--concurrency N] [--threads N]
//                     [--callers near|anywhere] [--contexts one-per-thread|shared]
//
// Drives `calls` increments spread over `actors` actors from `concurrency` coroutines running on
// the registry's io threads, and prints actions/s and latency percentiles. Run it with
// --threads 1 and --threads 2 to see how throughput grows with io threads (bench/README.md).
// Where the callers run and which actors they call: bench/callers.hpp.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

#include "callers.hpp"
#include "cli.hpp"

namespace {

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

const auto counter = rivetkit::actor<counter_state>().action<"increment">([](auto& c, std::int64_t by) {
    c.state().count += by;
    return c.state().count;
});

struct options {
    std::size_t actors = 100;
    std::size_t calls = 1'000'000;
    std::size_t concurrency = 256;
    std::size_t threads = 2;
    std::string callers = "near";
    bool shared = false;
};

options parse(int argc, char** argv) {
    options o;
    std::string contexts = "one-per-thread";
    bench::parse_options(argc, argv,
                         {{"--actors", &o.actors}, {"--calls", &o.calls}, {"--concurrency", &o.concurrency},
                          {"--threads", &o.threads}},
                         {{"--callers", &o.callers}, {"--contexts", &contexts}});
    if (contexts != "one-per-thread" && contexts != "shared") {
        std::fprintf(stderr, "--contexts must be one-per-thread or shared\n");
        std::exit(2);
    }
    o.shared = contexts == "shared";
    return o;
}

struct shared {
    std::vector<rivetkit::typed_actor_handle<std::remove_cvref_t<decltype(counter)>>> handles;
    std::atomic<std::size_t> next{0};
    std::vector<std::vector<std::size_t>> targets;  // per worker: the actors it calls
    std::size_t total = 0;
    std::mutex m;
    std::condition_variable cv;
    std::size_t workers_done = 0;
    std::vector<std::vector<double>> latencies;  // one per worker, microseconds
};

rivetkit::task<void> worker(shared& s, std::size_t id) {
    auto& lat = s.latencies[id];
    for (;;) {
        std::size_t i = s.next.fetch_add(1, std::memory_order_relaxed);
        if (i >= s.total) break;
        const auto& mine = s.targets[id];
        auto& h = s.handles[mine[i % mine.size()]];
        auto start = std::chrono::steady_clock::now();
        auto call = h.async_call<"increment">(std::int64_t{1});
        co_await std::move(call);
        lat.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    }
    std::lock_guard lock(s.m);
    ++s.workers_done;
    s.cv.notify_all();
}

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    rivetkit::set_log_level(rivetkit::log_level::error);
    auto registry = rivetkit::setup(
        {{"counter", counter}},
        {.driver = rivetkit::drivers::memory(),
         .threads = o.threads,
         .contexts = o.shared ? rivetkit::io_contexts::shared : rivetkit::io_contexts::one_per_thread});
    registry.start();
    auto client = registry.client();

    shared s;
    s.total = o.calls;
    s.latencies.resize(o.concurrency);
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < o.actors; ++i) {
        s.handles.push_back(client.get_or_create(counter, "counter", {"bench-" + std::to_string(i)}));
        s.handles.back().call<"increment">(std::int64_t{0});  // create and wake every actor first
        ids.push_back(s.handles.back().resolve());
    }
    auto plan = bench::plan_callers(registry, ids, o.concurrency, o.callers);
    s.targets = std::move(plan.targets);

    auto start = std::chrono::steady_clock::now();
    for (std::size_t w = 0; w < o.concurrency; ++w) {
        asio::co_spawn(plan.home[w], worker(s, w), asio::detached);
    }
    {
        std::unique_lock lock(s.m);
        s.cv.wait(lock, [&] { return s.workers_done == o.concurrency; });
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::vector<double> all;
    for (auto& l : s.latencies) all.insert(all.end(), l.begin(), l.end());
    std::printf("inprocess_actions threads=%zu contexts=%s callers=%s actors=%zu concurrency=%zu calls=%zu\n",
                o.threads, o.shared ? "shared" : "one-per-thread", o.callers.c_str(), o.actors,
                o.concurrency, o.calls);
    std::printf("  %.0f actions/s  p50 %.1f us  p99 %.1f us  (%.2f s)\n", static_cast<double>(o.calls) / seconds,
                percentile(all, 0.50), percentile(all, 0.99), seconds);
    // The same as one JSON line, for bench/run.sh.
    std::printf(
        "{\"workload\":\"inprocess\",\"threads\":%zu,\"contexts\":\"%s\",\"callers\":\"%s\",\"ops_per_s\":%.1f,"
        "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
        o.threads, o.shared ? "shared" : "one-per-thread", o.callers.c_str(),
        static_cast<double>(o.calls) / seconds, percentile(all, 0.50), percentile(all, 0.99));
    registry.stop();
    return 0;
}
