// A counter actor served over HTTP and WebSocket on the default (file-system) driver.
//
//   counter               serves on http://127.0.0.1:6420 (HOST and PORT override) until
//                         Ctrl-C; any RivetKit client can call it (see scripts/demo.sh, which
//                         drives it with curl and the official JavaScript client).
//   counter --self-test   serves on a free port and runs a short in-process client session
//                         against the same registry (connection, events, a scheduled reset,
//                         an error), then exits; the test suite runs this.
//
// The state is durable: stop the server and start it again, and the count is still there.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <string_view>
#include <utility>

#include <rivetkit/drivers/file_system.hpp>
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
    // Schedules "reset" to run after `delay_ms`; it survives sleep and restarts.
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

int serve() {
    auto registry = rivetkit::setup({{"counter", counter}});
    rivetkit::server_options options;
    options.handle_signals = true;  // Ctrl-C / SIGTERM stop the server (state is saved)
    options.on_listening = [](std::uint16_t port) {
        std::cout << "counter server listening on port " << port << "\n"
                  << "data: " << rivetkit::drivers::file_system_data_path().string() << "\n"
                  << std::flush;
    };
    registry.serve(options);
    std::cout << "counter server stopped\n";
    return 0;
}

int self_test() {
    auto registry = rivetkit::setup({{"counter", counter}}, {.threads = 2});
    rivetkit::server_options options;
    options.port = 0;
    const std::uint16_t port = registry.listen(options);
    std::cout << "serving on port " << port << ", data in "
              << rivetkit::drivers::file_system_data_path().string() << "\n";

    auto client = registry.client();
    auto counter = client.get_or_create(demo::counter, "counter", {"self-test"});

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

    const std::int64_t start = counter.call<"getCount">();
    for (std::int64_t by : {1, 2, 3}) {
        std::int64_t n = counter.call<"increment">(by);
        std::cout << "increment(" << by << ") -> " << n << "\n";
    }
    if (counter.call<"getCount">() != start + 6) {
        std::cerr << "unexpected count\n";
        return 1;
    }
    counter.call<"resetLater">(200);
    {
        std::unique_lock lock(m);
        if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return last_event == 0; })) {
            std::cerr << "the scheduled reset did not arrive\n";
            return 1;
        }
    }
    try {
        counter.call("noSuchAction");
        std::cerr << "an unknown action succeeded\n";
        return 1;
    } catch (const rivetkit::error& e) {
        std::cout << "unknown action -> " << e.group() << "/" << e.code() << "\n";
    }
    conn.dispose();
    registry.stop();
    std::cout << "stopped cleanly\n";
    return 0;
}

}  // namespace demo

int main(int argc, char** argv) {
    try {
        if (argc > 1 && std::string_view(argv[1]) == "--self-test") return demo::self_test();
        if (argc > 1) {
            std::cerr << "usage: counter [--self-test]\n";
            return 2;
        }
        return demo::serve();
    } catch (const std::exception& e) {
        std::cerr << "counter: " << e.what() << "\n";
        return 1;
    }
}
