#pragma once
// Errors of the protocol's kind: {group, code, message, metadata}.
//
// `rivetkit::user_error` is what actor code throws to send a meaningful error to a client; it
// arrives as group "user" with the given code and metadata. Every public rivetkit::error keeps
// its group/code/message on the wire; every other exception (and every non-public error) reaches
// clients as internal/internal_error and is logged in full on the server.

#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

#include "rivetkit/value.hpp"

namespace rivetkit {

class error : public std::runtime_error {
public:
    error(std::string group, std::string code, std::string message, value metadata = {},
          bool is_public = true);

    [[nodiscard]] const std::string& group() const noexcept { return group_; }
    [[nodiscard]] const std::string& code() const noexcept { return code_; }
    /// The message alone (what() is "group/code: message").
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    /// undefined when absent.
    [[nodiscard]] const value& metadata() const noexcept { return metadata_; }
    /// Public errors are shown to clients as they are; others become internal_error.
    [[nodiscard]] bool is_public() const noexcept { return public_; }
    /// The HTTP status this error answers with (reference table; 400 public, 500 otherwise).
    [[nodiscard]] int http_status() const noexcept;

private:
    std::string group_;
    std::string code_;
    std::string message_;
    value metadata_;
    bool public_;
};

/// An error thrown by actor code on purpose; clients see group "user" and `code`.
class user_error : public error {
public:
    explicit user_error(std::string message, std::string code = "user_error", value metadata = {})
        : error("user", std::move(code), std::move(message), std::move(metadata), true) {}
};

/// A value could not be converted to the requested C++ type. `path()` locates the offending
/// member ("[1].name"), empty for the root.
class conversion_error : public std::runtime_error {
public:
    conversion_error(std::string path, std::string what_happened);
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] const std::string& detail() const noexcept { return detail_; }
    /// Returns the same error with `segment` prepended to the path.
    [[nodiscard]] conversion_error within(std::string_view segment) const;

private:
    std::string path_;
    std::string detail_;
};

/// What a client is shown for an error (after masking non-public errors).
struct client_error {
    std::string group;
    std::string code;
    std::string message;
    value metadata;  // undefined when absent
    int http_status = 500;
};

/// The message of any exception (what() for std::exception), for logs.
[[nodiscard]] std::string describe_exception(std::exception_ptr e);

/// Masks any exception into what a client may see. Public rivetkit::error passes through;
/// everything else becomes internal/internal_error with a fixed message.
[[nodiscard]] client_error to_client_error(std::exception_ptr e);
[[nodiscard]] client_error to_client_error(const std::exception& e);

/// The reference's error catalogue. Each returns the error; throw it.
namespace errors {
inline constexpr std::string_view internal_error_message =
    "Internal error. Read the server logs for more details.";

[[nodiscard]] error internal(std::string message);
[[nodiscard]] error action_not_found(std::string_view name);
[[nodiscard]] error action_timed_out();
[[nodiscard]] error action_invalid_request(std::string message);
[[nodiscard]] error actor_not_found(std::string_view id_or_description);
[[nodiscard]] error actor_duplicate_key(std::string_view name, std::string_view key);
[[nodiscard]] error actor_stopping();
[[nodiscard]] error state_not_enabled();
[[nodiscard]] error conn_state_not_enabled();
[[nodiscard]] error vars_not_enabled();
[[nodiscard]] error invalid_encoding(std::string_view encoding);
[[nodiscard]] error incoming_too_long();
[[nodiscard]] error outgoing_too_long();
[[nodiscard]] error malformed_message(std::string message);
[[nodiscard]] error invalid_params(std::string message);
[[nodiscard]] error invalid_request(std::string message);
[[nodiscard]] error missing_actor_header();
[[nodiscard]] error request_handler_not_defined();
[[nodiscard]] error websocket_handler_not_defined();
[[nodiscard]] error invalid_request_handler_response();
[[nodiscard]] error unsupported(std::string message);
[[nodiscard]] error not_implemented(std::string message);
}  // namespace errors

}  // namespace rivetkit
