#pragma once
// The client transport over the network: the manager API (`/actors`) to resolve actors, the
// gateway (`/gateway/{id}/...`) for actions, raw HTTP, raw WebSockets and connections, exactly as
// the reference JS client 2.0.33 uses them (client-protocol.md §2, §5, §8.1).
//
// The transport owns an asio io_context run by its own thread(s) (io_runtime). Every operation
// runs there; the tasks it returns may be awaited from any executor (they resume on the awaiting
// coroutine's own executor), and block() waits from any thread that is not one of those io
// threads (nor a registry's).

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "rivetkit/client.hpp"

namespace rivetkit::detail {

/// An io_context and the threads running it. Destroyed last: it stops the io_context, joins
/// the threads (detaches them when destroyed on one of them) and then destroys the context, so
/// every socket of the client is gone before its io_context.
class io_runtime {
public:
    explicit io_runtime(std::size_t threads);
    ~io_runtime();
    io_runtime(const io_runtime&) = delete;
    io_runtime& operator=(const io_runtime&) = delete;

    [[nodiscard]] asio::any_io_executor executor() const;
    /// Stops the io_context and joins the threads (detaches the calling one when it is one of
    /// them): afterwards no handler runs. Idempotent.
    void stop();
    /// True on one of this runtime's threads.
    [[nodiscard]] bool on_own_thread() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

class remote_context;
class remote_connection;

class remote_transport final : public client_transport {
public:
    /// Throws rivetkit::error (client/invalid_endpoint, client/invalid_option) for bad options.
    explicit remote_transport(client_options options);
    ~remote_transport() override;

    task<std::string> resolve(actor_query query) override;
    task<value> action(actor_query query, value params, std::string name, array args) override;
    task<http_response> fetch(actor_query query, value params, http_request request) override;
    std::shared_ptr<client_connection> connect(actor_query query, value params) override;
    task<std::shared_ptr<websocket>> open_websocket(actor_query query, value params, std::string path) override;
    void block(task<void> t) override;
    void dispose() override;

    /// The endpoint in use (after a /metadata clientEndpoint redirect, that one).
    [[nodiscard]] std::string endpoint() const;

private:
    std::shared_ptr<io_runtime> runtime_;  // declared first: destroyed last
    std::shared_ptr<remote_context> ctx_;
    std::mutex mutex_;
    std::vector<std::weak_ptr<remote_connection>> connections_;
};

/// The options with every unset one taken from the environment (RIVET_ENGINE, RIVET_ENDPOINT,
/// RIVET_TOKEN, RIVET_NAMESPACE, RIVET_RUNNER) or its default.
[[nodiscard]] client_options resolve_client_options(client_options options);

}  // namespace rivetkit::detail
