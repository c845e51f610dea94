// The benchmark server: the actors of the side-by-side benchmarks (bench/run.sh), served over
// HTTP and WebSocket. bench/reference/server.mjs hosts the same actors on the TypeScript
// reference, so both sides answer the same workloads.
//
//   PORT=0 RIVETKIT_DATA_PATH=/tmp/d bench_server [--threads N] [--driver file-system|memory]
//                                                  [--durability durable|fsync|relaxed]
//                                                  [--contexts one-per-thread|shared]
//
// Prints "listening on <port>" once it accepts connections; stops on SIGINT/SIGTERM.
//
// Actors:
//   counter   state {count}. increment(by) -> count (broadcasts "newCount"), getCount() -> count,
//             ping() -> "pong" (touches no state: the stateless action), goToSleep() (c.sleep()).
//   chatRoom  state {messages} (a count). sendMessage(text) broadcasts "message" {text} to every
//             connection and returns the new count.

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>

#include <rivetkit/drivers/file_system.hpp>
#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

namespace bench {

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

struct chat_state {
    std::int64_t messages = 0;
};
RIVETKIT_FIELDS(chat_state, messages)

struct chat_message {
    std::string text;
};
RIVETKIT_FIELDS(chat_message, text)

const auto counter = rivetkit::actor<counter_state>()
                         .action<"increment">([](auto& c, std::int64_t by) {
                             c.state().count += by;
                             c.broadcast("newCount", c.state().count);
                             return c.state().count;
                         })
                         .action<"getCount">([](auto& c) { return std::as_const(c).state().count; })
                         .action<"ping">([](auto&) { return std::string("pong"); })
                         .action<"goToSleep">([](auto& c) { c.sleep(); });

const auto chat_room = rivetkit::actor<chat_state>().action<"sendMessage">([](auto& c, std::string text) {
    c.state().messages += 1;
    c.broadcast("message", chat_message{std::move(text)});
    return c.state().messages;
});

int usage() {
    std::cerr << "usage: bench_server [--threads N] [--driver file-system|memory] "
                 "[--durability durable|fsync|relaxed] [--contexts one-per-thread|shared]\n";
    return 2;
}

}  // namespace bench

int main(int argc, char** argv) {
    rivetkit::registry_config cfg;
    cfg.threads = 1;
    std::string driver = "file-system";
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (i + 1 >= argc) return bench::usage();
        const std::string_view v = argv[++i];
        if (a == "--threads") {
            cfg.threads = static_cast<std::size_t>(std::strtoul(std::string(v).c_str(), nullptr, 10));
        } else if (a == "--driver" && (v == "file-system" || v == "memory")) {
            driver = v;
        } else if (a == "--durability" && v == "durable") {
            cfg.durability_mode = rivetkit::durability::durable;
        } else if (a == "--durability" && v == "fsync") {
            cfg.durability_mode = rivetkit::durability::fsync;
        } else if (a == "--durability" && v == "relaxed") {
            cfg.durability_mode = rivetkit::durability::relaxed;
        } else if (a == "--contexts" && (v == "one-per-thread" || v == "shared")) {
            cfg.contexts = v == "shared" ? rivetkit::io_contexts::shared : rivetkit::io_contexts::one_per_thread;
        } else {
            return bench::usage();
        }
    }
    try {
        cfg.driver = driver == "memory" ? rivetkit::drivers::memory() : rivetkit::drivers::file_system();
        auto registry =
            rivetkit::setup({{"counter", bench::counter}, {"chatRoom", bench::chat_room}}, std::move(cfg));
        rivetkit::server_options options;
        options.port = 0;  // PORT overrides
        options.handle_signals = true;
        options.on_listening = [](std::uint16_t port) { std::cout << "listening on " << port << std::endl; };
        registry.serve(options);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "bench_server: " << e.what() << "\n";
        return 1;
    }
}
