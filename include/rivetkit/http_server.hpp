#pragma once
// A small HTTP/1.1 and WebSocket server: the one registry.serve() runs, offered for programs
// that want their own routes next to a registry mounted with registry.handler().
//
//   auto api = registry.handler({.base_path = "/api/rivet"});
//   rivetkit::http_server server(registry.executor(),
//       [api](rivetkit::http_request req) -> rivetkit::task<rivetkit::http_response> {
//           if (req.path.starts_with("/api/rivet")) co_return co_await api.handle(std::move(req));
//           co_return rivetkit::http_response::text("my own route\n");
//       },
//       [api](rivetkit::http_request req) { return api.upgrade(std::move(req)); });
//   server.listen();
//
// Requests are parsed with keep-alive, pipelining, chunked bodies and Expect: 100-continue;
// header and body sizes are limited and slow clients time out. Everything runs on the
// executor's threads, one strand per connection.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>

#include "rivetkit/handler.hpp"
#include "rivetkit/http.hpp"
#include "rivetkit/task.hpp"

namespace rivetkit {

struct http_server_options {
    std::string host = "127.0.0.1";
    /// 0 picks a free port (listen() returns it).
    std::uint16_t port = 0;
    /// Request line plus headers; larger requests get 431.
    std::size_t max_header_bytes = 16 * 1024;
    /// Larger bodies get 413.
    std::size_t max_body_bytes = 8 << 20;
};

class http_server {
public:
    using request_handler = std::function<task<http_response>(http_request)>;
    using upgrade_handler = std::function<task<websocket_upgrade>(http_request)>;

    /// `on_upgrade` decides WebSocket upgrades; without it they are refused with 404.
    http_server(asio::any_io_executor executor, request_handler on_request, upgrade_handler on_upgrade = {},
                http_server_options options = {});
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    /// Binds and starts accepting; returns the port. Throws std::system_error when the address
    /// cannot be bound.
    std::uint16_t listen();
    /// Stops accepting and closes the connections (requests in flight finish first).
    /// Idempotent; safe from any thread.
    void close();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rivetkit
