#include "rivetkit/error.hpp"

#include "common/utf8.hpp"

#include <fmt/format.h>

namespace rivetkit {

error::error(std::string group, std::string code, std::string message, value metadata,
             bool is_public)
    : std::runtime_error(fmt::format("{}/{}: {}", group, code, message)),
      group_(std::move(group)),
      code_(std::move(code)),
      message_(std::move(message)),
      metadata_(std::move(metadata)),
      public_(is_public) {}

int error::http_status() const noexcept {
    if (group_ == "handler" && code_ == "request_not_defined") return 404;
    if (group_ == "handler" && code_ == "websocket_not_defined") return 404;
    if (group_ == "handler" && code_ == "invalid_request_handler_response") return 500;
    if (group_ == "route" && code_ == "not_found") return 404;
    if (group_ == "feature" && code_ == "not_implemented") return 501;
    return public_ ? 400 : 500;
}

conversion_error::conversion_error(std::string path, std::string what_happened)
    : std::runtime_error(path.empty() ? what_happened : fmt::format("{}: {}", path, what_happened)),
      path_(std::move(path)),
      detail_(std::move(what_happened)) {}

conversion_error conversion_error::within(std::string_view segment) const {
    return conversion_error(std::string(segment) + path_, detail_);
}

std::string describe_exception(std::exception_ptr e) {
    try {
        if (e) std::rethrow_exception(e);
        return "no exception";
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "unknown exception";
    }
}

client_error to_client_error(const std::exception& e) {
    if (const auto* re = dynamic_cast<const error*>(&e); re != nullptr && re->is_public()) {
        // Messages may quote client input (a header, a parse error): keep them valid UTF-8.
        return {to_valid_utf8(re->group()), to_valid_utf8(re->code()), to_valid_utf8(re->message()), re->metadata(),
                re->http_status()};
    }
    // The reference sends an empty metadata object with a masked error (client-protocol.md §4.1).
    return {"internal", "internal_error", std::string(errors::internal_error_message), object{}, 500};
}

client_error to_client_error(std::exception_ptr e) {
    try {
        if (e) std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return to_client_error(ex);
    } catch (...) {
    }
    // The reference sends an empty metadata object with a masked error (client-protocol.md §4.1).
    return {"internal", "internal_error", std::string(errors::internal_error_message), object{}, 500};
}

namespace errors {
error internal(std::string message) {
    return error("actor", "internal_error", std::move(message), {}, false);
}
error action_not_found(std::string_view name) {
    return error("action", "not_found", fmt::format("Action '{}' not found", name));
}
error action_timed_out() {
    return error("action", "timed_out",
                 "Action timed out. This can be increased with: `options.action_timeout`");
}
error action_invalid_request(std::string message) {
    return error("action", "invalid_request", std::move(message));
}
error actor_not_found(std::string_view id_or_description) {
    return error("actor", "not_found", fmt::format("Actor not found: {}", id_or_description));
}
error actor_duplicate_key(std::string_view name, std::string_view key) {
    return error("actor", "duplicate_key",
                 fmt::format("Actor already exists with name '{}' and key '{}'", name, key));
}
error actor_stopping() { return error("actor", "stopping", "Actor is stopping"); }
error state_not_enabled() {
    return error("actor", "state_not_enabled", "State not enabled", {}, false);
}
error conn_state_not_enabled() {
    return error("actor", "conn_state_not_enabled", "Connection state not enabled", {}, false);
}
error vars_not_enabled() {
    return error("actor", "vars_not_enabled", "Variables not enabled", {}, false);
}
error invalid_encoding(std::string_view encoding) {
    return error("encoding", "invalid", fmt::format("Invalid encoding `{}`", encoding));
}
error incoming_too_long() { return error("message", "incoming_too_long", "Incoming message too long"); }
error outgoing_too_long() { return error("message", "outgoing_too_long", "Outgoing message too long"); }
error malformed_message(std::string message) {
    return error("message", "malformed", fmt::format("Malformed message: {}", message));
}
error invalid_params(std::string message) { return error("params", "invalid", std::move(message)); }
error invalid_request(std::string message) { return error("request", "invalid", std::move(message)); }
error missing_actor_header() {
    return error("request", "missing_actor_header", "Missing x-rivet-actor header (or rivet_actor.* subprotocol)");
}
error request_handler_not_defined() {
    return error("handler", "request_not_defined", "Raw request handler not defined");
}
error websocket_handler_not_defined() {
    return error("handler", "websocket_not_defined", "Raw websocket handler not defined");
}
error invalid_request_handler_response() {
    return error("handler", "invalid_request_handler_response",
                 "Actor's onRequest handler must return a Response");  // the reference's text
}
error unsupported(std::string message) {
    return error("feature", "unsupported", std::move(message), {}, false);
}
error not_implemented(std::string message) {
    return error("feature", "not_implemented", std::move(message));
}
}  // namespace errors

}  // namespace rivetkit
