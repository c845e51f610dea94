// The conformance server: hosts every fixture actor of the official RivetKit driver test suite
// (npm rivetkit@2.0.33, rivetkit/driver-test-suite) in test mode, for tests/conformance.
//
// Environment, as every example server: PORT (default 6420; 0 picks a free one), HOST,
// RIVETKIT_DATA_PATH (file-system data). RIVETKIT_DRIVER=file-system (default), memory or engine
// picks the driver. Prints "listening on <port>" once it accepts connections; stops on
// SIGINT/SIGTERM. The registry runs its default io threads (one per core).
//
// With RIVETKIT_DRIVER=engine it serves no HTTP itself: it is a runner of the engine named by
// the RIVET_* variables (RIVET_ENDPOINT, RIVET_NAMESPACE, RIVET_RUNNER, ...), prints
// "runner started", and on SIGINT/SIGTERM drains and prints "runner stopped".

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <rivetkit/drivers/engine.hpp>
#include <rivetkit/drivers/file_system.hpp>
#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

#include "fixtures.hpp"

int main() {
    try {
        const char* driver_env = std::getenv("RIVETKIT_DRIVER");
        const std::string_view driver_name = driver_env && *driver_env ? driver_env : "file-system";
        rivetkit::registry_config config;
        if (driver_name == "memory") {
            config.driver = rivetkit::drivers::memory();
        } else if (driver_name == "file-system") {
            config.driver = rivetkit::drivers::file_system();
        } else if (driver_name == "engine") {
            config.driver = rivetkit::drivers::engine(rivetkit::drivers::engine_options::from_env());
        } else {
            std::cerr << "conformance server: RIVETKIT_DRIVER must be file-system, memory or engine, not '" << driver_name
                      << "'\n";
            return 2;
        }

        std::vector<rivetkit::registration> actors;
        for (auto group : {conformance::core_fixtures, conformance::conn_fixtures, conformance::raw_fixtures}) {
            for (auto& r : group()) actors.push_back(std::move(r));
        }
        auto registry = rivetkit::setup(std::move(actors), std::move(config));

        if (driver_name == "engine") {
            registry.start_runner();
            std::cout << "runner started" << std::endl;
            asio::io_context signals;  // the library installs no signal handlers
            asio::signal_set set(signals, SIGINT, SIGTERM);
            set.async_wait([](const std::error_code&, int) {});
            signals.run();
            registry.stop();
            std::cout << "runner stopped" << std::endl;
            return 0;
        }

        rivetkit::server_options options;
        options.test_mode = true;  // the /.test/* endpoints of the suite's inline client
        options.handle_signals = true;
        options.on_listening = [](std::uint16_t port) { std::cout << "listening on " << port << std::endl; };
        registry.serve(options);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "conformance server: " << e.what() << "\n";
        return 1;
    }
}
