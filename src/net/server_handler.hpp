#pragma once
// The contract between the HTTP/1.1 server (http_server.hpp) and what it serves (the RivetKit
// router, or a test). The server parses requests, enforces limits and timeouts, and writes
// replies; the handler decides what each request means.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rivetkit/handler.hpp"
#include "rivetkit/http.hpp"
#include "rivetkit/task.hpp"
#include "rivetkit/websocket.hpp"

namespace rivetkit::net {

class sse_writer;

/// The answer to an ordinary request.
struct reply {
    http_response response;
    /// When set, the response head is sent without Content-Length (the body of `response` is
    /// ignored), then `stream` writes a text/event-stream body; the connection closes when it
    /// returns or the peer goes away.
    std::function<task<void>(sse_writer&)> stream;
};

/// The answer to a WebSocket upgrade request (a GET that passed the RFC 6455 handshake checks):
/// the public rivetkit::websocket_upgrade (rivetkit/handler.hpp).
using upgrade_reply = websocket_upgrade;

class server_handler {
public:
    virtual ~server_handler() = default;
    /// A complete request (body read in full).
    virtual task<reply> handle(http_request request) = 0;
    /// A WebSocket upgrade request. The request's body is empty.
    virtual task<upgrade_reply> upgrade(http_request request) = 0;
};

}  // namespace rivetkit::net
