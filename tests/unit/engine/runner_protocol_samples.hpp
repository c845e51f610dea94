#pragma once
// A rich sample of every runner protocol v5 message: every union member (nested ones too),
// optionals present and absent, empty and non-empty lists and maps, extreme integers, long
// (multi-byte LEB128) lengths, non-ASCII strings. Shared by the unit tests (round trips) and
// tests/engine/codec_check (the same bytes through the official npm codec).

#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <variant>
#include <string>
#include <vector>

#include "protocol/runner_protocol.hpp"

namespace runner_protocol_samples {

namespace rp = rivetkit::runner_protocol;
using rivetkit::bytes;

inline bytes byte_range(std::size_t n, std::uint8_t first = 0) {
    bytes out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(first + i);
    return out;
}

/// Appends `m` as the variant member of its own type, constructed in place. (push_back of a
/// converted temporary trips GCC 12's -Wmaybe-uninitialized false positive on variant moves.)
template <class V, class T>
void add(std::vector<V>& out, T&& m) {
    out.emplace_back(std::in_place_type<std::decay_t<T>>, std::forward<T>(m));
}

inline constexpr std::int64_t i64_min = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();
inline constexpr std::uint32_t u32_max = std::numeric_limits<std::uint32_t>::max();
inline constexpr std::uint16_t u16_max = std::numeric_limits<std::uint16_t>::max();

// A 30-character base36 id like the engine's, and a non-ASCII one (2-, 3- and 4-byte UTF-8).
inline const std::string actor_a = "0123456789abcdefghijklmnopqrst";
inline const std::string actor_unicode = "acteur-\xC3\xA9\xE2\x82\xAC\xF0\x9F\x9A\x80";
inline const std::string long_text(200, 'x');  // a 2-byte LEB128 length

inline rp::message_id msg_id(std::uint16_t index) { return {{0x01, 0x02, 0x03, 0x04}, {0xfe, 0xff, 0x00, 0x80}, index}; }

inline std::vector<rp::to_server> to_server() {
    using namespace rp;
    std::vector<rp::to_server> out;
    add(out, to_server_init{"default", 1, 100000,
                                 string_map<actor_name>{{"counter", {"{}"}},
                                                        {"chat-\xE2\x9C\x93", {R"({"icon":"\u00e9"})"}},
                                                        {"", {""}}},
                                 R"({"inspectorToken":"t"})"});
    add(out, to_server_init{"", u32_max, 0, std::nullopt, std::nullopt});
    add(out, to_server_init{long_text, 0, u32_max, string_map<actor_name>{}, std::string()});
    add(out, to_server_events{{
        {{actor_a, 0, 0}, event_actor_state_update{actor_state_running{}}},
        {{actor_a, 0, 1}, event_actor_state_update{actor_state_stopped{stop_code::ok, std::nullopt}}},
        {{actor_a, 1, 0}, event_actor_state_update{actor_state_stopped{stop_code::error, "cr\xC3\xA9\x61sh"}}},
        {{actor_unicode, u32_max, i64_max}, event_actor_intent{actor_intent_sleep{}}},
        {{actor_a, 7, i64_min}, event_actor_intent{actor_intent_stop{}}},
        {{actor_a, 2, 3}, event_actor_set_alarm{1700000000000}},
        {{actor_a, 2, 4}, event_actor_set_alarm{i64_min}},
        {{actor_a, 2, 5}, event_actor_set_alarm{std::nullopt}},
    }});
    add(out, to_server_events{});
    add(out, to_server_ack_commands{{{actor_a, 0, 0}, {actor_unicode, u32_max, i64_max}, {"", 1, -1}}});
    add(out, to_server_ack_commands{});
    add(out, to_server_stopping{});
    add(out, to_server_pong{1700000000000});
    add(out, to_server_pong{i64_min});
    add(out, to_server_kv_request{actor_a, 0, kv_get_request{{{0x01}, {}, byte_range(200)}}});
    add(out, to_server_kv_request{actor_a, 1, kv_get_request{}});
    add(out, to_server_kv_request{actor_a, 2, kv_list_request{kv_list_all_query{}, true, std::numeric_limits<std::uint64_t>::max()}});
    add(out, to_server_kv_request{actor_a, 3, kv_list_request{kv_list_range_query{{0x01}, {0x02, 0xff}, true}, false, std::nullopt}});
    add(out, to_server_kv_request{actor_a, 4, kv_list_request{kv_list_range_query{{}, {}, false}, std::nullopt, 0}});
    add(out, to_server_kv_request{actor_a, 5, kv_list_request{kv_list_prefix_query{{0x02}}, std::nullopt, std::nullopt}});
    add(out, to_server_kv_request{actor_unicode, u32_max, kv_put_request{{{0x01}, {0x02}}, {{0xaa, 0xbb}, byte_range(300)}}});
    add(out, to_server_kv_request{actor_a, 6, kv_put_request{}});
    add(out, to_server_kv_request{actor_a, 7, kv_delete_request{{{0x01}, {0x00, 0x00}}}});
    add(out, to_server_kv_request{actor_a, 8, kv_drop_request{}});
    add(out, to_server_tunnel_message{
        msg_id(0), to_server_response_start{200,
                                            {{"content-type", "text/plain; charset=utf-8"},
                                             {"x-\xC3\xA9t\xC3\xA9", "\xE2\x82\xAC"},
                                             {"content-length", "2"}},
                                            bytes{'o', 'k'},
                                            false}});
    add(out, to_server_tunnel_message{msg_id(1), to_server_response_start{u16_max, {}, std::nullopt, true}});
    add(out, to_server_tunnel_message{msg_id(2), to_server_response_chunk{byte_range(256), false}});
    add(out, to_server_tunnel_message{msg_id(3), to_server_response_chunk{{}, true}});
    add(out, to_server_tunnel_message{msg_id(4), to_server_response_abort{}});
    add(out, to_server_tunnel_message{msg_id(0), to_server_web_socket_open{true}});
    add(out, to_server_tunnel_message{msg_id(0), to_server_web_socket_open{false}});
    add(out, to_server_tunnel_message{msg_id(1), to_server_web_socket_message{byte_range(256), true}});
    add(out, to_server_tunnel_message{msg_id(2), to_server_web_socket_message{bytes{'h', 'i'}, false}});
    add(out, to_server_tunnel_message{msg_id(u16_max), to_server_web_socket_message_ack{u16_max}});
    add(out, to_server_tunnel_message{msg_id(5), to_server_web_socket_close{1000, "bye \xF0\x9F\x91\x8B", true}});
    add(out, to_server_tunnel_message{msg_id(6), to_server_web_socket_close{std::nullopt, std::nullopt, false}});
    add(out, to_server_tunnel_message{msg_id(7), to_server_web_socket_close{4000, std::nullopt, false}});
    add(out, to_server_tunnel_message{msg_id(8), to_server_web_socket_close{std::nullopt, long_text, true}});
    return out;
}

inline rp::command_start_actor start_actor() {
    return {{"counter", "k\xC3\xA9y", 1700000000000, byte_range(3, 0xa0)},
            {{{0x01, 0x02, 0x03, 0x04}, {0x05, 0x06, 0x07, 0x08}}, {{0xff, 0xff, 0xff, 0xff}, {0x00, 0x00, 0x00, 0x00}}}};
}

inline std::vector<rp::to_client> to_client() {
    using namespace rp;
    std::vector<rp::to_client> out;
    add(out, to_client_init{"rid", {15000}});
    add(out, to_client_init{actor_unicode, {i64_min}});
    add(out, to_client_commands{{
        {{actor_a, 0, 0}, start_actor()},
        {{actor_a, 0, 1}, command_stop_actor{}},
        {{actor_unicode, u32_max, i64_max}, command_start_actor{{"", std::nullopt, i64_min, std::nullopt}, {}}},
        {{actor_a, 1, 0}, command_start_actor{{long_text, std::string(), 0, bytes{}}, {}}},
    }});
    add(out, to_client_commands{});
    add(out, to_client_ack_events{{{actor_a, 0, 3}, {actor_unicode, u32_max, i64_min}}});
    add(out, to_client_ack_events{});
    add(out, to_client_kv_response{0, kv_error_response{"actor does not exist \xE2\x9C\x97"}});
    add(out, to_client_kv_response{1, kv_get_response{{{0x01}, byte_range(200)},
                                                           {{0xaa}, {}},
                                                           {{{0x01, 0x02}, 5}, {{}, i64_min}}}});
    add(out, to_client_kv_response{2, kv_get_response{}});
    add(out, to_client_kv_response{3, kv_list_response{{{0x02, 0x01}}, {byte_range(128)}, {{{0x09}, i64_max}}}});
    add(out, to_client_kv_response{4, kv_list_response{}});
    add(out, to_client_kv_response{5, kv_put_response{}});
    add(out, to_client_kv_response{6, kv_delete_response{}});
    add(out, to_client_kv_response{u32_max, kv_drop_response{}});
    add(out, to_client_tunnel_message{
        msg_id(0), to_client_request_start{actor_a, "POST", "/action/increment?x=\xC3\xA9",
                                           {{"host", "x"}, {"content-type", "application/octet-stream"}, {"x-empty", ""}},
                                           byte_range(150), false}});
    add(out, to_client_tunnel_message{msg_id(0), to_client_request_start{actor_a, "GET", "/health", {}, std::nullopt, true}});
    add(out, to_client_tunnel_message{msg_id(1), to_client_request_chunk{byte_range(256), false}});
    add(out, to_client_tunnel_message{msg_id(2), to_client_request_chunk{{}, true}});
    add(out, to_client_tunnel_message{msg_id(3), to_client_request_abort{}});
    add(out, to_client_tunnel_message{
        msg_id(0), to_client_web_socket_open{actor_unicode, "/connect", {{"sec-websocket-protocol", "rivet, rivet_encoding.bare"}}}});
    add(out, to_client_tunnel_message{msg_id(0), to_client_web_socket_open{actor_a, "/websocket/\xE2\x82\xAC", {}}});
    add(out, to_client_tunnel_message{msg_id(1), to_client_web_socket_message{bytes{'h', 'i'}, false}});
    add(out, to_client_tunnel_message{msg_id(u16_max), to_client_web_socket_message{byte_range(256), true}});
    add(out, to_client_tunnel_message{msg_id(2), to_client_web_socket_close{1000, std::nullopt}});
    add(out, to_client_tunnel_message{msg_id(3), to_client_web_socket_close{std::nullopt, "ws.going_away"}});
    add(out, to_client_tunnel_message{msg_id(4), to_client_web_socket_close{u16_max, "\xC3\xA9"}});
    add(out, to_client_tunnel_message{msg_id(5), to_client_web_socket_close{}});
    add(out, to_client_ping{1700000000000});
    add(out, to_client_ping{i64_max});
    add(out, to_client_ping{-1});
    return out;
}

inline std::vector<rp::to_serverless_server> to_serverless_server() {
    using namespace rp;
    return {to_serverless_server_init{"rid", 5}, to_serverless_server_init{actor_unicode, u16_max},
            to_serverless_server_init{"", 0}};
}

inline std::vector<rp::to_runner> to_runner() {
    using namespace rp;
    std::vector<rp::to_runner> out;
    add(out, to_runner_ping{{0x01, 0x02, 0x03, 0x04}, {0x05, 0x06, 0x07, 0x08}, 1700000000000});
    add(out, to_runner_ping{{0xff, 0xff, 0xff, 0xff}, {}, i64_min});
    add(out, to_runner_close{});
    add(out, to_client_commands{{{{actor_a, 3, 9}, start_actor()}, {{actor_a, 3, 10}, command_stop_actor{}}}});
    add(out, to_client_ack_events{{{actor_a, 0, 3}}});
    add(out, to_client_tunnel_message{msg_id(7), to_client_web_socket_message{byte_range(10), true}});
    return out;
}

inline std::vector<rp::to_gateway> to_gateway() {
    using namespace rp;
    std::vector<rp::to_gateway> out;
    add(out, to_gateway_pong{{0x05, 0x06, 0x07, 0x08}, 1700000000000});
    add(out, to_gateway_pong{{}, i64_max});
    add(out, to_server_tunnel_message{msg_id(9), to_server_web_socket_message_ack{8}});
    add(out, to_server_tunnel_message{msg_id(0), to_server_response_start{404, {{"a", "b"}}, bytes{}, false}});
    return out;
}

inline std::vector<rp::actor_command_key_data> actor_command_key_data() {
    using namespace rp;
    return {start_actor(), command_stop_actor{}, command_start_actor{{"a", std::nullopt, 0, std::nullopt}, {}}};
}

}  // namespace runner_protocol_samples
