// A runner for a Rivet Engine: the registry runs the `counter` actors the engine assigns to it
// and keeps their state in the engine. No HTTP server of its own: clients reach the actors
// through the engine's gateway (e.g. `client_cli --endpoint <engine> call counter k increment 1`).
//
//   RIVET_ENGINE=http://127.0.0.1:6420 ./engine_runner
//
// Settings come from the environment (RIVET_ENGINE / RIVET_ENDPOINT, RIVET_NAMESPACE,
// RIVET_TOKEN, RIVET_RUNNER, RIVET_RUNNER_KEY, RIVET_TOTAL_SLOTS). SIGINT / SIGTERM drain the
// runner: the engine stops its actors (they sleep and start elsewhere on demand), then it exits.

#include <csignal>
#include <cstdint>
#include <exception>
#include <iostream>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <rivetkit/drivers/engine.hpp>
#include <rivetkit/rivetkit.hpp>

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

const auto counter = rivetkit::actor<counter_state>()
                         .action<"increment">([](auto& c, std::int64_t by) {
                             c.state().count += by;
                             c.broadcast("newCount", c.state().count);
                             return c.state().count;
                         })
                         .action<"getCount">([](auto& c) { return std::as_const(c).state().count; });

int main() {
    try {
        rivetkit::registry_config config;
        config.driver = rivetkit::drivers::engine();  // RIVET_* variables, defaults otherwise
        auto registry = rivetkit::setup({{"counter", counter}}, std::move(config));
        registry.start_runner();
        std::cout << "runner started" << std::endl;

        // Wait for a signal on a context of our own (the library installs no handlers).
        asio::io_context signals;
        asio::signal_set set(signals, SIGINT, SIGTERM);
        set.async_wait([](const std::error_code&, int) {});
        signals.run();

        registry.stop();  // drains: the engine stops this runner's actors first
        std::cout << "runner stopped" << std::endl;
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "engine_runner: " << e.what() << std::endl;
        return 1;
    }
}
