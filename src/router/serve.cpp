// registry::listen()/serve()/handler() and the public handler: the network front of a registry.

#include <charconv>
#include <condition_variable>
#include <chrono>
#include <csignal>
#include <future>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include <asio/signal_set.hpp>
#include <fmt/format.h>

#include "net/http_server.hpp"
#include "rivetkit/registry.hpp"
#include "router/router.hpp"

namespace rivetkit {

namespace {

handler_options routing_options(const server_options& o) {
    handler_options h;
    h.base_path = o.base_path;
    h.max_incoming_message_bytes = o.max_incoming_message_bytes;
    h.max_outgoing_message_bytes = o.max_outgoing_message_bytes;
    h.test_mode = o.test_mode;
    return h;
}

/// HOST and PORT from the environment win over the configured values (as every RivetKit
/// server does, so deployment platforms can place it).
void apply_environment(server_options& o) {
    if (const char* host = std::getenv("HOST"); host && *host) o.host = host;
    if (const char* port = std::getenv("PORT"); port && *port) {
        std::string_view text = port;
        unsigned value = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc{} || end != text.data() + text.size() || value > 65535) {
            throw std::invalid_argument(fmt::format("rivetkit: PORT must be a port number, got '{}'", text));
        }
        o.port = static_cast<std::uint16_t>(value);
    }
}

/// The engine driver serves HTTP only in serverless mode (the engine's GET /start).
void check_servable(registry_core& core, const char* what) {
    if (core.driver_name() == "engine" && core.manager().serverless() == nullptr) {
        throw std::logic_error(fmt::format(
            "rivetkit: {} with the engine driver needs runner kind serverless (engine_options::kind, "
            "RIVET_RUNNER_KIND=serverless); a normal runner runs with registry.start_runner()",
            what));
    }
}

}  // namespace

std::uint16_t registry::listen(server_options options) {
    check_servable(*core_, "listen()/serve()");
    apply_environment(options);
    core_->start();
    auto r = std::make_shared<detail::router>(*core_, routing_options(options));
    net::http_server_options http;
    http.host = options.host;
    http.port = options.port;
    if (core_->context_count() > 1) {
        http.connection_executor = [core = core_.get(), next = std::size_t{0}]() mutable {
            return core->context_at(next++ % core->context_count()).get_executor();
        };
    }
    auto server = std::make_shared<net::http_server>(core_->executor(), r, http, logger("server"));
    const std::uint16_t port = server->listen();
    // On stop, the server closes before the actors do and is waited for: WebSockets get their
    // close handshake (1001) while the io threads still run, so each connection leaves its
    // actor cleanly. The wait is bounded by the sockets' own close timeout.
    core_->add_stop_hook([server, close_wait = http.websocket.close_timeout + std::chrono::seconds(1)] {
        auto drained = std::make_shared<std::promise<void>>();
        auto done = drained->get_future();
        server->on_drained([drained] { drained->set_value(); });
        server->close();
        done.wait_for(close_wait);
    });
    core_->log().info("server listening", {{"url", fmt::format("http://{}:{}{}", options.host, port,
                                                               options.base_path == "/" ? "" : options.base_path)},
                                           {"driver", core_->driver_name()}});
    return port;
}

void registry::serve(server_options options) {
    const bool handle_signals = options.handle_signals;
    auto on_listening = std::move(options.on_listening);
    const std::uint16_t port = listen(std::move(options));
    if (on_listening) on_listening(port);
    if (!handle_signals) {
        core_->wait_stopped();
        return;
    }
    struct signal_state {
        std::mutex mutex;
        std::condition_variable cv;
        bool signalled = false;
        bool stopped = false;
    };
    auto state = std::make_shared<signal_state>();
    auto signals = std::make_shared<asio::signal_set>(core_->io(), SIGINT, SIGTERM);
    signals->async_wait([state](const std::error_code& ec, int) {
        if (ec) return;
        std::lock_guard lock(state->mutex);
        state->signalled = true;
        state->cv.notify_all();
    });
    core_->add_stop_hook([state, signals] {
        signals->cancel();
        std::lock_guard lock(state->mutex);
        state->stopped = true;
        state->cv.notify_all();
    });
    bool by_signal = false;
    {
        std::unique_lock lock(state->mutex);
        state->cv.wait(lock, [&] { return state->signalled || state->stopped; });
        by_signal = state->signalled && !state->stopped;
    }
    if (by_signal) {
        core_->log().info("signal received; stopping");
        stop();
    } else {
        core_->wait_stopped();
    }
}

asio::any_io_executor registry::executor() { return core_->executor(); }
asio::any_io_executor registry::executor_for(std::string_view actor_id) {
    return core_->context_for(actor_id).get_executor();
}

rivetkit::handler registry::handler(handler_options options) {
    check_servable(*core_, "handler()");
    return rivetkit::handler(std::make_shared<detail::router>(*core_, std::move(options)));
}

task<http_response> handler::handle(http_request request) const { return router_->respond(std::move(request)); }

task<websocket_upgrade> handler::upgrade(http_request request) const { return router_->upgrade(std::move(request)); }

http_response handler::handle_sync(http_request request) const {
    return router_->core().block_on(router_->respond(std::move(request)));
}

websocket_upgrade handler::upgrade_sync(http_request request) const {
    return router_->core().block_on(router_->upgrade(std::move(request)));
}

}  // namespace rivetkit
