// The runner protocol v5 codec: the byte-exact vectors of engine-protocol.md §1.5 ("reference
// vectors", made with @rivetkit/engine-runner-protocol@2.0.33) both ways,
// round trips of a sample of every message variant, and refusal of malformed input.

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "common/base64.hpp"
#include "common/codec_test_util.hpp"
#include "engine/runner_protocol_samples.hpp"
#include "protocol/runner_protocol.hpp"

using namespace rivetkit;
using namespace rivetkit::runner_protocol;
using codec_test::hex;
using codec_test::require_malformed;
using codec_test::to_hex;

namespace {

// The top-level codecs, by message type. (actor_command_key_data is the type `command`.)
template <class T>
struct codec;
template <>
struct codec<to_server> {
    static bytes encode(const to_server& m) { return encode_to_server(m); }
    static to_server decode(std::span<const std::uint8_t> b) { return decode_to_server(b); }
};
template <>
struct codec<to_client> {
    static bytes encode(const to_client& m) { return encode_to_client(m); }
    static to_client decode(std::span<const std::uint8_t> b) { return decode_to_client(b); }
};
template <>
struct codec<to_serverless_server> {
    static bytes encode(const to_serverless_server& m) { return encode_to_serverless_server(m); }
    static to_serverless_server decode(std::span<const std::uint8_t> b) { return decode_to_serverless_server(b); }
};
template <>
struct codec<to_runner> {
    static bytes encode(const to_runner& m) { return encode_to_runner(m); }
    static to_runner decode(std::span<const std::uint8_t> b) { return decode_to_runner(b); }
};
template <>
struct codec<to_gateway> {
    static bytes encode(const to_gateway& m) { return encode_to_gateway(m); }
    static to_gateway decode(std::span<const std::uint8_t> b) { return decode_to_gateway(b); }
};
template <>
struct codec<actor_command_key_data> {
    static bytes encode(const actor_command_key_data& m) { return encode_actor_command_key_data(m); }
    static actor_command_key_data decode(std::span<const std::uint8_t> b) {
        return decode_actor_command_key_data(b);
    }
};

/// Every strict prefix of `wire` is refused with malformed_message (never a crash or a value),
/// and so is `wire` followed by one more byte.
template <class T>
void check_refuses_truncation_and_trailing(const bytes& wire) {
    for (std::size_t n = 0; n < wire.size(); ++n) {
        INFO("prefix of " << n << " of " << wire.size() << " bytes");
        require_malformed([&] { (void)codec<T>::decode(std::span(wire.data(), n)); }, "");
    }
    bytes longer = wire;
    longer.push_back(0x00);
    require_malformed([&] { (void)codec<T>::decode(longer); }, "remaining bytes");
}

/// `value` encodes to exactly `expected_hex`, which decodes to `value` and re-encodes to itself.
template <class T>
void check_vector(const T& value, std::string_view expected_hex) {
    const bytes wire = hex(expected_hex);
    CHECK(to_hex(codec<T>::encode(value)) == to_hex(wire));
    const T decoded = codec<T>::decode(wire);
    CHECK(decoded == value);
    CHECK(to_hex(codec<T>::encode(decoded)) == to_hex(wire));
    check_refuses_truncation_and_trailing<T>(wire);
}

/// decode(encode(v)) == v and encode(decode(encode(v))) == encode(v), for every sample.
template <class T>
std::size_t check_round_trips(const std::vector<T>& samples) {
    std::size_t total_bytes = 0;
    for (std::size_t i = 0; i < samples.size(); ++i) {
        INFO("sample " << i);
        const bytes wire = codec<T>::encode(samples[i]);
        const T decoded = codec<T>::decode(wire);
        CHECK(decoded == samples[i]);
        CHECK(codec<T>::encode(decoded) == wire);
        check_refuses_truncation_and_trailing<T>(wire);
        total_bytes += wire.size();
    }
    return total_bytes;
}

const bytes4 gw{0x01, 0x02, 0x03, 0x04};
const bytes4 req{0x05, 0x06, 0x07, 0x08};
constexpr std::int64_t ts_2023 = 1700000000000;

}  // namespace

TEST_CASE("runner protocol: reference vectors from runner to engine", "[engine][runner_protocol]") {
    SECTION("ToServerInit") {
        check_vector<to_server>(
            to_server_init{"default", 1, 100000, string_map<actor_name>{{"counter", {"{}"}}},
                           R"({"inspectorToken":"t"})"},
            "000764656661756c7401000000a0860100010107636f756e746572027b7d01167b22696e73706563746f72546f6b656e"
            "223a2274227d");
    }
    SECTION("ToServerPong") { check_vector<to_server>(to_server_pong{ts_2023}, "040068e5cf8b010000"); }
    SECTION("ToServerEvents") {
        check_vector<to_server>(to_server_events{{{{"a1", 0, 0}, event_actor_state_update{actor_state_running{}}}}},
                                "01010261310000000000000000000000000100");
        check_vector<to_server>(
            to_server_events{{{{"a1", 0, 1}, event_actor_state_update{actor_state_stopped{stop_code::ok, {}}}}}},
            "010102613100000000010000000000000001010000");
        check_vector<to_server>(to_server_events{{{{"a1", 0, 2}, event_actor_intent{actor_intent_sleep{}}}}},
                                "01010261310000000002000000000000000000");
        check_vector<to_server>(to_server_events{{{{"a1", 0, 3}, event_actor_set_alarm{ts_2023}}}},
                                "010102613100000000030000000000000002010068e5cf8b010000");
    }
    SECTION("ToServerAckCommands") {
        check_vector<to_server>(to_server_ack_commands{{{"a1", 0, 0}}}, "0201026131000000000000000000000000");
    }
    SECTION("ToServerStopping") { check_vector<to_server>(to_server_stopping{}, "03"); }
    SECTION("ToServerKvRequest") {
        check_vector<to_server>(to_server_kv_request{"a1", 0, kv_get_request{{{0x01}}}}, "050261310000000000010101");
        check_vector<to_server>(
            to_server_kv_request{"a1", 1, kv_list_request{kv_list_prefix_query{{0x02}}, std::nullopt, std::nullopt}},
            "0502613101000000010201020000");
        check_vector<to_server>(to_server_kv_request{"a1", 2, kv_put_request{{{0x01}}, {{0xaa, 0xbb}}}},
                                "0502613102000000020101010102aabb");
    }
    SECTION("ToServerTunnelMessage") {
        check_vector<to_server>(
            to_server_tunnel_message{{gw, req, 0}, to_server_response_start{200, {{"content-length", "2"}}, bytes{'o', 'k'}, false}},
            "060102030405060708000000c800010e636f6e74656e742d6c656e677468013201026f6b00");
        check_vector<to_server>(to_server_tunnel_message{{gw, req, 0}, to_server_web_socket_open{true}},
                                "06010203040506070800000301");
        check_vector<to_server>(to_server_tunnel_message{{gw, req, 3}, to_server_web_socket_message_ack{1}},
                                "0601020304050607080300050100");
        check_vector<to_server>(to_server_tunnel_message{{gw, req, 4}, to_server_web_socket_close{1000, "bye", false}},
                                "06010203040506070804000601e803010362796500");
    }
}

TEST_CASE("runner protocol: reference vectors from engine to runner", "[engine][runner_protocol]") {
    SECTION("ToClientInit") { check_vector<to_client>(to_client_init{"rid", {15000}}, "0003726964983a000000000000"); }
    SECTION("ToClientPing") { check_vector<to_client>(to_client_ping{ts_2023}, "050068e5cf8b010000"); }
    SECTION("ToClientCommands") {
        check_vector<to_client>(
            to_client_commands{{{{"a1", 0, 0}, command_start_actor{{"counter", "k", ts_2023, std::nullopt}, {}}}}},
            "01010261310000000000000000000000000007636f756e74657201016b0068e5cf8b0100000000");
        check_vector<to_client>(to_client_commands{{{{"a1", 0, 1}, command_stop_actor{}}}},
                                "010102613100000000010000000000000001");
    }
    SECTION("ToClientAckEvents") {
        check_vector<to_client>(to_client_ack_events{{{"a1", 0, 3}}}, "0201026131000000000300000000000000");
    }
    SECTION("ToClientKvResponse") {
        check_vector<to_client>(to_client_kv_response{0, kv_get_response{{{0x01}}, {{0xaa}}, {{{0x01, 0x02}, 5}}}},
                                "0300000000010101010101aa010201020500000000000000");
        check_vector<to_client>(to_client_kv_response{2, kv_put_response{}}, "030200000003");
        check_vector<to_client>(to_client_kv_response{3, kv_error_response{"x"}}, "0303000000000178");
    }
    SECTION("ToClientTunnelMessage") {
        check_vector<to_client>(
            to_client_tunnel_message{{gw, req, 0},
                                     to_client_request_start{"a1", "GET", "/health", {{"host", "x"}}, std::nullopt, false}},
            "04010203040506070800000002613103474554072f6865616c74680104686f737401780000");
        check_vector<to_client>(to_client_tunnel_message{{gw, req, 0}, to_client_web_socket_open{"a1", "/connect", {}}},
                                "040102030405060708000003026131082f636f6e6e65637400");
        check_vector<to_client>(
            to_client_tunnel_message{{gw, req, 1}, to_client_web_socket_message{bytes{'h', 'i'}, false}},
            "04010203040506070801000402686900");
        check_vector<to_client>(
            to_client_tunnel_message{{gw, req, 2}, to_client_web_socket_close{1000, std::nullopt}},
            "04010203040506070802000501e80300");
    }
}

TEST_CASE("runner protocol: the serverless init packet carries the u16 version prefix", "[engine][runner_protocol]") {
    check_vector<to_serverless_server>(to_serverless_server_init{"rid", 5}, "0500 00 03726964 0500");
    CHECK(base64_encode(encode_to_serverless_server(to_serverless_server_init{"rid", 5})) == "BQAAA3JpZAUA");
    // §8.3: what the TS runner sent for runner id "runner-1".
    const auto packet = base64_decode("BQAACHJ1bm5lci0xBQA=");
    REQUIRE(packet);
    CHECK(decode_to_serverless_server(*packet) == to_serverless_server{to_serverless_server_init{"runner-1", 5}});
}

TEST_CASE("runner protocol: engine-internal messages carry the u16 version prefix", "[engine][runner_protocol]") {
    check_vector<to_runner>(to_runner_ping{gw, req, ts_2023}, "0500 | 00 | 01020304 05060708 | 0068e5cf8b010000");
    check_vector<to_runner>(to_runner_close{}, "0500 01");
    check_vector<to_runner>(to_client_ack_events{{{"a1", 0, 3}}}, "0500 03 01 026131 00000000 0300000000000000");
    check_vector<to_gateway>(to_gateway_pong{req, ts_2023}, "0500 00 05060708 0068e5cf8b010000");
    check_vector<to_gateway>(to_server_tunnel_message{{gw, req, 3}, to_server_web_socket_message_ack{1}},
                             "0500 01 01020304 05060708 0300 05 0100");
    check_vector<actor_command_key_data>(command_stop_actor{}, "0500 01");
    check_vector<actor_command_key_data>(command_start_actor{{"c", std::nullopt, 0, bytes{0xab}}, {{gw, req}}},
                                         "0500 00 | 01 63 00 0000000000000000 01 01 ab | 01 01020304 05060708");
}

TEST_CASE("runner protocol: lengths of 128 and more are multi-byte LEB128", "[engine][runner_protocol]") {
    const std::string name(200, 'n');
    const bytes wire = encode_to_server(to_server_init{name, 0, 0, std::nullopt, std::nullopt});
    CHECK(to_hex(bytes(wire.begin(), wire.begin() + 3)) == "00 c8 01");
    CHECK(wire.size() == 1 + 2 + 200 + 4 + 4 + 1 + 1);

    const bytes body = runner_protocol_samples::byte_range(16384);
    const bytes frame = encode_to_client(to_client_tunnel_message{{gw, req, 0}, to_client_request_chunk{body, true}});
    CHECK(to_hex(bytes(frame.begin() + 12, frame.begin() + 15)) == "80 80 01");
    CHECK(std::get<to_client_request_chunk>(std::get<to_client_tunnel_message>(decode_to_client(frame)).message_kind).body ==
          body);
}

TEST_CASE("runner protocol: map entries keep their order", "[engine][runner_protocol]") {
    const to_server_response_start start{200, {{"b", "1"}, {"a", "2"}, {"c", "3"}}, std::nullopt, false};
    const bytes wire = encode_to_server(to_server_tunnel_message{{gw, req, 0}, start});
    CHECK(to_hex(wire) == to_hex(hex("06 01020304 05060708 0000 00 c800 03 01\"b\"01\"1\" 01\"a\"01\"2\" 01\"c\"01\"3\" 00 00")));
    const auto decoded = std::get<to_server_tunnel_message>(decode_to_server(wire));
    CHECK(std::get<to_server_response_start>(decoded.message_kind).headers == start.headers);
}

TEST_CASE("runner protocol: every sample round-trips byte-exact", "[engine][runner_protocol]") {
    namespace s = runner_protocol_samples;
    CHECK(check_round_trips(s::to_server()) > 0);
    CHECK(check_round_trips(s::to_client()) > 0);
    CHECK(check_round_trips(s::to_serverless_server()) > 0);
    CHECK(check_round_trips(s::to_runner()) > 0);
    CHECK(check_round_trips(s::to_gateway()) > 0);
    CHECK(check_round_trips(s::actor_command_key_data()) > 0);
}

namespace {
struct mutation_stats {
    std::size_t decoded = 0;
    std::size_t refused = 0;
};

/// Every one-byte change of every sample either decodes to a value that encodes back to exactly
/// the changed bytes (the strict decoder makes BARE a bijection) or is refused with
/// malformed_message; nothing else is thrown and nothing crashes (run under ASan/UBSan).
template <class T>
void check_mutations(const std::vector<T>& samples, mutation_stats& stats) {
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const bytes wire = codec<T>::encode(samples[i]);
        for (std::size_t pos = 0; pos < wire.size(); ++pos) {
            for (const int v : {0x00, 0x01, 0x02, 0x05, 0x7f, 0x80, 0xff, wire[pos] ^ 0x01}) {
                const auto b = static_cast<std::uint8_t>(v);
                bytes mutated = wire;
                mutated[pos] = b;
                try {
                    const T decoded = codec<T>::decode(mutated);
                    ++stats.decoded;
                    if (codec<T>::encode(decoded) != mutated) {
                        FAIL_CHECK("sample " << i << ", byte " << pos << " = " << int{b} << ": decoded to a value that "
                                             << "encodes to " << to_hex(codec<T>::encode(decoded)));
                    }
                } catch (const rivetkit::error& e) {
                    ++stats.refused;
                    if (e.code() != "malformed") FAIL_CHECK("sample " << i << ", byte " << pos << ": " << e.what());
                }
            }
        }
    }
}
}  // namespace

TEST_CASE("runner protocol: changed bytes decode canonically or are refused", "[engine][runner_protocol]") {
    namespace s = runner_protocol_samples;
    mutation_stats stats;
    check_mutations(s::to_server(), stats);
    check_mutations(s::to_client(), stats);
    check_mutations(s::to_serverless_server(), stats);
    check_mutations(s::to_runner(), stats);
    check_mutations(s::to_gateway(), stats);
    check_mutations(s::actor_command_key_data(), stats);
    CHECK(stats.decoded > 1000);
    CHECK(stats.refused > 1000);
}

namespace {
using seen_members = std::map<std::string, std::set<std::size_t>>;

template <class... Ts>
void mark(seen_members& seen, const std::string& name, const std::variant<Ts...>& v) {
    seen[name].insert(v.index());
}
}  // namespace

TEST_CASE("runner protocol: the samples cover every union member and enum value", "[engine][runner_protocol]") {
    namespace s = runner_protocol_samples;
    seen_members seen;
    for (const auto& m : s::to_server()) {
        mark(seen, "ToServer", m);
        if (const auto* events = std::get_if<to_server_events>(&m)) {
            for (const auto& e : events->events) {
                mark(seen, "Event", e.inner);
                if (const auto* i = std::get_if<event_actor_intent>(&e.inner)) mark(seen, "ActorIntent", i->intent);
                if (const auto* u = std::get_if<event_actor_state_update>(&e.inner)) {
                    mark(seen, "ActorState", u->state);
                    if (const auto* st = std::get_if<actor_state_stopped>(&u->state)) {
                        seen["StopCode"].insert(static_cast<std::size_t>(st->code));
                    }
                }
            }
        }
        if (const auto* kv = std::get_if<to_server_kv_request>(&m)) {
            mark(seen, "KvRequestData", kv->data);
            if (const auto* list = std::get_if<kv_list_request>(&kv->data)) mark(seen, "KvListQuery", list->query);
        }
        if (const auto* t = std::get_if<to_server_tunnel_message>(&m)) mark(seen, "ToServerTunnelMessageKind", t->message_kind);
    }
    for (const auto& m : s::to_client()) {
        mark(seen, "ToClient", m);
        if (const auto* cmds = std::get_if<to_client_commands>(&m)) {
            for (const auto& c : cmds->commands) mark(seen, "Command", c.inner);
        }
        if (const auto* kv = std::get_if<to_client_kv_response>(&m)) mark(seen, "KvResponseData", kv->data);
        if (const auto* t = std::get_if<to_client_tunnel_message>(&m)) mark(seen, "ToClientTunnelMessageKind", t->message_kind);
    }
    for (const auto& m : s::to_runner()) mark(seen, "ToRunner", m);
    for (const auto& m : s::to_gateway()) mark(seen, "ToGateway", m);
    for (const auto& m : s::to_serverless_server()) mark(seen, "ToServerlessServer", m);
    for (const auto& m : s::actor_command_key_data()) mark(seen, "ActorCommandKeyData", m);

    const std::map<std::string, std::size_t> members{
        {"ToServer", 7},     {"ToClient", 6},          {"Event", 3},
        {"ActorIntent", 2},  {"ActorState", 2},        {"StopCode", 2},
        {"KvRequestData", 5}, {"KvListQuery", 3},      {"KvResponseData", 6},
        {"Command", 2},      {"ToServerTunnelMessageKind", 7}, {"ToClientTunnelMessageKind", 6},
        {"ToRunner", 5},     {"ToGateway", 2},         {"ToServerlessServer", 1},
        {"ActorCommandKeyData", 2}};
    for (const auto& [name, count] : members) {
        INFO(name);
        CHECK(seen[name].size() == count);
    }
    CHECK(seen.size() == members.size());
}

TEST_CASE("runner protocol: unknown union tags and enum values are refused", "[engine][runner_protocol]") {
    require_malformed([] { (void)decode_to_server(hex("07")); }, "unknown ToServer tag 7");
    require_malformed([] { (void)decode_to_server(hex("ff")); }, "unknown ToServer tag 255");
    require_malformed([] { (void)decode_to_client(hex("06 00")); }, "unknown ToClient tag 6");
    require_malformed([] { (void)decode_to_runner(hex("0500 05")); }, "unknown ToRunner tag 5");
    require_malformed([] { (void)decode_to_gateway(hex("0500 02")); }, "unknown ToGateway tag 2");
    require_malformed([] { (void)decode_to_serverless_server(hex("0500 01")); }, "unknown ToServerlessServer tag 1");
    require_malformed([] { (void)decode_actor_command_key_data(hex("0500 02")); }, "unknown Command tag 2");

    // Nested unions, in the §1.5 vectors with one byte changed.
    require_malformed([] { (void)decode_to_server(hex("05 026131 00000000 05")); }, "unknown KvRequestData tag 5");
    require_malformed([] { (void)decode_to_server(hex("05 026131 01000000 01 03 0102 00 00")); }, "unknown KvListQuery tag 3");
    require_malformed([] { (void)decode_to_client(hex("03 00000000 06")); }, "unknown KvResponseData tag 6");
    require_malformed([] { (void)decode_to_server(hex("01 01 026131 00000000 0000000000000000 03 00")); }, "unknown Event tag 3");
    require_malformed([] { (void)decode_to_server(hex("01 01 026131 00000000 0000000000000000 00 02")); },
                      "unknown ActorIntent tag 2");
    require_malformed([] { (void)decode_to_server(hex("01 01 026131 00000000 0000000000000000 01 02")); },
                      "unknown ActorState tag 2");
    require_malformed([] { (void)decode_to_server(hex("01 01 026131 00000000 0100000000000000 01 01 02 00")); },
                      "unknown StopCode 2");
    require_malformed([] { (void)decode_to_client(hex("01 01 026131 00000000 0100000000000000 02")); },
                      "unknown Command tag 2");
    require_malformed([] { (void)decode_to_server(hex("06 01020304 05060708 0000 07")); },
                      "unknown ToServerTunnelMessageKind tag 7");
    require_malformed([] { (void)decode_to_client(hex("04 01020304 05060708 0000 06")); },
                      "unknown ToClientTunnelMessageKind tag 6");
}

TEST_CASE("runner protocol: malformed primitives are refused", "[engine][runner_protocol]") {
    SECTION("bool other than 0 or 1") {
        require_malformed([] { (void)decode_to_server(hex("06 01020304 05060708 0000 03 02")); }, "invalid bool");
    }
    SECTION("optional tag other than 0 or 1") {
        require_malformed([] { (void)decode_to_server(hex("06 01020304 05060708 0000 06 02")); }, "invalid optional tag");
    }
    SECTION("duplicated map keys") {
        require_malformed(
            [] {
                (void)decode_to_client(
                    hex("04 01020304 05060708 0000 00 026131 03\"GET\" 01\"/\" 02 01\"a\"01\"b\" 01\"a\"01\"c\" 00 00"));
            },
            "duplicated map key \"a\"");
        require_malformed(
            [] { (void)decode_to_server(hex("00 01\"n\" 01000000 01000000 01 02 01\"c\" 00 01\"c\" 00 00")); },
            "duplicated map key \"c\"");
    }
    SECTION("invalid UTF-8") {
        require_malformed([] { (void)decode_to_server(hex("00 01 ff 01000000 01000000 00 00")); }, "invalid UTF-8");
        require_malformed([] { (void)decode_to_client(hex("00 03 eda080 983a000000000000")); }, "invalid UTF-8");
    }
    SECTION("non-canonical LEB128") {
        require_malformed([] { (void)decode_to_server(hex("01 8000")); }, "non-canonical uint");
        require_malformed([] { (void)decode_to_client(hex("00 8300 726964 983a000000000000")); }, "non-canonical uint");
    }
    SECTION("a count larger than the input") {
        require_malformed([] { (void)decode_to_server(hex("01 ffffffff0f")); }, "unexpected end of input");
        require_malformed([] { (void)decode_to_server(hex("02 ffffffffffffffff7f 00")); }, "unexpected end of input");
        require_malformed([] { (void)decode_to_server(hex("05 026131 00000000 00 ffffffffffffffffff01")); },
                          "unexpected end of input");
    }
    SECTION("empty input") {
        require_malformed([] { (void)decode_to_server(bytes{}); }, "unexpected end of input");
        require_malformed([] { (void)decode_to_client(bytes{}); }, "unexpected end of input");
    }
}

TEST_CASE("runner protocol: the version prefix is checked where it is carried", "[engine][runner_protocol]") {
    require_malformed([] { (void)decode_to_serverless_server(hex("0400 00 03726964 0500")); },
                      "unsupported protocol version 4");
    require_malformed([] { (void)decode_to_serverless_server(hex("0600 00 03726964 0500")); },
                      "unsupported protocol version 6");
    require_malformed([] { (void)decode_to_serverless_server(hex("05")); }, "missing version prefix");
    require_malformed([] { (void)decode_to_runner(hex("0005 01")); }, "unsupported protocol version 1280");
    require_malformed([] { (void)decode_to_gateway(bytes{}); }, "missing version prefix");
    require_malformed([] { (void)decode_actor_command_key_data(hex("0500")); }, "unexpected end of input");
    // WebSocket frames carry none: a prefixed frame is not a valid message.
    require_malformed([] { (void)decode_to_client(hex("0500 050068e5cf8b010000")); }, "");
}

TEST_CASE("runner protocol: encoders refuse what the official decoders would refuse", "[engine][runner_protocol]") {
    CHECK_THROWS_AS(encode_to_server(to_server_init{"\xff", 1, 1, std::nullopt, std::nullopt}), std::invalid_argument);
    CHECK_THROWS_AS(encode_to_server(to_server_init{"n", 1, 1, string_map<actor_name>{{"\xc3", {"{}"}}}, std::nullopt}),
                    std::invalid_argument);
    CHECK_THROWS_AS(encode_to_server(to_server_init{"n", 1, 1, string_map<actor_name>{{"a", {"{}"}}, {"a", {"{}"}}},
                                                    std::nullopt}),
                    std::invalid_argument);
    CHECK_THROWS_AS(encode_to_client(to_client_tunnel_message{
                        {gw, req, 0}, to_client_request_start{"a", "GET", "/", {{"k", "1"}, {"k", "2"}}, std::nullopt, false}}),
                    std::invalid_argument);
    CHECK_THROWS_AS(encode_to_server(to_server_events{
                        {{{"a", 0, 0}, event_actor_state_update{actor_state_stopped{static_cast<stop_code>(2), {}}}}}}),
                    std::invalid_argument);
    // The same keys differing only in case are distinct (the wire compares bytes).
    CHECK_NOTHROW(encode_to_client(to_client_tunnel_message{
        {gw, req, 0}, to_client_request_start{"a", "GET", "/", {{"k", "1"}, {"K", "2"}}, std::nullopt, false}}));
}
