// A counter actor: persisted state, an event, and a scheduled action.
//
// The program starts a registry, then runs a short client session against it in process:
// it connects to one counter, listens for "newCount", increments it, schedules a reset and
// waits for it. Run it with `bash scripts/demo.sh` from the repository root.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <utility>

#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

namespace demo {

struct counter_state {
    std::int64_t count = 0;
    std::int64_t resets = 0;
};
RIVETKIT_FIELDS(counter_state, count, resets)

inline const auto counter = rivetkit::actor<counter_state>()
    .action<"increment">([](auto& c, std::int64_t by) {
        c.state().count += by;
        c.broadcast("newCount", c.state().count);
        return c.state().count;
    })
    .action<"getCount">([](auto& c) { return std::as_const(c).state().count; })
    // Schedules "reset" to run after `delay_ms`; it survives sleep (and restarts, on a durable
    // driver).
    .action<"resetLater">([](auto& c, std::int64_t delay_ms) {
        c.schedule().after(delay_ms, "reset");
        return c.now_ms() + delay_ms;
    })
    .action<"reset">([](auto& c) {
        c.state().count = 0;
        c.state().resets += 1;
        c.broadcast("newCount", std::int64_t{0});
        c.log().info("counter reset", {{"resets", c.state().resets}});
    });

}  // namespace demo

int main() {
    auto registry = rivetkit::setup({{"counter", demo::counter}},
                                    {.driver = rivetkit::drivers::memory(), .threads = 2});
    registry.start();
    std::cout << "registry started: actor \"counter\" on the memory driver, 2 io threads\n";

    auto client = registry.client();
    auto counter = client.get_or_create(demo::counter, "counter", {"demo"});

    std::mutex m;
    std::condition_variable cv;
    std::int64_t last_event = -1;

    auto conn = counter.connect();
    conn.on("newCount", [&](const rivetkit::array& args) {
        std::lock_guard lock(m);
        last_event = args.at(0).as_int();
        std::cout << "  event newCount(" << last_event << ")\n";
        cv.notify_all();
    });
    conn.wait_connected();
    std::cout << "connected as " << conn.connection_id() << "\n";

    for (std::int64_t by : {1, 2, 3}) {
        std::int64_t n = counter.call<"increment">(by);
        std::cout << "increment(" << by << ") -> " << n << "\n";
    }

    auto when = counter.call<"resetLater">(500);
    std::cout << "scheduled reset at t=" << when << " (in 500 ms)\n";
    {
        std::unique_lock lock(m);
        if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return last_event == 0; })) {
            std::cerr << "the scheduled reset did not arrive\n";
            return 1;
        }
    }
    std::cout << "getCount() -> " << counter.call<"getCount">() << " after the scheduled reset\n";

    // Errors travel as {group, code, message}.
    try {
        counter.call("noSuchAction");
    } catch (const rivetkit::error& e) {
        std::cout << "calling an unknown action fails with " << e.group() << "/" << e.code() << "\n";
    }

    conn.dispose();
    registry.stop();
    std::cout << "stopped cleanly\n";
    return 0;
}
