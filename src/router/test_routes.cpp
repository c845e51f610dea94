// The test-mode endpoints (handler_options::test_mode): what the official driver test suite's
// `inline` client uses to reach the server's in-process manager (driver-test-suite.md §1.4).
//
//   POST /.test/inline-driver/call                 CBOR {encoding, method, args: [input]} ->
//                                                  CBOR {ok: output} or {err: {group, code, ...}}
//   ANY  /.test/inline-driver/send-request/<path>  header x-rivet-actor: the actor's router
//   WS   /.test/inline-driver/connect-websocket/ws subprotocols rivet_actor.<id>, test_path.<path>
//   POST /.test/force-disconnect?actor=<id>&conn=<id>  drops a connection without a close frame
//
// Outside test mode none of them exists: /.test/* answers 404.

#include "router/router.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // see router.cpp
#endif

#include <algorithm>
#include <exception>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "common/cbor.hpp"
#include "rivetkit/detail/instance.hpp"
#include "rivetkit/error.hpp"
#include "router/http_util.hpp"
#include "router/sockets.hpp"

namespace rivetkit::detail {

namespace {

constexpr std::string_view call_path = "/.test/inline-driver/call";
constexpr std::string_view send_request_prefix = "/.test/inline-driver/send-request/";
constexpr std::string_view connect_websocket_prefix = "/.test/inline-driver/connect-websocket/";
constexpr std::string_view force_disconnect_path = "/.test/force-disconnect";

http_response text(std::string body, int status) {
    http_response res;
    res.status = status;
    res.headers.emplace_back("content-type", "text/plain; charset=UTF-8");
    res.body = std::move(body);
    return res;
}

http_response cbor_reply(const value& v) {
    http_response res;
    auto encoded = cbor::encode(v);
    res.body.assign(encoded.begin(), encoded.end());
    res.headers.emplace_back("content-type", "application/cbor");
    return res;
}

/// The ManagerDriver's ActorOutput: {actorId, name, key}.
value actor_output(const actor_record& r) {
    array key;
    for (const auto& part : r.key) key.emplace_back(part);
    return object{{"actorId", r.actor_id}, {"name", r.name}, {"key", std::move(key)}};
}

const std::string& string_member(const object& o, std::string_view name) {
    const auto* v = o.find(name);
    if (!v || !v->is_string()) throw errors::invalid_request(fmt::format("'{}' must be a string", name));
    return v->as_string();
}

actor_key key_member(const object& o) {
    const auto* v = o.find("key");
    actor_key key;
    if (!v || v->is_nullish()) return key;
    if (!v->is_array()) throw errors::invalid_request("'key' must be an array of strings");
    for (const auto& part : v->as_array()) {
        if (!part.is_string()) throw errors::invalid_request("'key' must be an array of strings");
        key.push_back(part.as_string());
    }
    return key;
}

create_request create_input(const object& o) {
    create_request req;
    req.name = string_member(o, "name");
    req.key = key_member(o);
    if (const auto* input = o.find("input")) req.input = *input;
    if (const auto* region = o.find("region"); region && region->is_string()) req.region = region->as_string();
    return req;
}

}  // namespace

bool router::is_test_path(std::string_view path) { return path == "/.test" || path.starts_with("/.test/"); }

task<http_response> router::route_test(std::string path, http_request request) {
    if (path == call_path && request.method == "POST") co_return co_await inline_call(std::move(request));
    if (path.starts_with(send_request_prefix)) {
        const auto* actor = request.header("x-rivet-actor");
        if (!actor) co_return text("Missing required headers", 400);
        actor_target target;
        target.actor_id = *actor;
        erase_header(request.headers, "x-rivet-actor");
        std::string rest = path.substr(send_request_prefix.size() - 1);  // keeps the leading '/'
        co_return co_await route_actor(std::move(target), std::move(rest), std::move(request));
    }
    if (path == force_disconnect_path && request.method == "POST") {
        co_return co_await force_disconnect(std::move(request));
    }
    co_return text("Not Found (RivetKit)", 404);
}

task<http_response> router::inline_call(http_request request) {
    value reply;
    try {
        const auto body = cbor::decode(
            std::span(reinterpret_cast<const std::uint8_t*>(request.body.data()), request.body.size()));
        if (!body.is_object()) throw errors::invalid_request("the body must be a CBOR map");
        const auto& o = body.as_object();
        const std::string& method = string_member(o, "method");
        const auto* args = o.find("args");
        if (!args || !args->is_array() || args->as_array().empty() || !args->as_array()[0].is_object()) {
            throw errors::invalid_request("'args' must be [input]");
        }
        const auto& input = args->as_array()[0].as_object();
        auto& m = core_->manager();
        value out;
        if (method == "getForId") {
            const std::string& name = string_member(input, "name");
            std::string id = string_member(input, "actorId");
            auto rec = co_await m.get_for_id(std::move(id));
            if (rec && rec->name == name) out = actor_output(*rec);
        } else if (method == "getWithKey") {
            // Arguments named first: no temporaries inside a co_await (the GCC 12 rule).
            std::string name = string_member(input, "name");
            actor_key key = key_member(input);
            auto rec = co_await m.get_with_key(std::move(name), std::move(key));
            if (rec) out = actor_output(*rec);
        } else if (method == "getOrCreateWithKey") {
            auto req = create_input(input);
            out = actor_output(co_await m.get_or_create_with_key(std::move(req)));
        } else if (method == "createActor") {
            auto req = create_input(input);
            out = actor_output(co_await m.create_actor(std::move(req)));
        } else if (method == "listActors") {
            std::string name = string_member(input, "name");
            const actor_key key = key_member(input);
            const bool by_key = input.find("key") && !input.find("key")->is_nullish();
            array list;
            auto records = co_await m.list_actors(std::move(name));
            for (const auto& rec : records) {
                if (!by_key || rec.key == key) list.push_back(actor_output(rec));
            }
            out = std::move(list);
        } else {
            throw errors::invalid_request(fmt::format("unknown inline driver method '{}'", method));
        }
        reply = object{{"ok", std::move(out)}};
    } catch (...) {
        auto e = std::current_exception();
        auto shown = to_client_error(e);
        if (shown.group == "internal") core_->log().error("inline driver call failed", {{"error", describe_exception(e)}});
        object err{{"group", shown.group}, {"code", shown.code}, {"message", shown.message}};
        if (!shown.metadata.is_undefined()) err.insert_or_assign("metadata", shown.metadata);
        reply = object{{"err", std::move(err)}};
    }
    co_return cbor_reply(reply);
}

task<http_response> router::force_disconnect(http_request request) {
    auto params = parse_query(request.query);
    const auto* actor = find_param(params, "actor");
    const auto* conn = find_param(params, "conn");
    if (!actor || !conn) co_return text("Missing actor or conn query parameters", 400);
    auto inst = co_await core_->manager().load_actor(*actor);
    auto terminate = [](std::shared_ptr<actor_instance> inst, std::string conn_id) -> task<bool> {
        const auto& conns = inst->connections();
        auto it = conns.find(conn_id);
        if (it == conns.end() || !it->second->transport) co_return false;
        it->second->transport->terminate();
        co_return true;
    };
    auto running = terminate(inst, *conn);
    const bool found = co_await asio::co_spawn(inst->strand(), std::move(running), asio::use_awaitable);
    if (!found) co_return text(fmt::format("Connection not found: {}", *conn), 404);
    http_response res;
    res.headers.emplace_back("content-type", "application/json");
    res.body = R"({"success":true})";
    co_return res;
}

std::optional<socket_request> inline_driver_socket(std::string_view path, const std::vector<std::string>& offered) {
    if (!path.starts_with(connect_websocket_prefix)) return std::nullopt;
    socket_request sr;
    sr.protocols = offered;
    std::optional<std::string> target_path;
    for (const auto& p : offered) {
        if (p.starts_with("rivet_actor.")) {
            auto id = percent_decode(std::string_view(p).substr(12));
            if (!id) throw errors::missing_actor_header();
            sr.target.actor_id = std::move(*id);
        } else if (p.starts_with("test_path.")) {
            target_path = percent_decode(std::string_view(p).substr(10));
            if (!target_path) throw errors::invalid_request("test_path is not percent-encoded UTF-8");
        }
    }
    if (sr.target.actor_id.empty()) throw errors::missing_actor_header();
    std::string full = target_path.value_or(std::string());
    if (!full.starts_with('/')) full.insert(full.begin(), '/');
    // The path may carry the raw WebSocket's query string.
    if (auto q = full.find('?'); q != std::string::npos) {
        sr.request.query = full.substr(q + 1);
        full.resize(q);
    }
    sr.path = std::move(full);
    return sr;
}

}  // namespace rivetkit::detail
