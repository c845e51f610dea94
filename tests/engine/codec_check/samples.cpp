// Prints the runner protocol samples (tests/unit/engine/runner_protocol_samples.hpp), one JSON
// object per line: {"kind": ..., "hex": <our encoding>, "value": <the value as the official
// TypeScript codec represents it>}. check.mjs decodes each hex with @rivetkit/engine-runner-protocol,
// compares the result with "value" and re-encodes it, which must give the same bytes.
//
// "value" follows the generated TypeScript types: camelCase fields, unions as {tag, val} (val
// null for void members), optionals as null, StopCode as "Ok"/"Error", with the types JSON lacks
// spelled as {"$bigint": "<decimal>"} (i64/u64), {"$bytes": "<hex>"} (data, data[4]) and
// {"$map": [[key, value], ...]} (map, in wire order).

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <string>

#include "engine/runner_protocol_samples.hpp"
#include "protocol/runner_protocol.hpp"

namespace {

using json = nlohmann::json;
using namespace rivetkit::runner_protocol;
using rivetkit::bytes;

std::string hex(const std::uint8_t* p, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

// Scalars.
json js(bool v) { return v; }
json js(std::uint16_t v) { return v; }
json js(std::uint32_t v) { return v; }
json js(std::int64_t v) { return {{"$bigint", std::to_string(v)}}; }
json js(std::uint64_t v) { return {{"$bigint", std::to_string(v)}}; }
json js(const std::string& s) { return s; }
json js(const bytes& d) { return {{"$bytes", hex(d.data(), d.size())}}; }
json js(const bytes4& d) { return {{"$bytes", hex(d.data(), d.size())}}; }
json js(stop_code c) { return c == stop_code::ok ? "Ok" : "Error"; }

// Every struct, and each union member's schema name.
#define VOID_TYPE(type, name) \
    json js(const type&) { return nullptr; } \
    const char* tag(const type&) { return name; }
VOID_TYPE(kv_list_all_query, "KvListAllQuery")
VOID_TYPE(kv_drop_request, "KvDropRequest")
VOID_TYPE(kv_put_response, "KvPutResponse")
VOID_TYPE(kv_delete_response, "KvDeleteResponse")
VOID_TYPE(kv_drop_response, "KvDropResponse")
VOID_TYPE(actor_intent_sleep, "ActorIntentSleep")
VOID_TYPE(actor_intent_stop, "ActorIntentStop")
VOID_TYPE(actor_state_running, "ActorStateRunning")
VOID_TYPE(command_stop_actor, "CommandStopActor")
VOID_TYPE(to_client_request_abort, "ToClientRequestAbort")
VOID_TYPE(to_server_response_abort, "ToServerResponseAbort")
VOID_TYPE(to_server_stopping, "ToServerStopping")
VOID_TYPE(to_runner_close, "ToRunnerClose")
#undef VOID_TYPE

template <class T>
json js(const std::vector<T>& list);
template <class V>
json js(const string_map<V>& map);
template <class... Ts>
json js(const std::variant<Ts...>& v);
template <class T>
json js(const std::optional<T>& o) {
    return o ? js(*o) : json(nullptr);
}

json js(const kv_metadata& x) { return {{"version", js(x.version)}, {"updateTs", js(x.update_ts)}}; }
json js(const kv_list_range_query& x) {
    return {{"start", js(x.start)}, {"end", js(x.end)}, {"exclusive", js(x.exclusive)}};
}
json js(const kv_list_prefix_query& x) { return {{"key", js(x.key)}}; }
json js(const kv_get_request& x) { return {{"keys", js(x.keys)}}; }
json js(const kv_list_request& x) {
    return {{"query", js(x.query)}, {"reverse", js(x.reverse)}, {"limit", js(x.limit)}};
}
json js(const kv_put_request& x) { return {{"keys", js(x.keys)}, {"values", js(x.values)}}; }
json js(const kv_delete_request& x) { return {{"keys", js(x.keys)}}; }
json js(const kv_error_response& x) { return {{"message", js(x.message)}}; }
json js(const kv_get_response& x) {
    return {{"keys", js(x.keys)}, {"values", js(x.values)}, {"metadata", js(x.metadata)}};
}
json js(const kv_list_response& x) {
    return {{"keys", js(x.keys)}, {"values", js(x.values)}, {"metadata", js(x.metadata)}};
}
json js(const actor_name& x) { return {{"metadata", js(x.metadata)}}; }
json js(const actor_config& x) {
    return {{"name", js(x.name)}, {"key", js(x.key)}, {"createTs", js(x.create_ts)}, {"input", js(x.input)}};
}
json js(const actor_checkpoint& x) {
    return {{"actorId", js(x.actor_id)}, {"generation", js(x.generation)}, {"index", js(x.index)}};
}
json js(const actor_state_stopped& x) { return {{"code", js(x.code)}, {"message", js(x.message)}}; }
json js(const event_actor_intent& x) { return {{"intent", js(x.intent)}}; }
json js(const event_actor_state_update& x) { return {{"state", js(x.state)}}; }
json js(const event_actor_set_alarm& x) { return {{"alarmTs", js(x.alarm_ts)}}; }
json js(const event_wrapper& x) { return {{"checkpoint", js(x.checkpoint)}, {"inner", js(x.inner)}}; }
json js(const hibernating_request& x) { return {{"gatewayId", js(x.gateway_id)}, {"requestId", js(x.request_id)}}; }
json js(const command_start_actor& x) {
    return {{"config", js(x.config)}, {"hibernatingRequests", js(x.hibernating_requests)}};
}
json js(const command_wrapper& x) { return {{"checkpoint", js(x.checkpoint)}, {"inner", js(x.inner)}}; }
json js(const message_id& x) {
    return {{"gatewayId", js(x.gateway_id)}, {"requestId", js(x.request_id)}, {"messageIndex", js(x.message_index)}};
}
json js(const to_client_request_start& x) {
    return {{"actorId", js(x.actor_id)}, {"method", js(x.method)}, {"path", js(x.path)},
            {"headers", js(x.headers)},  {"body", js(x.body)},     {"stream", js(x.stream)}};
}
json js(const to_client_request_chunk& x) { return {{"body", js(x.body)}, {"finish", js(x.finish)}}; }
json js(const to_server_response_start& x) {
    return {{"status", js(x.status)}, {"headers", js(x.headers)}, {"body", js(x.body)}, {"stream", js(x.stream)}};
}
json js(const to_server_response_chunk& x) { return {{"body", js(x.body)}, {"finish", js(x.finish)}}; }
json js(const to_client_web_socket_open& x) {
    return {{"actorId", js(x.actor_id)}, {"path", js(x.path)}, {"headers", js(x.headers)}};
}
json js(const to_client_web_socket_message& x) { return {{"data", js(x.data)}, {"binary", js(x.binary)}}; }
json js(const to_client_web_socket_close& x) { return {{"code", js(x.code)}, {"reason", js(x.reason)}}; }
json js(const to_server_web_socket_open& x) { return {{"canHibernate", js(x.can_hibernate)}}; }
json js(const to_server_web_socket_message& x) { return {{"data", js(x.data)}, {"binary", js(x.binary)}}; }
json js(const to_server_web_socket_message_ack& x) { return {{"index", js(x.index)}}; }
json js(const to_server_web_socket_close& x) {
    return {{"code", js(x.code)}, {"reason", js(x.reason)}, {"hibernate", js(x.hibernate)}};
}
json js(const to_server_tunnel_message& x) {
    return {{"messageId", js(x.message_id)}, {"messageKind", js(x.message_kind)}};
}
json js(const to_client_tunnel_message& x) {
    return {{"messageId", js(x.message_id)}, {"messageKind", js(x.message_kind)}};
}
json js(const to_client_ping& x) { return {{"ts", js(x.ts)}}; }
json js(const to_server_init& x) {
    return {{"name", js(x.name)},
            {"version", js(x.version)},
            {"totalSlots", js(x.total_slots)},
            {"prepopulateActorNames", js(x.prepopulate_actor_names)},
            {"metadata", js(x.metadata)}};
}
json js(const to_server_events& x) { return js(x.events); }  // list<EventWrapper>
json js(const to_server_ack_commands& x) { return {{"lastCommandCheckpoints", js(x.last_command_checkpoints)}}; }
json js(const to_server_pong& x) { return {{"ts", js(x.ts)}}; }
json js(const to_server_kv_request& x) {
    return {{"actorId", js(x.actor_id)}, {"requestId", js(x.request_id)}, {"data", js(x.data)}};
}
json js(const protocol_metadata& x) { return {{"runnerLostThreshold", js(x.runner_lost_threshold)}}; }
json js(const to_client_init& x) { return {{"runnerId", js(x.runner_id)}, {"metadata", js(x.metadata)}}; }
json js(const to_client_commands& x) { return js(x.commands); }  // list<CommandWrapper>
json js(const to_client_ack_events& x) { return {{"lastEventCheckpoints", js(x.last_event_checkpoints)}}; }
json js(const to_client_kv_response& x) { return {{"requestId", js(x.request_id)}, {"data", js(x.data)}}; }
json js(const to_runner_ping& x) {
    return {{"gatewayId", js(x.gateway_id)}, {"requestId", js(x.request_id)}, {"ts", js(x.ts)}};
}
json js(const to_gateway_pong& x) { return {{"requestId", js(x.request_id)}, {"ts", js(x.ts)}}; }
json js(const to_serverless_server_init& x) {
    return {{"runnerId", js(x.runner_id)}, {"runnerProtocolVersion", js(x.runner_protocol_version)}};
}

const char* tag(const kv_list_range_query&) { return "KvListRangeQuery"; }
const char* tag(const kv_list_prefix_query&) { return "KvListPrefixQuery"; }
const char* tag(const kv_get_request&) { return "KvGetRequest"; }
const char* tag(const kv_list_request&) { return "KvListRequest"; }
const char* tag(const kv_put_request&) { return "KvPutRequest"; }
const char* tag(const kv_delete_request&) { return "KvDeleteRequest"; }
const char* tag(const kv_error_response&) { return "KvErrorResponse"; }
const char* tag(const kv_get_response&) { return "KvGetResponse"; }
const char* tag(const kv_list_response&) { return "KvListResponse"; }
const char* tag(const actor_state_stopped&) { return "ActorStateStopped"; }
const char* tag(const event_actor_intent&) { return "EventActorIntent"; }
const char* tag(const event_actor_state_update&) { return "EventActorStateUpdate"; }
const char* tag(const event_actor_set_alarm&) { return "EventActorSetAlarm"; }
const char* tag(const command_start_actor&) { return "CommandStartActor"; }
const char* tag(const to_client_request_start&) { return "ToClientRequestStart"; }
const char* tag(const to_client_request_chunk&) { return "ToClientRequestChunk"; }
const char* tag(const to_server_response_start&) { return "ToServerResponseStart"; }
const char* tag(const to_server_response_chunk&) { return "ToServerResponseChunk"; }
const char* tag(const to_client_web_socket_open&) { return "ToClientWebSocketOpen"; }
const char* tag(const to_client_web_socket_message&) { return "ToClientWebSocketMessage"; }
const char* tag(const to_client_web_socket_close&) { return "ToClientWebSocketClose"; }
const char* tag(const to_server_web_socket_open&) { return "ToServerWebSocketOpen"; }
const char* tag(const to_server_web_socket_message&) { return "ToServerWebSocketMessage"; }
const char* tag(const to_server_web_socket_message_ack&) { return "ToServerWebSocketMessageAck"; }
const char* tag(const to_server_web_socket_close&) { return "ToServerWebSocketClose"; }
const char* tag(const to_server_tunnel_message&) { return "ToServerTunnelMessage"; }
const char* tag(const to_client_tunnel_message&) { return "ToClientTunnelMessage"; }
const char* tag(const to_client_ping&) { return "ToClientPing"; }
const char* tag(const to_server_init&) { return "ToServerInit"; }
const char* tag(const to_server_events&) { return "ToServerEvents"; }
const char* tag(const to_server_ack_commands&) { return "ToServerAckCommands"; }
const char* tag(const to_server_pong&) { return "ToServerPong"; }
const char* tag(const to_server_kv_request&) { return "ToServerKvRequest"; }
const char* tag(const to_client_init&) { return "ToClientInit"; }
const char* tag(const to_client_commands&) { return "ToClientCommands"; }
const char* tag(const to_client_ack_events&) { return "ToClientAckEvents"; }
const char* tag(const to_client_kv_response&) { return "ToClientKvResponse"; }
const char* tag(const to_runner_ping&) { return "ToRunnerPing"; }
const char* tag(const to_gateway_pong&) { return "ToGatewayPong"; }
const char* tag(const to_serverless_server_init&) { return "ToServerlessServerInit"; }

template <class T>
json js(const std::vector<T>& list) {
    json out = json::array();
    for (const T& x : list) out.push_back(js(x));
    return out;
}
template <class V>
json js(const string_map<V>& map) {
    json entries = json::array();
    for (const auto& [key, val] : map) entries.push_back(json::array({js(key), js(val)}));
    return {{"$map", entries}};
}
template <class... Ts>
json js(const std::variant<Ts...>& v) {
    return std::visit([](const auto& member) { return json{{"tag", tag(member)}, {"val", js(member)}}; }, v);
}

template <class T, class Encode>
void print(const char* kind, const std::vector<T>& samples, Encode encode) {
    for (const T& m : samples) {
        const bytes wire = encode(m);
        const json line{{"kind", kind}, {"hex", hex(wire.data(), wire.size())}, {"value", js(m)}};
        std::cout << line.dump() << '\n';
    }
}

}  // namespace

int main() {
    namespace s = runner_protocol_samples;
    print("to_server", s::to_server(), encode_to_server);
    print("to_client", s::to_client(), encode_to_client);
    print("to_serverless_server", s::to_serverless_server(), encode_to_serverless_server);
    print("to_runner", s::to_runner(), encode_to_runner);
    print("to_gateway", s::to_gateway(), encode_to_gateway);
    print("actor_command_key_data", s::actor_command_key_data(), encode_actor_command_key_data);
    std::cout.flush();
    return std::cout ? 0 : 1;
}
