#pragma once
// The HTTP/1.1 server: accepts TCP connections, parses requests (keep-alive, pipelining,
// chunked bodies, Expect: 100-continue), enforces limits and timeouts, and hands each request
// to a server_handler. Event streams (SSE) and WebSocket upgrades are served on the same port.
//
// Everything runs on the given executor, which may be an io_context run by several threads:
// each connection works on its own strand; requests of one connection are handled strictly one
// after another, in order.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>

#include "net/server_handler.hpp"
#include "net/websocket_session.hpp"
#include "rivetkit/log.hpp"

namespace rivetkit::net {

struct http_server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6420;
    /// Request line and headers together; beyond it: 431.
    std::size_t max_header_bytes = 16 * 1024;
    /// Beyond it (declared or, for chunked bodies, received): 413.
    std::size_t max_body_bytes = 8 << 20;
    /// The whole head must arrive within this, counted from the connection's accept for the
    /// first request and from its first byte for later ones.
    std::chrono::milliseconds header_timeout{10000};
    /// The whole body must arrive within this once the head is complete; also bounds the
    /// writing of each response (and of each event-stream write).
    std::chrono::milliseconds body_timeout{30000};
    /// How long a keep-alive connection may wait for its next request.
    std::chrono::milliseconds idle_timeout{60000};
    /// Open connections (HTTP and upgraded WebSockets); connections beyond it are closed at once.
    std::size_t max_connections = 16384;
    websocket_limits websocket{};
    /// Where each accepted connection runs (called once per connection, on the accepting
    /// strand); unset: the server's executor. The registry hands connections to its io threads
    /// in turn, one io_context each.
    std::function<asio::any_io_executor()> connection_executor{};
};

class http_server {
public:
    http_server(asio::any_io_executor ex, std::shared_ptr<server_handler> handler, http_server_options opts,
                logger log = {});
    /// close()s the server; connections still open finish on the executor on their own.
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    /// Binds, listens and starts accepting. Returns the bound port (port 0: an ephemeral one).
    /// Throws std::system_error "cannot listen on HOST:PORT: <reason>"; std::logic_error when
    /// called twice or after close().
    std::uint16_t listen();

    /// Stops accepting, closes idle keep-alive connections at once, lets requests in flight
    /// finish (their responses say Connection: close), ends event streams and closes open
    /// WebSockets with 1001. Idempotent; safe from any thread.
    void close();

    /// Open connections: HTTP ones (idle, in a request, or streaming events) and WebSockets
    /// upgraded from them.
    [[nodiscard]] std::size_t connection_count() const;

    /// The bound address (after listen()).
    [[nodiscard]] asio::ip::tcp::endpoint local_endpoint() const;

    /// Calls `fn` once, on the server's executor, when close() has been called and no
    /// connection is open any more: for shutdown, to wait for requests in flight.
    void on_drained(std::function<void()> fn);

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace rivetkit::net
