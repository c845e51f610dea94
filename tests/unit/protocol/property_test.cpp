// Properties over random input (fixed seeds): every message round-trips through every encoding
// (modulo the value kind rules of each codec), encodings are fixed points, and arbitrary,
// truncated or mutated payloads only ever give message/malformed.

#include <catch2/catch.hpp>

#include <functional>

#include "protocol_test_util.hpp"

using namespace rivetkit;
using namespace rivetkit::protocol;
using codec_test::same;
using protocol_test::expect;
using protocol_test::to_hex;
using protocol_test::value_gen;

namespace {

std::uint64_t random_id(value_gen& gen, encoding e) {
    // JSON and CBOR ids read back only up to INT64_MAX (see the header).
    const std::uint64_t id = gen.chance(30) ? gen.below(10) : gen.u64() >> gen.below(64);
    return e == encoding::bare ? id : id & static_cast<std::uint64_t>(INT64_MAX);
}

to_server random_to_server(value_gen& gen, encoding e) {
    if (gen.chance(70)) return action_request{random_id(gen, e), gen.string(), gen.array()};
    return subscription_request{gen.string(), gen.chance(50)};
}

to_client random_to_client(value_gen& gen, encoding e) {
    switch (gen.below(4)) {
        case 0: return init_message{gen.string(), gen.string()};
        case 1: {
            error_message m{gen.string(), gen.string(), gen.string(), {}, std::nullopt};
            if (gen.chance(60)) m.metadata = gen.any();
            if (gen.chance(60)) m.action_id = random_id(gen, e);
            return m;
        }
        case 2: return action_response{random_id(gen, e), gen.any()};
        default: return event_message{gen.string(), gen.array()};
    }
}

// ---- expected results ----

bool same_args(encoding e, const array& got, const array& sent) { return same(value(got), value(expect(e, sent))); }

/// metadata: undefined stays absent; anything else follows the codec rules.
bool same_metadata(encoding e, const value& got, const value& sent) {
    return sent.is_undefined() ? got.is_undefined() : same(got, expect(e, sent));
}

bool same_message(encoding e, const to_server& got, const to_server& sent) {
    if (got.index() != sent.index()) return false;
    if (const auto* s = std::get_if<action_request>(&sent)) {
        const auto& g = std::get<action_request>(got);
        return g.id == s->id && g.name == s->name && same_args(e, g.args, s->args);
    }
    return got == sent;
}

bool same_message(encoding e, const to_client& got, const to_client& sent) {
    if (got.index() != sent.index()) return false;
    if (const auto* s = std::get_if<error_message>(&sent)) {
        const auto& g = std::get<error_message>(got);
        return g.group == s->group && g.code == s->code && g.message == s->message &&
               g.action_id == s->action_id && same_metadata(e, g.metadata, s->metadata);
    }
    if (const auto* s = std::get_if<action_response>(&sent)) {
        const auto& g = std::get<action_response>(got);
        return g.id == s->id && same(g.output, expect(e, s->output));
    }
    if (const auto* s = std::get_if<event_message>(&sent)) {
        const auto& g = std::get<event_message>(got);
        return g.name == s->name && same_args(e, g.args, s->args);
    }
    return got == sent;
}

std::string describe(const to_server& m) {
    if (const auto* r = std::get_if<action_request>(&m)) {
        return "ActionRequest " + std::to_string(r->id) + " " + r->name + " " + value(r->args).to_debug_string();
    }
    const auto& s = std::get<subscription_request>(m);
    return "SubscriptionRequest " + s.event_name + (s.subscribe ? " true" : " false");
}

std::string describe(const to_client& m) {
    if (const auto* i = std::get_if<init_message>(&m)) return "Init " + i->actor_id + " " + i->connection_id;
    if (const auto* er = std::get_if<error_message>(&m)) {
        return "Error " + er->group + "/" + er->code + " " + er->message + " " + er->metadata.to_debug_string() +
               " " + (er->action_id ? std::to_string(*er->action_id) : "null");
    }
    if (const auto* r = std::get_if<action_response>(&m)) {
        return "ActionResponse " + std::to_string(r->id) + " " + r->output.to_debug_string();
    }
    const auto& ev = std::get<event_message>(m);
    return "Event " + ev.name + " " + value(ev.args).to_debug_string();
}

}  // namespace

// Failure messages are built only on failure: building them for every iteration would cost
// more than the round trips.
#define PROTOCOL_REQUIRE(cond, what) \
    do {                             \
        if (!(cond)) FAIL(what);     \
    } while (false)

TEST_CASE("property: WebSocket messages round-trip through every encoding", "[protocol][property]") {
    for (const encoding e : protocol_test::all_encodings) {
        value_gen gen(0x5EED0000u + static_cast<unsigned>(e));
        for (int i = 0; i < 300; ++i) {
            const to_server request = random_to_server(gen, e);
            const std::string wire = encode_to_server(e, request);
            const auto request_info = [&] { return std::string(to_string(e)) + " " + describe(request) + "\nwire: " + to_hex(wire); };
            const to_server back = decode_to_server(e, wire);
            PROTOCOL_REQUIRE(same_message(e, back, request), request_info() + "\ngot: " + describe(back));
            PROTOCOL_REQUIRE(encode_to_server(e, back) == wire, request_info() + "\nnot a fixed point");

            const to_client reply = random_to_client(gen, e);
            const std::string reply_wire = encode_to_client(e, reply);
            const auto reply_info = [&] { return std::string(to_string(e)) + " " + describe(reply) + "\nwire: " + to_hex(reply_wire); };
            const to_client reply_back = decode_to_client(e, reply_wire);
            PROTOCOL_REQUIRE(same_message(e, reply_back, reply), reply_info() + "\ngot: " + describe(reply_back));
            PROTOCOL_REQUIRE(encode_to_client(e, reply_back) == reply_wire, reply_info() + "\nnot a fixed point");
        }
    }
}

TEST_CASE("property: HTTP bodies round-trip through every encoding", "[protocol][property]") {
    for (const encoding e : protocol_test::all_encodings) {
        value_gen gen(0x477900u + static_cast<unsigned>(e));
        for (int i = 0; i < 300; ++i) {
            const array args = gen.array();
            const std::string request = encode_http_action_request(e, args);
            const auto args_info = [&] { return std::string(to_string(e)) + " args " + value(args).to_debug_string() + "\nwire: " + to_hex(request); };
            const array args_back = decode_http_action_request(e, request);
            PROTOCOL_REQUIRE(same_args(e, args_back, args), args_info() + "\ngot: " + value(args_back).to_debug_string());
            PROTOCOL_REQUIRE(encode_http_action_request(e, args_back) == request, args_info() + "\nnot a fixed point");

            const value output = gen.any();
            const std::string response = encode_http_action_response(e, output);
            const auto output_info = [&] { return std::string(to_string(e)) + " output " + output.to_debug_string() + "\nwire: " + to_hex(response); };
            const value output_back = decode_http_action_response(e, response);
            PROTOCOL_REQUIRE(same(output_back, expect(e, output)), output_info() + "\ngot: " + output_back.to_debug_string());
            PROTOCOL_REQUIRE(encode_http_action_response(e, output_back) == response, output_info() + "\nnot a fixed point");

            client_error err{gen.string(), gen.string(), gen.string(), {}, 400};
            if (gen.chance(60)) err.metadata = gen.any();
            const std::string error_body = encode_http_error(e, err);
            const auto error_info = [&] { return std::string(to_string(e)) + " metadata " + err.metadata.to_debug_string() + "\nwire: " + to_hex(error_body); };
            const client_error err_back = decode_http_error(e, error_body);
            PROTOCOL_REQUIRE(err_back.group == err.group && err_back.code == err.code && err_back.message == err.message,
                             error_info());
            PROTOCOL_REQUIRE(same_metadata(e, err_back.metadata, err.metadata),
                             error_info() + "\ngot: " + err_back.metadata.to_debug_string());
            PROTOCOL_REQUIRE(encode_http_error(e, err_back) == error_body, error_info() + "\nnot a fixed point");
        }
    }
}

namespace {

using decoder = std::function<void(encoding, std::string_view)>;

const decoder decoders[] = {
    [](encoding e, std::string_view p) { (void)decode_to_server(e, p); },
    [](encoding e, std::string_view p) { (void)decode_to_client(e, p); },
    [](encoding e, std::string_view p) { (void)decode_http_action_request(e, p); },
    [](encoding e, std::string_view p) { (void)decode_http_action_response(e, p); },
    [](encoding e, std::string_view p) { (void)decode_http_error(e, p); },
};

/// True when the payload decodes; false when it is refused with message/malformed. Any other
/// outcome (another exception type or code, a crash, a sanitizer report) fails the test.
bool decodes(const decoder& d, encoding e, std::string_view payload) {
    try {
        d(e, payload);
        return true;
    } catch (const rivetkit::error& err) {
        PROTOCOL_REQUIRE(err.group() == "message" && err.code() == "malformed",
                         "payload: " + to_hex(payload) + "\nerror: " + err.what());
        return false;
    }
}

/// A valid payload of a random kind, and the index of its decoder in `decoders`.
std::pair<std::string, std::size_t> random_valid_payload(value_gen& gen, encoding e) {
    switch (const std::size_t kind = gen.below(5)) {
        case 0: return {encode_to_server(e, random_to_server(gen, e)), kind};
        case 1: return {encode_to_client(e, random_to_client(gen, e)), kind};
        case 2: return {encode_http_action_request(e, gen.array()), kind};
        case 3: return {encode_http_action_response(e, gen.any()), kind};
        default: return {encode_http_error(e, {gen.string(), gen.string(), gen.string(), gen.any(), 400}), kind};
    }
}

std::string mutate(std::string s, value_gen& gen) {
    static constexpr char interesting[] = {'\x00', '\x01', '\x02', '\x04', '\x05', '\x7f', '\x80', '\xb9', '\xf7',
                                           '\xff', '"', '[', ']', '{', '}', ',', ':', '$'};
    const std::uint64_t rounds = 1 + gen.below(3);
    for (std::uint64_t r = 0; r < rounds && !s.empty(); ++r) {
        const std::size_t at = gen.below(s.size());
        switch (gen.below(4)) {
            case 0: s[at] = static_cast<char>(s[at] ^ static_cast<char>(1 << gen.below(8))); break;
            case 1: s[at] = interesting[gen.below(std::size(interesting))]; break;
            case 2: s.erase(at, 1); break;
            default: s.insert(at, 1, interesting[gen.below(std::size(interesting))]);
        }
    }
    return s;
}

}  // namespace

TEST_CASE("robustness: truncated valid payloads are always refused", "[protocol][fuzz]") {
    value_gen gen(0x7E0C);
    for (const encoding e : protocol_test::all_encodings) {
        for (int i = 0; i < 10; ++i) {
            const auto [payload, kind] = random_valid_payload(gen, e);
            PROTOCOL_REQUIRE(decodes(decoders[kind], e, payload), to_hex(payload));
            for (std::size_t n = 0; n < payload.size(); ++n) {
                const std::string_view prefix(payload.data(), n);
                // Its own decoder refuses every strict prefix; the others must merely not crash
                // (a prefix may by chance be another valid message).
                for (std::size_t k = 0; k < std::size(decoders); ++k) {
                    const bool ok = decodes(decoders[k], e, prefix);
                    PROTOCOL_REQUIRE(!ok || k != kind, "prefix accepted: " + to_hex(prefix));
                }
            }
        }
    }
}

TEST_CASE("robustness: random and mutated payloads only give malformed_message", "[protocol][fuzz]") {
    value_gen gen(0xF022ED);
    std::size_t accepted = 0;
    std::size_t refused = 0;
    for (int i = 0; i < 1500; ++i) {
        const encoding e = protocol_test::all_encodings[i % 3];
        std::string payload;
        if (gen.chance(30)) {
            payload.resize(gen.below(40));
            for (char& c : payload) c = static_cast<char>(gen.u64());
            if (e == encoding::bare && payload.size() >= 2 && gen.chance(70)) {
                payload[0] = static_cast<char>(1 + gen.below(4));  // get past the version check
                payload[1] = 0;
            }
        } else {
            payload = mutate(random_valid_payload(gen, e).first, gen);
        }
        for (const decoder& d : decoders) {
            if (decodes(d, e, payload)) {
                ++accepted;
            } else {
                ++refused;
            }
        }
    }
    // The corpus has to exercise both outcomes to mean anything.
    INFO(accepted << " accepted, " << refused << " refused");
    CHECK(accepted > 100);
    CHECK(refused > 500);
}
