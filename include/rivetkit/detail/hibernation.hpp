#pragma once
// Hibernatable WebSockets (engine driver; engine-protocol.md §4.4): a RivetKit connection whose
// socket stays open at the engine's gateway while its actor sleeps. The actor persists the
// connection (params, state, subscriptions and what is below) under KV key [2] + conn id and
// restores it on wake without on_connect; the gateway then resends the client messages the
// actor had not acknowledged. Not part of the public API.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rivetkit/value.hpp"

namespace rivetkit::detail {

/// KV keys of persisted connections: this byte, then the connection id (UTF-8).
inline constexpr std::uint8_t connection_key_prefix = 2;
[[nodiscard]] inline bytes connection_key(std::string_view conn_id) {
    // Sized first and filled in place (an insert into the one-byte vector makes GCC 12 at -O3
    // warn about a memcpy out of bounds, wrongly).
    bytes key(conn_id.size() + 1);
    key[0] = connection_key_prefix;
    std::copy(conn_id.begin(), conn_id.end(), key.begin() + 1);
    return key;
}

/// Whether message index `a` comes after `b` (u16, wrapping).
[[nodiscard]] constexpr bool index_after(std::uint16_t a, std::uint16_t b) noexcept {
    return a != b && static_cast<std::uint16_t>(a - b) < 0x8000;
}

/// What a hibernatable connection keeps besides its params, state and subscriptions.
struct hibernation_meta {
    // ---- persisted ----
    bytes gateway_id;  // 4 bytes each: the gateway request the socket is
    bytes request_id;
    /// The index of the next message the actor sends on the socket.
    std::uint16_t server_message_index = 0;
    /// The index of the last client message handed to the actor (0 is the open).
    std::uint16_t client_message_index = 0;
    /// The upgrade request (path with its query, and headers): the encoding is read from it again
    /// on restore.
    std::string request_path;
    std::vector<std::pair<std::string, std::string>> request_headers;

    // ---- bookkeeping of the actor (not persisted) ----
    /// The record must be written (new, or subscriptions changed).
    bool record_dirty = true;
    /// CBOR of the conn state and the client index as last written.
    bytes written_state;
    std::uint16_t written_client_index = 0;
    /// Bytes of client messages handed to the actor since the last write.
    std::size_t unwritten_bytes = 0;
};

/// A socket that can hibernate: the engine driver's tunnelled WebSockets implement it next to
/// rivetkit::websocket. Members may be called from any thread.
class hibernatable_socket {
public:
    virtual ~hibernatable_socket() = default;
    /// Whether the gateway was told this socket can hibernate (RivetKit connections can).
    [[nodiscard]] virtual bool can_hibernate() const noexcept = 0;
    [[nodiscard]] virtual bytes gateway_id() const = 0;
    [[nodiscard]] virtual bytes request_id() const = 0;
    /// The index the next message sent on this socket gets.
    [[nodiscard]] virtual std::uint16_t server_message_index() const = 0;
    /// The index of the oldest client message handed to the message handler and not taken yet:
    /// the handler takes one per message, in order.
    virtual std::uint16_t take_message_index() = 0;
    /// Tells the gateway that the client messages up to `index` are persisted (it keeps the
    /// others, to resend them after a sleep).
    virtual void acknowledge(std::uint16_t index) = 0;
    /// The actor sleeps: the socket is let go here without a close (the gateway keeps the
    /// client connected); no callback runs any more.
    virtual void hibernate() = 0;
};

}  // namespace rivetkit::detail
