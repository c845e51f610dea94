#pragma once
// The registry's HTTP/WebSocket routing, as the reference's manager router does it
// (client-protocol.md §1): CORS, the gateway (path, header and query forms), the manager API
// (/actors ...) and the actor router (/action, /connect, /request, /websocket).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/server_handler.hpp"
#include "protocol/client_protocol.hpp"
#include "rivetkit/detail/registry_core.hpp"
#include "rivetkit/handler.hpp"
#include "rivetkit/key.hpp"
#include "rivetkit/value.hpp"

namespace rivetkit::detail {

/// Which actor a gateway request is for: an id, or (the newer clients' query form) a name and
/// key to get or create.
struct actor_target {
    std::string actor_id;
    bool by_query = false;
    bool create = false;  // rvt-method=getOrCreate
    std::string name;
    actor_key key;
    value input;
    std::string region;
};

class router final : public net::server_handler, public std::enable_shared_from_this<router> {
public:
    router(registry_core& core, handler_options options);

    task<net::reply> handle(http_request request) override;
    task<net::upgrade_reply> upgrade(http_request request) override;

    /// handle() for the public handler (no streaming replies there).
    task<http_response> respond(http_request request);
    [[nodiscard]] registry_core& core() noexcept { return *core_; }
    [[nodiscard]] const handler_options& options() const noexcept { return options_; }

    /// The actor id a target names, creating the actor for a getOrCreate query.
    task<std::string> resolve(actor_target target);

    /// A request for one actor whose path is already below the actor ("/action/x",
    /// "/request/...", "/", "/health"; the query in `request.query`): what the engine gateway
    /// tunnels to a runner. No CORS headers (the gateway adds them); errors answered as for a
    /// gateway request.
    task<http_response> respond_actor(std::string actor_id, http_request request);
    /// The same for a WebSocket upgrade ("/connect", "/websocket/..."); the offered
    /// subprotocols come from the request's Sec-WebSocket-Protocol header.
    net::upgrade_reply upgrade_actor(std::string actor_id, http_request request);

private:
    task<http_response> route(http_request request);
    /// route() below the base path; may throw (route() answers the error).
    task<http_response> choose_route(std::string path, http_request request);
    /// `routed`'s response, or the error it threw as a response.
    task<http_response> answer_errors(task<http_response> routed, protocol::encoding enc, std::string full_path);
    static task<http_response> ready_response(http_response response);
    task<http_response> route_actor(actor_target target, std::string path, http_request request);
    /// GET "/" or "/health" of an actor.
    task<http_response> actor_health(actor_target target, bool root);
    task<http_response> route_manager(std::string path, http_request request);
    /// With a serverless driver: GET /, /health, /metadata (GET /start is handle()'s).
    http_response route_serverless(const std::string& path, const http_request& request);
    static http_response health_response();
    /// GET /metadata; `runner_kind` "normal" or "serverless".
    http_response metadata_response(std::string_view runner_kind);
    task<http_response> action(actor_target target, std::string name, http_request request);
    task<http_response> raw_request(actor_target target, std::string path, http_request request);
    task<http_response> list_actors(const http_request& request);
    task<http_response> put_actor(const http_request& request);
    task<http_response> post_actor(const http_request& request);
    task<http_response> delete_actor(std::string actor_id);

    // Test mode only (test_routes.cpp).
    static bool is_test_path(std::string_view path);
    task<http_response> route_test(std::string path, http_request request);
    task<http_response> inline_call(http_request request);
    task<http_response> force_disconnect(http_request request);

    registry_core* core_;
    handler_options options_;
    std::string base_path_;  // normalised: "" or "/prefix" without a trailing '/'
};

}  // namespace rivetkit::detail
