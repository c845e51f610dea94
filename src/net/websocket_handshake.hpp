#pragma once
// The RFC 6455 opening handshake (section 4), both sides. Pure functions over header values;
// the HTTP server and client do the I/O.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rivetkit/http.hpp"

namespace rivetkit::net {

/// The GUID appended to Sec-WebSocket-Key before hashing (RFC 6455 section 1.3).
inline constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// --- server side ---------------------------------------------------------------------------

/// A GET whose Upgrade header lists the token "websocket" (case-insensitive; comma lists and
/// repeated headers allowed). Such a request is answered as a handshake, valid or not.
[[nodiscard]] bool is_websocket_upgrade(const http_request& r);

/// nullopt when `r` is a valid client handshake: Connection lists "upgrade",
/// Sec-WebSocket-Version is 13, Sec-WebSocket-Key is the base64 of 16 bytes. Otherwise the
/// reason, for a 400 response.
[[nodiscard]] std::optional<std::string> check_websocket_upgrade(const http_request& r);

/// base64(SHA-1(key + GUID)): the Sec-WebSocket-Accept value for `sec_websocket_key`.
[[nodiscard]] std::string websocket_accept_key(std::string_view sec_websocket_key);

/// The subprotocols the client offers, in order: every Sec-WebSocket-Protocol header split on
/// ',' and trimmed; empty entries dropped.
[[nodiscard]] std::vector<std::string> offered_protocols(const http_request& r);

// --- client side ---------------------------------------------------------------------------

/// A fresh Sec-WebSocket-Key: base64 of 16 random bytes (OpenSSL's RNG).
[[nodiscard]] std::string make_websocket_key();

/// The headers a client adds to its GET to ask for an upgrade (Upgrade, Connection,
/// Sec-WebSocket-Key, Sec-WebSocket-Version and, when `protocols` is not empty,
/// Sec-WebSocket-Protocol).
[[nodiscard]] http_headers websocket_request_headers(std::string_view key,
                                                     std::span<const std::string> protocols = {});

/// Checks the server's answer to a handshake sent with `key` and offering `protocols`: status
/// 101, Upgrade "websocket", Connection "upgrade", the matching Sec-WebSocket-Accept, no
/// extension (none was offered), and a subprotocol only if one was offered and it is among
/// them. nullopt when the connection is open; otherwise the reason.
[[nodiscard]] std::optional<std::string> check_websocket_accept(int status, const http_headers& headers,
                                                                std::string_view key,
                                                                std::span<const std::string> protocols = {});

}  // namespace rivetkit::net
