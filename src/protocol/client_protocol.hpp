#pragma once
// The client protocol of RivetKit 2.0.33 (client-protocol.md §3-5): the WebSocket messages
// (ToServer / ToClient) and the HTTP action and error bodies, in the three encodings. Pure
// functions over bytes, no I/O.
//
// Encodings:
//   json  the JSON-compat object tree (common/json.hpp): {"body":{"tag":"ActionRequest","val":
//         {...}}}, ids as ["$BigInt","N"], user values inline.
//   cbor  the same object tree as cbor-x writes it (common/cbor.hpp): maps with b9 heads, ids as
//         8-byte 1b integers, user values inline.
//   bare  u16 LE version prefix + the BARE struct; user values (args, output, metadata) are one
//         CBOR item inside a `data` field. We emit version 2 (both the 2.0.33 and 2.3 clients
//         read it) and accept versions 1..4 (v1 Init carries a connectionToken, v4 Error and
//         HttpResponseError a trailing optional actor specifier; both are dropped).
//
// Decoding is strict about the envelope and never trusts the input: every failure (bad bytes,
// unknown tag or BARE version, missing or mistyped field, trailing bytes, non-array args) throws
// errors::malformed_message with a message saying what was wrong. Ids may arrive as a bigint or
// as a non-negative integer; anything else is refused. Unknown extra keys in JSON/CBOR objects
// are ignored (zod strips them). A missing `output` reads as undefined: the reference server
// writes {} for a void action in JSON (§1.5 QUIRK).
//
// CBOR user values (the cbor envelope's args/output/metadata and every BARE `data` field) are
// passed through revive_cbor_compat(), so the CBOR-compat tagging of rivetkit 2.3.x clients
// (§7) arrives as the values it stands for. Encoders write plain cbor-x values, which both
// client generations read.
//
// Encoders take strings as valid UTF-8 (every decoded string is). Ids above INT64_MAX can be
// written in every encoding but read back only from BARE: the value model's bigint is 64-bit
// signed, so the JSON and CBOR decoders refuse them (JS clients count ids up from 0).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "rivetkit/error.hpp"
#include "rivetkit/value.hpp"

namespace rivetkit::protocol {

enum class encoding : std::uint8_t { json, cbor, bare };

/// "json" | "cbor" | "bare", exactly (the x-rivet-encoding header, the rivet_encoding.{enc}
/// subprotocol suffix).
[[nodiscard]] std::optional<encoding> parse_encoding(std::string_view text) noexcept;
[[nodiscard]] std::string_view to_string(encoding e) noexcept;

/// Content-Type of bodies in this encoding: application/json or application/octet-stream.
[[nodiscard]] std::string_view content_type(encoding e) noexcept;
/// WebSocket frame type the server sends: text for json, binary otherwise (§3.1). Both sides
/// accept either type on input.
[[nodiscard]] constexpr bool uses_text_frames(encoding e) noexcept { return e == encoding::json; }

/// The BARE version we emit, and the range we accept.
inline constexpr std::uint16_t bare_emitted_version = 2;
inline constexpr std::uint16_t bare_min_version = 1;
inline constexpr std::uint16_t bare_max_version = 4;

// ---- client -> server -----------------------------------------------------------------------

struct action_request {
    std::uint64_t id = 0;
    std::string name;
    array args;
    friend bool operator==(const action_request&, const action_request&) = default;
};

struct subscription_request {
    std::string event_name;
    bool subscribe = false;
    friend bool operator==(const subscription_request&, const subscription_request&) = default;
};

using to_server = std::variant<action_request, subscription_request>;

// ---- server -> client -----------------------------------------------------------------------

struct init_message {
    std::string actor_id;
    std::string connection_id;
    friend bool operator==(const init_message&, const init_message&) = default;
};

struct error_message {
    std::string group;
    std::string code;
    std::string message;
    value metadata;  // undefined = absent (any other value, null included, is sent)
    std::optional<std::uint64_t> action_id;  // nullopt: a connection-level error
    friend bool operator==(const error_message&, const error_message&) = default;
};

struct action_response {
    std::uint64_t id = 0;
    value output;
    friend bool operator==(const action_response&, const action_response&) = default;
};

struct event_message {
    std::string name;
    array args;
    friend bool operator==(const event_message&, const event_message&) = default;
};

using to_client = std::variant<init_message, error_message, action_response, event_message>;

// ---- WebSocket messages ---------------------------------------------------------------------

[[nodiscard]] std::string encode_to_client(encoding e, const to_client& message);
[[nodiscard]] to_client decode_to_client(encoding e, std::string_view payload);
[[nodiscard]] std::string encode_to_server(encoding e, const to_server& message);
[[nodiscard]] to_server decode_to_server(encoding e, std::string_view payload);

// ---- HTTP bodies (POST /gateway/{id}/action/{name}) -----------------------------------------

/// {"args":[...]}; args must be an array.
[[nodiscard]] array decode_http_action_request(encoding e, std::string_view body);
[[nodiscard]] std::string encode_http_action_request(encoding e, const array& args);

/// {"output":...}. The key is always written, so every client version accepts a void action:
/// json writes null for undefined (JSON cannot say undefined, and dropping the key fails the
/// 2.0.33 client's zod check, §1.5); cbor and bare write undefined (f7), which cbor-x reads back
/// as a present `output: undefined` key (zod 4 only rejects an absent key), so the JS caller
/// gets exactly undefined.
[[nodiscard]] std::string encode_http_action_response(encoding e, const value& output);
[[nodiscard]] value decode_http_action_response(encoding e, std::string_view body);

/// The HttpResponseError body (§4.2). json omits metadata when undefined; cbor writes
/// "metadata": undefined (f7) then, as the reference does; bare uses optional<data>.
[[nodiscard]] std::string encode_http_error(encoding e, const client_error& error);
/// The status is not in the body: http_status is set from the error catalogue's table for
/// group/code (500 for internal/*), and a caller that has the real status should use it.
[[nodiscard]] client_error decode_http_error(encoding e, std::string_view body);

// ---- CBOR-compat (rivetkit 2.3.x) ------------------------------------------------------------

/// Revives the tagged arrays rivetkit 2.3.x clients put into CBOR user values (§7), bottom-up:
///   ["$BigInt","<decimal int64>"]        -> bigint
///   ["$Uint8Array"|"$ArrayBuffer",<b64>] -> binary
///   ["$Undefined",0]                     -> undefined
///   ["$Set",[...]]                       -> array (a Set is an array in the value model, as
///                                           cbor-x's tag 258 is)
/// Anything else is left as it is: other "$" heads, a known head with a payload of the wrong
/// shape, and escaped user data such as ["$$foo",1]. Not unescaping "$$" is deliberate: a
/// 2.0.33 client (plain cbor-x) sends ["$$foo",1] for itself, so unescaping would corrupt its
/// data; and when an actor echoes a 2.3 client's value back, the client's own decoder removes
/// the escape. The cost is that a 2.0.33 client's literal ["$BigInt","5"] arrives as a bigint,
/// and an actor sees a 2.3 client's ["$foo",1] as ["$$foo",1].
[[nodiscard]] value revive_cbor_compat(value v);
/// cbor::decode followed by revive_cbor_compat: how every CBOR user value is read.
[[nodiscard]] value decode_cbor_user_value(std::span<const std::uint8_t> in);

}  // namespace rivetkit::protocol
