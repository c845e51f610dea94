#pragma once
// WebSockets to actors: RivetKit-protocol connections (/connect) and raw sockets handed to
// on_websocket (/websocket/*).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/server_handler.hpp"
#include "rivetkit/detail/instance.hpp"
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

/// On the actor's strand: attaches a hibernatable connection restored on wake (c->hibernation
/// set, no transport) to its socket, as the same RivetKit connection (no Init, no on_connect).
void restore_socket(const std::shared_ptr<router>& r, const std::shared_ptr<actor_instance>& inst,
                    const std::shared_ptr<connection>& c, std::shared_ptr<websocket> ws);

/// Test mode (test_routes.cpp): the inline driver's /.test/inline-driver/connect-websocket/*,
/// whose actor and path travel as the rivet_actor.<id> and test_path.<path> subprotocols.
/// nullopt for any other path; `request.query` holds the query of the test path.
[[nodiscard]] std::optional<socket_request> inline_driver_socket(std::string_view path,
                                                                 const std::vector<std::string>& offered);

}  // namespace rivetkit::detail
