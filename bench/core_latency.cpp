// How long a cache line takes to go from one CPU to another and back.
//
//   core_latency [--cpu-a N] [--cpu-b N] [--round-trips N]
//
// Two threads, pinned to the two CPUs, hand one atomic flag back and forth; the figure is the
// mean round trip. On a VM it shows where the hypervisor has put the two vCPUs at the moment:
// every hand-off between io threads (a post to the other thread, a strand that moves, a
// shared_ptr count or malloc chunk freed on the other side) pays this (bench/README.md).

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <pthread.h>
#include <sched.h>

#include "cli.hpp"

namespace {

struct options {
    std::size_t cpu_a = 0;
    std::size_t cpu_b = 1;
    std::size_t round_trips = 2'000'000;
};

bool pin(std::size_t cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

alignas(64) std::atomic<int> flag{0};

}  // namespace

int main(int argc, char** argv) {
    options o;
    bench::parse_options(argc, argv, {{"--cpu-a", &o.cpu_a}, {"--cpu-b", &o.cpu_b}, {"--round-trips", &o.round_trips}});
    std::atomic<bool> pinned_b{true};
    std::thread other([&] {
        if (!pin(o.cpu_b)) pinned_b = false;
        for (std::size_t i = 0; i < o.round_trips; ++i) {
            while (flag.load(std::memory_order_acquire) != 1) {
            }
            flag.store(0, std::memory_order_release);
        }
    });
    if (!pin(o.cpu_a)) {
        std::fprintf(stderr, "cannot pin to CPU %zu\n", o.cpu_a);
        std::_Exit(1);  // the other thread spins forever
    }
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < o.round_trips; ++i) {
        flag.store(1, std::memory_order_release);
        while (flag.load(std::memory_order_acquire) != 0) {
        }
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
                      static_cast<double>(o.round_trips);
    other.join();
    if (!pinned_b) {
        std::fprintf(stderr, "cannot pin to CPU %zu\n", o.cpu_b);
        return 1;
    }
    std::printf("core_latency cpu %zu <-> cpu %zu: %.0f ns per round trip\n", o.cpu_a, o.cpu_b, ns);
    std::printf("{\"workload\":\"core_latency\",\"round_trip_ns\":%.1f}\n", ns);
    return 0;
}
