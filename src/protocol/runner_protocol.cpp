// BARE codec of the runner protocol v5 (engine-protocol.md §1.2-1.4). One generic encoder and
// decoder walk every type: primitives, optional, list, map, data[4], enums and unions directly,
// structs through fields(), which lists each struct's members in wire order once for both
// directions. Union and enum tags are one byte (@bare-ts writes and reads them with
// writeU8/readU8; every tag here is < 8, where that equals LEB128).

#include "protocol/runner_protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_set>

#include "common/bare.hpp"
#include "common/utf8.hpp"
#include "rivetkit/error.hpp"

namespace rivetkit::runner_protocol {
namespace {

[[noreturn]] void malformed(const std::string& what) {
    throw errors::malformed_message("runner protocol: " + what);
}

// ---- struct fields in wire order ------------------------------------------------------------
// fields(x) ties x's members in schema order; the same list serves const (encode) and mutable
// (decode) access.

#define RIVETKIT_FIELDS(type, ...)                               \
    auto fields(type& x) { return std::tie(__VA_ARGS__); }       \
    auto fields(const type& x) { return std::tie(__VA_ARGS__); }
#define RIVETKIT_NO_FIELDS(type)                  \
    std::tuple<> fields(type&) { return {}; }     \
    std::tuple<> fields(const type&) { return {}; }

RIVETKIT_FIELDS(kv_metadata, x.version, x.update_ts)
RIVETKIT_NO_FIELDS(kv_list_all_query)
RIVETKIT_FIELDS(kv_list_range_query, x.start, x.end, x.exclusive)
RIVETKIT_FIELDS(kv_list_prefix_query, x.key)
RIVETKIT_FIELDS(kv_get_request, x.keys)
RIVETKIT_FIELDS(kv_list_request, x.query, x.reverse, x.limit)
RIVETKIT_FIELDS(kv_put_request, x.keys, x.values)
RIVETKIT_FIELDS(kv_delete_request, x.keys)
RIVETKIT_NO_FIELDS(kv_drop_request)
RIVETKIT_FIELDS(kv_error_response, x.message)
RIVETKIT_FIELDS(kv_get_response, x.keys, x.values, x.metadata)
RIVETKIT_FIELDS(kv_list_response, x.keys, x.values, x.metadata)
RIVETKIT_NO_FIELDS(kv_put_response)
RIVETKIT_NO_FIELDS(kv_delete_response)
RIVETKIT_NO_FIELDS(kv_drop_response)
RIVETKIT_FIELDS(actor_name, x.metadata)
RIVETKIT_FIELDS(actor_config, x.name, x.key, x.create_ts, x.input)
RIVETKIT_FIELDS(actor_checkpoint, x.actor_id, x.generation, x.index)
RIVETKIT_NO_FIELDS(actor_intent_sleep)
RIVETKIT_NO_FIELDS(actor_intent_stop)
RIVETKIT_NO_FIELDS(actor_state_running)
RIVETKIT_FIELDS(actor_state_stopped, x.code, x.message)
RIVETKIT_FIELDS(event_actor_intent, x.intent)
RIVETKIT_FIELDS(event_actor_state_update, x.state)
RIVETKIT_FIELDS(event_actor_set_alarm, x.alarm_ts)
RIVETKIT_FIELDS(event_wrapper, x.checkpoint, x.inner)
RIVETKIT_FIELDS(hibernating_request, x.gateway_id, x.request_id)
RIVETKIT_FIELDS(command_start_actor, x.config, x.hibernating_requests)
RIVETKIT_NO_FIELDS(command_stop_actor)
RIVETKIT_FIELDS(command_wrapper, x.checkpoint, x.inner)
RIVETKIT_FIELDS(message_id, x.gateway_id, x.request_id, x.message_index)
RIVETKIT_FIELDS(to_client_request_start, x.actor_id, x.method, x.path, x.headers, x.body, x.stream)
RIVETKIT_FIELDS(to_client_request_chunk, x.body, x.finish)
RIVETKIT_NO_FIELDS(to_client_request_abort)
RIVETKIT_FIELDS(to_server_response_start, x.status, x.headers, x.body, x.stream)
RIVETKIT_FIELDS(to_server_response_chunk, x.body, x.finish)
RIVETKIT_NO_FIELDS(to_server_response_abort)
RIVETKIT_FIELDS(to_client_web_socket_open, x.actor_id, x.path, x.headers)
RIVETKIT_FIELDS(to_client_web_socket_message, x.data, x.binary)
RIVETKIT_FIELDS(to_client_web_socket_close, x.code, x.reason)
RIVETKIT_FIELDS(to_server_web_socket_open, x.can_hibernate)
RIVETKIT_FIELDS(to_server_web_socket_message, x.data, x.binary)
RIVETKIT_FIELDS(to_server_web_socket_message_ack, x.index)
RIVETKIT_FIELDS(to_server_web_socket_close, x.code, x.reason, x.hibernate)
RIVETKIT_FIELDS(to_server_tunnel_message, x.message_id, x.message_kind)
RIVETKIT_FIELDS(to_client_tunnel_message, x.message_id, x.message_kind)
RIVETKIT_FIELDS(to_client_ping, x.ts)
RIVETKIT_FIELDS(to_server_init, x.name, x.version, x.total_slots, x.prepopulate_actor_names, x.metadata)
RIVETKIT_FIELDS(to_server_events, x.events)
RIVETKIT_FIELDS(to_server_ack_commands, x.last_command_checkpoints)
RIVETKIT_NO_FIELDS(to_server_stopping)
RIVETKIT_FIELDS(to_server_pong, x.ts)
RIVETKIT_FIELDS(to_server_kv_request, x.actor_id, x.request_id, x.data)
RIVETKIT_FIELDS(protocol_metadata, x.runner_lost_threshold)
RIVETKIT_FIELDS(to_client_init, x.runner_id, x.metadata)
RIVETKIT_FIELDS(to_client_commands, x.commands)
RIVETKIT_FIELDS(to_client_ack_events, x.last_event_checkpoints)
RIVETKIT_FIELDS(to_client_kv_response, x.request_id, x.data)
RIVETKIT_FIELDS(to_runner_ping, x.gateway_id, x.request_id, x.ts)
RIVETKIT_NO_FIELDS(to_runner_close)
RIVETKIT_FIELDS(to_gateway_pong, x.request_id, x.ts)
RIVETKIT_FIELDS(to_serverless_server_init, x.runner_id, x.runner_protocol_version)

#undef RIVETKIT_FIELDS
#undef RIVETKIT_NO_FIELDS

template <class T>
concept has_fields = requires(const T& x) { fields(x); };

// Schema names of the unions, for error messages. (ActorCommandKeyData is the same C++ type as
// Command.)
template <class V>
constexpr std::string_view union_name = "union";
template <> constexpr std::string_view union_name<kv_list_query> = "KvListQuery";
template <> constexpr std::string_view union_name<kv_request_data> = "KvRequestData";
template <> constexpr std::string_view union_name<kv_response_data> = "KvResponseData";
template <> constexpr std::string_view union_name<actor_intent> = "ActorIntent";
template <> constexpr std::string_view union_name<actor_state> = "ActorState";
template <> constexpr std::string_view union_name<event> = "Event";
template <> constexpr std::string_view union_name<command> = "Command";
template <> constexpr std::string_view union_name<to_server_tunnel_message_kind> = "ToServerTunnelMessageKind";
template <> constexpr std::string_view union_name<to_client_tunnel_message_kind> = "ToClientTunnelMessageKind";
template <> constexpr std::string_view union_name<to_server> = "ToServer";
template <> constexpr std::string_view union_name<to_client> = "ToClient";
template <> constexpr std::string_view union_name<to_runner> = "ToRunner";
template <> constexpr std::string_view union_name<to_gateway> = "ToGateway";
template <> constexpr std::string_view union_name<to_serverless_server> = "ToServerlessServer";

// ---- encoder --------------------------------------------------------------------------------
// Members of a class see each other regardless of order, so the overloads may recurse freely.

class encoder {
public:
    explicit encoder(bool versioned) {
        if (versioned) w_.u16(protocol_version);
    }

    bytes take() { return w_.take(); }

    void put(bool v) { w_.boolean(v); }
    void put(std::uint16_t v) { w_.u16(v); }
    void put(std::uint32_t v) { w_.u32(v); }
    void put(std::uint64_t v) { w_.u64(v); }
    void put(std::int64_t v) { w_.i64(v); }
    void put(const std::string& s) {
        if (!is_valid_utf8(s)) throw std::invalid_argument("runner protocol: str is not valid UTF-8");
        w_.str(s);
    }
    void put(const bytes& d) { w_.data(d); }
    void put(const bytes4& d) { w_.fixed(d); }
    void put(stop_code c) {
        if (c != stop_code::ok && c != stop_code::error) {
            throw std::invalid_argument("runner protocol: invalid StopCode");
        }
        w_.u8(static_cast<std::uint8_t>(c));
    }

    template <class T>
    void put(const std::optional<T>& o) {
        w_.optional_tag(o.has_value());
        if (o) put(*o);
    }

    template <class T>
    void put(const std::vector<T>& list) {
        w_.uint(list.size());
        for (const T& x : list) put(x);
    }

    template <class V>
    void put(const string_map<V>& map) {
        std::unordered_set<std::string_view> seen;
        w_.uint(map.size());
        for (const auto& [key, val] : map) {
            if (!seen.insert(key).second) {
                throw std::invalid_argument("runner protocol: duplicated map key \"" + key + "\"");
            }
            put(key);
            put(val);
        }
    }

    template <class... Ts>
    void put(const std::variant<Ts...>& v) {
        if (v.valueless_by_exception()) {
            throw std::invalid_argument(fmt::format("runner protocol: valueless {}", union_name<std::variant<Ts...>>));
        }
        w_.u8(static_cast<std::uint8_t>(v.index()));
        std::visit([this](const auto& member) { put(member); }, v);
    }

    template <has_fields T>
    void put(const T& s) {
        std::apply([this](const auto&... f) { (put(f), ...); }, fields(s));
    }

private:
    bare::writer w_;
};

// ---- decoder --------------------------------------------------------------------------------

class decoder {
public:
    /// `versioned`: the input starts with the vbare prefix, which must be protocol_version.
    decoder(std::span<const std::uint8_t> in, bool versioned) : r_(body(in, versioned)) {}

    template <class T>
    T read_all() {
        T out{};
        get(out);
        r_.expect_end();
        return out;
    }

private:
    static std::span<const std::uint8_t> body(std::span<const std::uint8_t> in, bool versioned) {
        if (!versioned) return in;
        const auto [version, rest] = bare::split_version(in);
        if (version != protocol_version) malformed(fmt::format("unsupported protocol version {}", version));
        return rest;
    }

    void get(bool& v) { v = r_.boolean(); }
    void get(std::uint16_t& v) { v = r_.u16(); }
    void get(std::uint32_t& v) { v = r_.u32(); }
    void get(std::uint64_t& v) { v = r_.u64(); }
    void get(std::int64_t& v) { v = r_.i64(); }
    void get(std::string& s) { s = r_.str(); }
    void get(bytes& d) { d = r_.data(); }
    void get(bytes4& d) {
        const bytes raw = r_.fixed(d.size());
        std::copy(raw.begin(), raw.end(), d.begin());
    }
    void get(stop_code& c) {
        const std::uint8_t tag = r_.u8();
        if (tag > 1) malformed(fmt::format("unknown StopCode {}", tag));
        c = static_cast<stop_code>(tag);
    }

    template <class T>
    void get(std::optional<T>& o) {
        if (r_.optional_tag()) {
            get(o.emplace());
        } else {
            o.reset();
        }
    }

    template <class T>
    void get(std::vector<T>& list) {
        // No reserve(): the count comes from the wire; each element consumes input, so a lying
        // count fails at the end of the input instead of allocating.
        const std::uint64_t n = r_.uint();
        list.clear();
        for (std::uint64_t i = 0; i < n; ++i) get(list.emplace_back());
    }

    template <class V>
    void get(string_map<V>& map) {
        const std::uint64_t n = r_.uint();
        map.clear();
        std::unordered_set<std::string> seen;
        for (std::uint64_t i = 0; i < n; ++i) {
            auto& [key, val] = map.emplace_back();
            get(key);
            if (!seen.insert(key).second) malformed(fmt::format("duplicated map key \"{}\"", key));
            get(val);
        }
    }

    template <class... Ts>
    void get(std::variant<Ts...>& v) {
        const std::uint8_t tag = r_.u8();
        if (tag >= sizeof...(Ts)) malformed(fmt::format("unknown {} tag {}", union_name<std::variant<Ts...>>, tag));
        emplace_member(v, tag, std::index_sequence_for<Ts...>{});
    }

    template <class V, std::size_t... I>
    void emplace_member(V& v, std::size_t tag, std::index_sequence<I...>) {
        (void)((tag == I ? (get(v.template emplace<I>()), true) : false) || ...);
    }

    template <has_fields T>
    void get(T& s) {
        std::apply([this](auto&... f) { (get(f), ...); }, fields(s));
    }

    bare::reader r_;
};

template <class T>
bytes encode(const T& message, bool versioned) {
    encoder e(versioned);
    e.put(message);
    return e.take();
}

}  // namespace

bytes encode_to_server(const to_server& message) { return encode(message, false); }
to_server decode_to_server(std::span<const std::uint8_t> frame) {
    return decoder(frame, false).read_all<to_server>();
}

bytes encode_to_client(const to_client& message) { return encode(message, false); }
to_client decode_to_client(std::span<const std::uint8_t> frame) {
    return decoder(frame, false).read_all<to_client>();
}

bytes encode_to_serverless_server(const to_serverless_server& message) { return encode(message, true); }
to_serverless_server decode_to_serverless_server(std::span<const std::uint8_t> payload) {
    return decoder(payload, true).read_all<to_serverless_server>();
}

bytes encode_to_runner(const to_runner& message) { return encode(message, true); }
to_runner decode_to_runner(std::span<const std::uint8_t> payload) {
    return decoder(payload, true).read_all<to_runner>();
}

bytes encode_to_gateway(const to_gateway& message) { return encode(message, true); }
to_gateway decode_to_gateway(std::span<const std::uint8_t> payload) {
    return decoder(payload, true).read_all<to_gateway>();
}

bytes encode_actor_command_key_data(const actor_command_key_data& data) { return encode(data, true); }
actor_command_key_data decode_actor_command_key_data(std::span<const std::uint8_t> payload) {
    return decoder(payload, true).read_all<actor_command_key_data>();
}

}  // namespace rivetkit::runner_protocol
