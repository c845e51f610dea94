#pragma once
// The Rivet Engine runner protocol, version 5 (engine-protocol.md §1; schema
// runner-protocol.v5.bare), as spoken by RivetKit 2.0.33 and the engine of the same tag. Plain
// structs for every schema type and BARE (de)serialisers for the top-level unions. Pure functions
// over bytes, no I/O.
//
// Type mapping: struct -> struct with snake_case fields in wire order; union -> std::variant
// whose alternatives are in declaration order (the variant index is the wire tag); void ->
// an empty struct; enum -> enum class; u16/u32/u64/i64 -> the <cstdint> type; str, Id, Json ->
// std::string (UTF-8); data, KvKey, KvValue -> rivetkit::bytes; data[4] (GatewayId, RequestId)
// -> bytes4; MessageIndex -> std::uint16_t; optional<T> -> std::optional<T>; list<T> ->
// std::vector<T>; map<str><V> -> string_map<V>, a vector of pairs: entries are written in vector
// order, as @bare-ts writes a JS Map in insertion order, so encode(decode(b)) == b. A top-level
// `list<T>` alias that is a union member (ToServerEvents, ToClientCommands) is a struct holding
// the vector, so every variant alternative is a distinct type.
//
// Framing (§1.1): ToServer and ToClient travel as WebSocket binary frames holding exactly one
// BARE value with no version prefix (the version is the URL's protocol_version=5).
// ToServerlessServer (the serverless SSE init packet), ToRunner and ToGateway (engine-internal
// pub/sub) and ActorCommandKeyData (engine storage) carry the vbare prefix: u16 LE version, then
// the body. We write version 5 and read only version 5.
//
// Decoders never trust the input: truncation, an unknown union tag or enum value, a bool or
// optional byte other than 0/1, invalid UTF-8, a non-canonical LEB128, a duplicated map key,
// trailing bytes or a wrong version prefix throw errors::malformed_message. These are the checks
// the official @rivetkit/engine-runner-protocol decoders make. Encoders throw
// std::invalid_argument for values the official decoders would refuse: a string that is not
// valid UTF-8, a map with a duplicated key, an out-of-range stop_code, a valueless variant.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "rivetkit/value.hpp"

namespace rivetkit::runner_protocol {

/// The protocol version this codec speaks (URL `protocol_version`, vbare prefix).
inline constexpr std::uint16_t protocol_version = 5;

/// BARE `data[4]`: GatewayId, RequestId.
using bytes4 = std::array<std::uint8_t, 4>;

/// BARE `map<str><V>`, in wire order. Keys must be unique.
template <class V>
using string_map = std::vector<std::pair<std::string, V>>;

// ---- KV -------------------------------------------------------------------------------------

struct kv_metadata {
    bytes version;
    std::int64_t update_ts = 0;
    friend bool operator==(const kv_metadata&, const kv_metadata&) = default;
};

struct kv_list_all_query {
    friend bool operator==(const kv_list_all_query&, const kv_list_all_query&) = default;
};
struct kv_list_range_query {
    bytes start;
    bytes end;
    bool exclusive = false;
    friend bool operator==(const kv_list_range_query&, const kv_list_range_query&) = default;
};
struct kv_list_prefix_query {
    bytes key;
    friend bool operator==(const kv_list_prefix_query&, const kv_list_prefix_query&) = default;
};
using kv_list_query = std::variant<kv_list_all_query, kv_list_range_query, kv_list_prefix_query>;

struct kv_get_request {
    std::vector<bytes> keys;
    friend bool operator==(const kv_get_request&, const kv_get_request&) = default;
};
struct kv_list_request {
    kv_list_query query;
    std::optional<bool> reverse;
    std::optional<std::uint64_t> limit;
    friend bool operator==(const kv_list_request&, const kv_list_request&) = default;
};
struct kv_put_request {
    std::vector<bytes> keys;
    std::vector<bytes> values;
    friend bool operator==(const kv_put_request&, const kv_put_request&) = default;
};
struct kv_delete_request {
    std::vector<bytes> keys;
    friend bool operator==(const kv_delete_request&, const kv_delete_request&) = default;
};
struct kv_drop_request {
    friend bool operator==(const kv_drop_request&, const kv_drop_request&) = default;
};

struct kv_error_response {
    std::string message;
    friend bool operator==(const kv_error_response&, const kv_error_response&) = default;
};
struct kv_get_response {
    std::vector<bytes> keys;
    std::vector<bytes> values;
    std::vector<kv_metadata> metadata;
    friend bool operator==(const kv_get_response&, const kv_get_response&) = default;
};
struct kv_list_response {
    std::vector<bytes> keys;
    std::vector<bytes> values;
    std::vector<kv_metadata> metadata;
    friend bool operator==(const kv_list_response&, const kv_list_response&) = default;
};
struct kv_put_response {
    friend bool operator==(const kv_put_response&, const kv_put_response&) = default;
};
struct kv_delete_response {
    friend bool operator==(const kv_delete_response&, const kv_delete_response&) = default;
};
struct kv_drop_response {
    friend bool operator==(const kv_drop_response&, const kv_drop_response&) = default;
};

using kv_request_data =
    std::variant<kv_get_request, kv_list_request, kv_put_request, kv_delete_request, kv_drop_request>;
using kv_response_data = std::variant<kv_error_response, kv_get_response, kv_list_response, kv_put_response,
                                      kv_delete_response, kv_drop_response>;

// ---- actors ---------------------------------------------------------------------------------

enum class stop_code : std::uint8_t { ok = 0, error = 1 };

struct actor_name {
    std::string metadata;  // Json
    friend bool operator==(const actor_name&, const actor_name&) = default;
};

struct actor_config {
    std::string name;
    std::optional<std::string> key;
    std::int64_t create_ts = 0;
    std::optional<bytes> input;
    friend bool operator==(const actor_config&, const actor_config&) = default;
};

struct actor_checkpoint {
    std::string actor_id;
    std::uint32_t generation = 0;
    std::int64_t index = 0;
    friend bool operator==(const actor_checkpoint&, const actor_checkpoint&) = default;
};

struct actor_intent_sleep {
    friend bool operator==(const actor_intent_sleep&, const actor_intent_sleep&) = default;
};
struct actor_intent_stop {
    friend bool operator==(const actor_intent_stop&, const actor_intent_stop&) = default;
};
using actor_intent = std::variant<actor_intent_sleep, actor_intent_stop>;

struct actor_state_running {
    friend bool operator==(const actor_state_running&, const actor_state_running&) = default;
};
struct actor_state_stopped {
    stop_code code = stop_code::ok;
    std::optional<std::string> message;
    friend bool operator==(const actor_state_stopped&, const actor_state_stopped&) = default;
};
using actor_state = std::variant<actor_state_running, actor_state_stopped>;

// ---- events ---------------------------------------------------------------------------------

struct event_actor_intent {
    actor_intent intent;
    friend bool operator==(const event_actor_intent&, const event_actor_intent&) = default;
};
struct event_actor_state_update {
    actor_state state;
    friend bool operator==(const event_actor_state_update&, const event_actor_state_update&) = default;
};
struct event_actor_set_alarm {
    std::optional<std::int64_t> alarm_ts;
    friend bool operator==(const event_actor_set_alarm&, const event_actor_set_alarm&) = default;
};
using event = std::variant<event_actor_intent, event_actor_state_update, event_actor_set_alarm>;

struct event_wrapper {
    actor_checkpoint checkpoint;
    event inner;
    friend bool operator==(const event_wrapper&, const event_wrapper&) = default;
};

// ---- commands -------------------------------------------------------------------------------

struct hibernating_request {
    bytes4 gateway_id{};
    bytes4 request_id{};
    friend bool operator==(const hibernating_request&, const hibernating_request&) = default;
};

struct command_start_actor {
    actor_config config;
    std::vector<hibernating_request> hibernating_requests;
    friend bool operator==(const command_start_actor&, const command_start_actor&) = default;
};
struct command_stop_actor {
    friend bool operator==(const command_stop_actor&, const command_stop_actor&) = default;
};
using command = std::variant<command_start_actor, command_stop_actor>;

struct command_wrapper {
    actor_checkpoint checkpoint;
    command inner;
    friend bool operator==(const command_wrapper&, const command_wrapper&) = default;
};

/// The schema redeclares Command as ActorCommandKeyData (engine storage); same members, same
/// tags, hence the same C++ type.
using actor_command_key_data = command;

// ---- tunnel ---------------------------------------------------------------------------------

struct message_id {
    bytes4 gateway_id{};           // globally unique
    bytes4 request_id{};           // unique to the gateway
    std::uint16_t message_index = 0;  // unique to the request
    friend bool operator==(const message_id&, const message_id&) = default;
};

// HTTP
struct to_client_request_start {
    std::string actor_id;
    std::string method;
    std::string path;
    string_map<std::string> headers;
    std::optional<bytes> body;
    bool stream = false;
    friend bool operator==(const to_client_request_start&, const to_client_request_start&) = default;
};
struct to_client_request_chunk {
    bytes body;
    bool finish = false;
    friend bool operator==(const to_client_request_chunk&, const to_client_request_chunk&) = default;
};
struct to_client_request_abort {
    friend bool operator==(const to_client_request_abort&, const to_client_request_abort&) = default;
};
struct to_server_response_start {
    std::uint16_t status = 0;
    string_map<std::string> headers;
    std::optional<bytes> body;
    bool stream = false;
    friend bool operator==(const to_server_response_start&, const to_server_response_start&) = default;
};
struct to_server_response_chunk {
    bytes body;
    bool finish = false;
    friend bool operator==(const to_server_response_chunk&, const to_server_response_chunk&) = default;
};
struct to_server_response_abort {
    friend bool operator==(const to_server_response_abort&, const to_server_response_abort&) = default;
};

// WebSocket
struct to_client_web_socket_open {
    std::string actor_id;
    std::string path;
    string_map<std::string> headers;
    friend bool operator==(const to_client_web_socket_open&, const to_client_web_socket_open&) = default;
};
struct to_client_web_socket_message {
    bytes data;
    bool binary = false;
    friend bool operator==(const to_client_web_socket_message&, const to_client_web_socket_message&) = default;
};
struct to_client_web_socket_close {
    std::optional<std::uint16_t> code;
    std::optional<std::string> reason;
    friend bool operator==(const to_client_web_socket_close&, const to_client_web_socket_close&) = default;
};
struct to_server_web_socket_open {
    bool can_hibernate = false;
    friend bool operator==(const to_server_web_socket_open&, const to_server_web_socket_open&) = default;
};
struct to_server_web_socket_message {
    bytes data;
    bool binary = false;
    friend bool operator==(const to_server_web_socket_message&, const to_server_web_socket_message&) = default;
};
struct to_server_web_socket_message_ack {
    std::uint16_t index = 0;  // MessageIndex
    friend bool operator==(const to_server_web_socket_message_ack&,
                           const to_server_web_socket_message_ack&) = default;
};
struct to_server_web_socket_close {
    std::optional<std::uint16_t> code;
    std::optional<std::string> reason;
    bool hibernate = false;
    friend bool operator==(const to_server_web_socket_close&, const to_server_web_socket_close&) = default;
};

using to_server_tunnel_message_kind =
    std::variant<to_server_response_start, to_server_response_chunk, to_server_response_abort,
                 to_server_web_socket_open, to_server_web_socket_message, to_server_web_socket_message_ack,
                 to_server_web_socket_close>;

struct to_server_tunnel_message {
    runner_protocol::message_id message_id;
    to_server_tunnel_message_kind message_kind;
    friend bool operator==(const to_server_tunnel_message&, const to_server_tunnel_message&) = default;
};

using to_client_tunnel_message_kind =
    std::variant<to_client_request_start, to_client_request_chunk, to_client_request_abort,
                 to_client_web_socket_open, to_client_web_socket_message, to_client_web_socket_close>;

struct to_client_tunnel_message {
    runner_protocol::message_id message_id;
    to_client_tunnel_message_kind message_kind;
    friend bool operator==(const to_client_tunnel_message&, const to_client_tunnel_message&) = default;
};

struct to_client_ping {
    std::int64_t ts = 0;
    friend bool operator==(const to_client_ping&, const to_client_ping&) = default;
};

// ---- runner -> engine -----------------------------------------------------------------------

struct to_server_init {
    std::string name;
    std::uint32_t version = 0;
    std::uint32_t total_slots = 0;
    std::optional<string_map<actor_name>> prepopulate_actor_names;
    std::optional<std::string> metadata;  // Json
    friend bool operator==(const to_server_init&, const to_server_init&) = default;
};

/// ToServerEvents = list<EventWrapper>.
struct to_server_events {
    std::vector<event_wrapper> events;
    friend bool operator==(const to_server_events&, const to_server_events&) = default;
};

struct to_server_ack_commands {
    std::vector<actor_checkpoint> last_command_checkpoints;
    friend bool operator==(const to_server_ack_commands&, const to_server_ack_commands&) = default;
};

struct to_server_stopping {
    friend bool operator==(const to_server_stopping&, const to_server_stopping&) = default;
};

struct to_server_pong {
    std::int64_t ts = 0;
    friend bool operator==(const to_server_pong&, const to_server_pong&) = default;
};

struct to_server_kv_request {
    std::string actor_id;
    std::uint32_t request_id = 0;
    kv_request_data data;
    friend bool operator==(const to_server_kv_request&, const to_server_kv_request&) = default;
};

using to_server = std::variant<to_server_init, to_server_events, to_server_ack_commands, to_server_stopping,
                               to_server_pong, to_server_kv_request, to_server_tunnel_message>;

// ---- engine -> runner -----------------------------------------------------------------------

struct protocol_metadata {
    std::int64_t runner_lost_threshold = 0;
    friend bool operator==(const protocol_metadata&, const protocol_metadata&) = default;
};

struct to_client_init {
    std::string runner_id;
    protocol_metadata metadata;
    friend bool operator==(const to_client_init&, const to_client_init&) = default;
};

/// ToClientCommands = list<CommandWrapper>.
struct to_client_commands {
    std::vector<command_wrapper> commands;
    friend bool operator==(const to_client_commands&, const to_client_commands&) = default;
};

struct to_client_ack_events {
    std::vector<actor_checkpoint> last_event_checkpoints;
    friend bool operator==(const to_client_ack_events&, const to_client_ack_events&) = default;
};

struct to_client_kv_response {
    std::uint32_t request_id = 0;
    kv_response_data data;
    friend bool operator==(const to_client_kv_response&, const to_client_kv_response&) = default;
};

using to_client = std::variant<to_client_init, to_client_commands, to_client_ack_events, to_client_kv_response,
                               to_client_tunnel_message, to_client_ping>;

// ---- engine internals: to runner, to gateway ------------------------------------------------

struct to_runner_ping {
    bytes4 gateway_id{};
    bytes4 request_id{};
    std::int64_t ts = 0;
    friend bool operator==(const to_runner_ping&, const to_runner_ping&) = default;
};
struct to_runner_close {
    friend bool operator==(const to_runner_close&, const to_runner_close&) = default;
};
using to_runner =
    std::variant<to_runner_ping, to_runner_close, to_client_commands, to_client_ack_events, to_client_tunnel_message>;

struct to_gateway_pong {
    bytes4 request_id{};
    std::int64_t ts = 0;
    friend bool operator==(const to_gateway_pong&, const to_gateway_pong&) = default;
};
using to_gateway = std::variant<to_gateway_pong, to_server_tunnel_message>;

// ---- serverless -----------------------------------------------------------------------------

struct to_serverless_server_init {
    std::string runner_id;
    std::uint16_t runner_protocol_version = 0;
    friend bool operator==(const to_serverless_server_init&, const to_serverless_server_init&) = default;
};
using to_serverless_server = std::variant<to_serverless_server_init>;

// ---- codecs ---------------------------------------------------------------------------------

// WebSocket frames: the BARE value alone.
[[nodiscard]] bytes encode_to_server(const to_server& message);
[[nodiscard]] to_server decode_to_server(std::span<const std::uint8_t> frame);
[[nodiscard]] bytes encode_to_client(const to_client& message);
[[nodiscard]] to_client decode_to_client(std::span<const std::uint8_t> frame);

// vbare framing: u16 LE protocol_version + the BARE value; decoders require version 5.
[[nodiscard]] bytes encode_to_serverless_server(const to_serverless_server& message);
[[nodiscard]] to_serverless_server decode_to_serverless_server(std::span<const std::uint8_t> payload);
[[nodiscard]] bytes encode_to_runner(const to_runner& message);
[[nodiscard]] to_runner decode_to_runner(std::span<const std::uint8_t> payload);
[[nodiscard]] bytes encode_to_gateway(const to_gateway& message);
[[nodiscard]] to_gateway decode_to_gateway(std::span<const std::uint8_t> payload);
[[nodiscard]] bytes encode_actor_command_key_data(const actor_command_key_data& data);
[[nodiscard]] actor_command_key_data decode_actor_command_key_data(std::span<const std::uint8_t> payload);

}  // namespace rivetkit::runner_protocol
