// A runner for a Rivet Engine: the registry runs the `counter` actors the engine assigns to it
// and keeps their state in the engine. Clients reach the actors through the engine's gateway
// (e.g. `client_cli --endpoint <engine> call counter k increment 1`).
//
//   RIVET_ENGINE=http://127.0.0.1:6420 ./engine_runner
//       a normal runner: connects to the engine itself, no HTTP server of its own
//   RIVET_RUNNER_KIND=serverless PORT=8080 ./engine_runner
//       serverless: serves GET /api/rivet/start and /api/rivet/metadata; the engine (its runner
//       config points at http://<host>:8080/api/rivet) starts runners through it on demand
//
// Settings come from the environment (RIVET_ENGINE / RIVET_ENDPOINT, RIVET_NAMESPACE,
// RIVET_TOKEN, RIVET_RUNNER, RIVET_RUNNER_KEY, RIVET_TOTAL_SLOTS, RIVET_RUNNER_KIND; HOST and
// PORT for the serverless server). SIGINT / SIGTERM drain the runners: the engine stops their
// actors (they sleep and start elsewhere on demand), then the program exits.

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
        const auto options = rivetkit::drivers::engine_options::from_env();  // RIVET_* variables
        const bool serverless = options.kind == rivetkit::drivers::runner_kind::serverless;
        rivetkit::registry_config config;
        config.driver = rivetkit::drivers::engine(options);
        auto registry = rivetkit::setup({{"counter", counter}}, std::move(config));

        if (serverless) {
            rivetkit::server_options server;
            server.port = 8080;            // PORT overrides it
            server.handle_signals = true;  // serve() returns, drained, on SIGINT / SIGTERM
            server.on_listening = [](std::uint16_t port) { std::cout << "listening on " << port << std::endl; };
            registry.serve(std::move(server));
            std::cout << "server stopped" << std::endl;
            return 0;
        }

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
