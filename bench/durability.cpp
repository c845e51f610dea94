// Durable action throughput on the file-system driver, per durability mode: no sockets, the
// registry's own io threads.
//
//   durability [--actors N] [--calls N] [--concurrency N] [--threads N] [--dir PATH] [--mode M]
//              [--callers near|anywhere]
//
// For each mode (durable, fsync, relaxed; or only --mode) it opens a fresh data directory
// under --dir (default: a new directory in /tmp, removed afterwards), drives `calls` increments
// spread over `actors` actors from `concurrency` coroutines (placed as bench/callers.hpp says),
// and prints actions/s, latency percentiles, how many writes each SQLite transaction carried
// (group commit across actors) and how many writes each action took (one actor's changes made
// during a write share the next one).
// Put --dir on the disk you care about: /tmp may be a RAM disk, where fsync costs nothing.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <stdlib.h>

#include <rivetkit/drivers/file_system.hpp>
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
    std::size_t calls = 300'000;
    std::size_t concurrency = 256;
    std::size_t threads = 2;
    std::string dir;
    std::string mode;
    std::string callers = "near";
};

options parse(int argc, char** argv) {
    options o;
    bench::parse_options(argc, argv,
                         {{"--actors", &o.actors}, {"--calls", &o.calls}, {"--concurrency", &o.concurrency},
                          {"--threads", &o.threads}},
                         {{"--dir", &o.dir}, {"--mode", &o.mode}, {"--callers", &o.callers}});
    return o;
}

struct shared {
    std::vector<rivetkit::typed_actor_handle<std::remove_cvref_t<decltype(counter)>>> handles;
    std::vector<std::vector<std::size_t>> targets;  // per worker: the actors it calls
    std::atomic<std::size_t> next{0};
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

void run(const options& o, rivetkit::durability mode, const char* name, const std::filesystem::path& dir) {
    rivetkit::registry registry({{"counter", counter}},
                                {.driver = rivetkit::drivers::file_system({.path = dir}),
                                 .threads = o.threads,
                                 .durability_mode = mode});
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

    auto before = *rivetkit::drivers::file_system_statistics(registry.core());
    auto start = std::chrono::steady_clock::now();
    for (std::size_t w = 0; w < o.concurrency; ++w) {
        asio::co_spawn(plan.home[w], worker(s, w), asio::detached);
    }
    {
        std::unique_lock lock(s.m);
        s.cv.wait(lock, [&] { return s.workers_done == o.concurrency; });
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto after = *rivetkit::drivers::file_system_statistics(registry.core());

    std::vector<double> all;
    for (auto& l : s.latencies) all.insert(all.end(), l.begin(), l.end());
    auto tx = after.transactions - before.transactions;
    auto writes = after.writes - before.writes;
    std::printf("%-8s %9.0f actions/s  p50 %8.1f us  p99 %8.1f us  %6.1f writes/transaction  %5.2f writes/action  "
                "%3llu checkpoints  (%.2f s)\n",
                name, static_cast<double>(o.calls) / seconds, percentile(all, 0.50), percentile(all, 0.99),
                tx == 0 ? 0.0 : static_cast<double>(writes) / static_cast<double>(tx),
                static_cast<double>(writes) / static_cast<double>(o.calls),
                static_cast<unsigned long long>(after.checkpoints - before.checkpoints), seconds);
    // The same as one JSON line, for bench/run.sh.
    std::printf("{\"workload\":\"durability\",\"mode\":\"%s\",\"ops_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
                name, static_cast<double>(o.calls) / seconds, percentile(all, 0.50), percentile(all, 0.99));
    registry.stop();
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    rivetkit::set_log_level(rivetkit::log_level::error);

    std::filesystem::path base;
    bool remove_base = false;
    if (o.dir.empty()) {
        char tmpl[] = "/tmp/rivetkit-durability-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            std::perror("mkdtemp");
            return 1;
        }
        base = tmpl;
        remove_base = true;
    } else {
        base = o.dir;
    }

    std::printf("durability threads=%zu actors=%zu concurrency=%zu calls=%zu dir=%s\n", o.threads, o.actors,
                o.concurrency, o.calls, base.c_str());
    struct mode_entry {
        rivetkit::durability mode;
        const char* name;
    };
    const mode_entry modes[] = {{rivetkit::durability::durable, "durable"},
                                {rivetkit::durability::fsync, "fsync"},
                                {rivetkit::durability::relaxed, "relaxed"}};
    int status = 0;
    for (const auto& m : modes) {
        if (!o.mode.empty() && o.mode != m.name) continue;
        auto dir = base / (std::string("bench-") + m.name);
        std::filesystem::remove_all(dir);
        try {
            run(o, m.mode, m.name, dir);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s: %s\n", m.name, e.what());
            status = 1;
        }
        std::filesystem::remove_all(dir);
    }
    if (remove_base) std::filesystem::remove_all(base);
    return status;
}
