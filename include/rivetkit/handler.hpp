#pragma once
// registry.handler(): the registry's HTTP and WebSocket routing (manager API, gateway, actors)
// as a framework-neutral handler to mount in your own server, next to your own routes.
//
//   auto h = registry.handler({.base_path = "/api/rivet"});
//   // in your server, for a request under /api/rivet:
//   rivetkit::http_response res = h.handle_sync(std::move(req));
//   // for a WebSocket upgrade under /api/rivet:
//   rivetkit::websocket_upgrade up = h.upgrade_sync(std::move(req));
//   // if up.reject: send *up.reject; else answer 101 with up.protocol (when non-empty) and
//   // up.headers, then wrap the socket in a rivetkit::websocket and call up.on_open(socket).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rivetkit/http.hpp"
#include "rivetkit/task.hpp"
#include "rivetkit/websocket.hpp"

namespace rivetkit {

namespace detail {
class router;
}

struct handler_options {
    /// The path prefix every route sits under: "/" (none) or e.g. "/api/rivet". Requests
    /// outside it answer 404.
    std::string base_path = "/";
    /// Largest action request or WebSocket message accepted (the reference's 64 KiB).
    std::size_t max_incoming_message_bytes = 64 * 1024;
    /// Largest action result sent (the reference's 1 MiB).
    std::size_t max_outgoing_message_bytes = 1024 * 1024;
    /// Test mode: also serve the /.test/* endpoints the official driver test suite's `inline`
    /// client uses (docs/server.md). They reach any actor without the gateway; never enable it
    /// in production.
    bool test_mode = false;
};

/// How to answer a WebSocket upgrade request.
struct websocket_upgrade {
    /// When set, refuse the upgrade with this response.
    std::optional<http_response> reject;
    /// The subprotocol to select in the 101 response (Sec-WebSocket-Protocol); empty: none.
    std::string protocol;
    /// Extra headers for the 101 response.
    http_headers headers;
    /// Largest message the socket should accept from the peer; 0: the server's default.
    std::size_t max_message_bytes = 0;
    /// Call once the 101 has been sent, with the open socket, before handling its messages.
    std::function<void(std::shared_ptr<websocket>)> on_open;
};

class handler {
public:
    /// Answers a request. `request.path` is the full path as received (base path included).
    [[nodiscard]] task<http_response> handle(http_request request) const;
    /// Decides a WebSocket upgrade request (a GET with `Upgrade: websocket`).
    [[nodiscard]] task<websocket_upgrade> upgrade(http_request request) const;

    /// Blocking forms for synchronous servers. They must not run on one of the registry's io
    /// threads (rivetkit::blocking_call_error).
    [[nodiscard]] http_response handle_sync(http_request request) const;
    [[nodiscard]] websocket_upgrade upgrade_sync(http_request request) const;

    explicit handler(std::shared_ptr<detail::router> r) noexcept : router_(std::move(r)) {}

private:
    std::shared_ptr<detail::router> router_;
};

}  // namespace rivetkit
