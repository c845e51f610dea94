#pragma once
// WebSockets to actors: RivetKit-protocol connections (/connect) and raw sockets handed to
// on_websocket (/websocket/*).

#include <memory>
#include <string>
#include <vector>

#include "net/server_handler.hpp"
#include "router/router.hpp"

namespace rivetkit::detail {

struct socket_request {
    actor_target target;
    /// Below the actor: "/connect", "/websocket", "/websocket/...".
    std::string path;
    /// The offered subprotocols (encoding and params travel there).
    std::vector<std::string> protocols;
    /// The upgrade request; its query is what the actor sees.
    http_request request;
};

/// Accepts the upgrade; once open, the socket is attached to its actor (or closed with 1011 and
/// the error code as reason when that fails, as the reference does).
[[nodiscard]] net::upgrade_reply open_socket(std::shared_ptr<router> r, socket_request request);

}  // namespace rivetkit::detail
