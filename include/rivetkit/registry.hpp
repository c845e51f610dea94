#pragma once
// The registry: named actor definitions, a driver, and the io threads that run them.
//
//   auto reg = rivetkit::setup({{"counter", counter}});
//   reg.start();
//   auto client = reg.client();
//   auto h = client.get_or_create(counter, "counter", {"my-key"});
//   std::int64_t n = h.call<"increment">(5);

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rivetkit/actor.hpp"
#include "rivetkit/client.hpp"
#include "rivetkit/detail/registry_core.hpp"
#include "rivetkit/driver.hpp"
#include "rivetkit/handler.hpp"
#include "rivetkit/options.hpp"

namespace rivetkit {

/// One named definition of a registry.
struct registration {
    std::string name;
    std::shared_ptr<const detail::definition_base> definition;

    template <class Types, class... Actions>
    registration(std::string n, const actor_definition<Types, Actions...>& def)
        : name(std::move(n)), definition(def.erase()) {}
};

namespace drivers {
/// The driver of a registry configured without one: the file-system driver with default options
/// (rivetkit/drivers/file_system.hpp). Defined by the file-system driver library, which
/// rivetkit::rivetkit links; the runtime library (rivetkit::core) never calls it.
[[nodiscard]] driver_factory default_driver();
}  // namespace drivers

/// How the io threads share the actors (docs/architecture.md, "Execution model").
enum class io_contexts {
    /// Each io thread runs an io_context of its own, and each actor always runs on the same
    /// thread, chosen from its id (registry::executor_for). Work next to an actor never crosses
    /// threads; a busy actor delays only the actors on its own thread.
    one_per_thread,
    /// Every io thread runs one shared io_context: any idle thread takes any actor's next turn.
    /// Every hand-off goes through the shared queue, so more threads add less throughput.
    shared,
};

struct registry_config {
    /// The driver; default: the file-system driver (drivers::default_driver()).
    std::optional<driver_factory> driver{};
    /// io threads; 0 means one per hardware thread.
    std::size_t threads = 0;
    /// How the io threads share the actors.
    io_contexts contexts = io_contexts::one_per_thread;
    /// The clock every timer uses; default: the system clock.
    std::shared_ptr<rivetkit::clock> clock{};
    durability durability_mode = durability::durable;
};

/// Where and how registry::listen()/serve() serve the registry over HTTP and WebSocket.
struct server_options {
    /// The address to listen on; the environment variable HOST overrides it when set.
    std::string host = "127.0.0.1";
    /// The port; the environment variable PORT overrides it when set. 0 picks a free port.
    std::uint16_t port = 6420;
    /// The path prefix of every route ("/" for none). With a serverless engine driver and "/",
    /// the engine's routes answer both at /start and at /api/rivet/start.
    std::string base_path = "/";
    std::size_t max_incoming_message_bytes = 64 * 1024;
    std::size_t max_outgoing_message_bytes = 1024 * 1024;
    /// Serve the /.test/* endpoints of the driver test suite (handler_options::test_mode).
    bool test_mode = false;
    /// serve() only: return (after stopping the registry) on SIGINT or SIGTERM. Off by default:
    /// the library installs no signal handler unless asked.
    bool handle_signals = false;
    /// serve() only: called with the bound port once the server accepts connections.
    std::function<void(std::uint16_t port)> on_listening;
};

class registry {
public:
    /// Without `config.driver`, the registry uses the default (file-system) driver. Inline, so
    /// that the driver is referenced from the program and not from the runtime library.
    registry(std::vector<registration> actors, registry_config config = {})
        : registry(std::move(actors), with_default_driver(std::move(config)), driver_chosen{}) {}
    ~registry();
    registry(registry&&) noexcept;
    registry& operator=(registry&&) noexcept;

    /// Starts the io threads; returns at once.
    void start();
    /// Stops all actors (as for sleep: state saved, connections closed) and the io threads.
    /// With the engine driver the runner drains first: the engine stops its actors.
    void stop();
    /// Runs the registry as a runner of a Rivet Engine: starts the io threads, which connect to
    /// the engine and run the actors it assigns; returns at once. Opens no HTTP server. Needs
    /// the engine driver (`registry_config::driver = rivetkit::drivers::engine()`, from
    /// rivetkit/drivers/engine.hpp) with runner kind normal; throws std::logic_error with any
    /// other driver, and with a serverless one (serve that with listen()/serve()).
    void start_runner();
    /// Starts the registry if needed and serves it over HTTP/WebSocket (manager API, gateway,
    /// actors) on the io threads; returns the port it listens on. Throws std::system_error
    /// when the address cannot be bound. The server closes when the registry stops. With a
    /// serverless engine driver it serves the engine's routes instead (GET /start, /metadata;
    /// docs/engine.md); with a normal engine driver it throws std::logic_error.
    std::uint16_t listen(server_options options = {});
    /// listen(), then blocks until the registry is stopped (stop() from another thread, or a
    /// signal with options.handle_signals).
    void serve(server_options options = {});
    /// The registry's routing as a handler to mount in another HTTP server. With a normal engine
    /// driver it throws std::logic_error; with a serverless one it serves /metadata and
    /// /health, but not /start, which needs the event stream of listen()/serve().
    [[nodiscard]] rivetkit::handler handler(handler_options options = {});
    /// The executor of the registry's first io thread (for servers and timers of your own).
    [[nodiscard]] asio::any_io_executor executor();
    /// The executor of the io thread that runs the actor with this id (`handle.resolve()` gives
    /// the id), the same for the actor's whole life: work spawned there calls the actor without
    /// crossing threads. With io_contexts::shared, the same as executor().
    [[nodiscard]] asio::any_io_executor executor_for(std::string_view actor_id);
    /// A client for this registry's actors, in process (no sockets).
    [[nodiscard]] rivetkit::client client();
    [[nodiscard]] registry_core& core() noexcept { return *core_; }

private:
    struct driver_chosen {};
    registry(std::vector<registration> actors, registry_config config, driver_chosen);
    static registry_config with_default_driver(registry_config config) {
        if (!config.driver) config.driver = drivers::default_driver();
        return config;
    }

    std::unique_ptr<registry_core> core_;
};

/// Builds a registry from named definitions (on the file-system driver unless `config` names
/// another).
[[nodiscard]] inline registry setup(std::vector<registration> actors, registry_config config = {}) {
    return registry(std::move(actors), std::move(config));
}

}  // namespace rivetkit
