#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/utf8.hpp"
#include "net/websocket_frame.hpp"

using namespace rivetkit::net;
using event = frame_parser::event;

namespace {

constexpr ws_mask_key test_key{0x37, 0xfa, 0x21, 0x3d};  // the key of RFC 6455's examples

std::string frame(ws_opcode op, std::string_view payload, bool fin = true,
                  const std::optional<ws_mask_key>& mask = std::nullopt) {
    std::string out;
    append_ws_frame(out, op, payload, fin, mask);
    return out;
}
// A frame as a client sends it (masked).
std::string cframe(ws_opcode op, std::string_view payload, bool fin = true) { return frame(op, payload, fin, test_key); }

std::string bytes_of(std::initializer_list<int> list) {
    std::string s;
    for (int b : list) s.push_back(static_cast<char>(b));
    return s;
}

struct result {
    event ev;
    std::string data;  // message, control payload, close reason or error reason
    bool binary = false;
    std::uint16_t code = 0;  // close or error code
};

// Feeds `input` to `p` in pieces of `chunk` bytes and collects every event.
std::vector<result> parse_all(frame_parser& p, std::string input, std::size_t chunk = std::string::npos) {
    std::vector<result> out;
    std::size_t pos = 0;
    while (pos < input.size() && !p.stopped()) {
        const std::size_t n = std::min(chunk, input.size() - pos);
        std::span<std::uint8_t> in(reinterpret_cast<std::uint8_t*>(input.data() + pos), n);
        for (;;) {
            const event e = p.parse(in);
            if (e == event::need_more) break;
            result r{e, {}, false, 0};
            switch (e) {
                case event::message: r.data = p.message(); r.binary = p.is_binary(); break;
                case event::ping:
                case event::pong: r.data = std::string(p.control_payload()); break;
                case event::close: r.data = std::string(p.close_reason()); r.code = p.close_code(); break;
                case event::error: r.data = std::string(p.error_reason()); r.code = p.error_code(); break;
                case event::need_more: break;
            }
            out.push_back(std::move(r));
            if (p.stopped()) break;
        }
        CHECK((in.empty() || p.stopped()));
        pos += n;
    }
    return out;
}

// The close code a server-side parser fails with on `input` (0: no error).
std::uint16_t server_error(const std::string& input, std::size_t max = 1 << 20) {
    frame_parser p(true, max);
    auto events = parse_all(p, input);
    if (events.empty() || events.back().ev != event::error) return 0;
    return events.back().code;
}

}  // namespace

TEST_CASE("websocket frame: RFC 6455 section 5.7 examples", "[websocket]") {
    CHECK(frame(ws_opcode::text, "Hello") == bytes_of({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
    CHECK(frame(ws_opcode::text, "Hello", true, test_key) ==
          bytes_of({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
    CHECK(frame(ws_opcode::text, "Hel", false) == bytes_of({0x01, 0x03, 0x48, 0x65, 0x6c}));
    CHECK(frame(ws_opcode::continuation, "lo") == bytes_of({0x80, 0x02, 0x6c, 0x6f}));
    CHECK(frame(ws_opcode::ping, "Hello") == bytes_of({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
    CHECK(frame(ws_opcode::pong, "Hello", true, test_key) ==
          bytes_of({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));

    const std::string b256 = frame(ws_opcode::binary, std::string(256, 'x'));
    CHECK(b256.substr(0, 4) == bytes_of({0x82, 0x7E, 0x01, 0x00}));
    CHECK(b256.size() == 4 + 256);
    const std::string b64k = frame(ws_opcode::binary, std::string(65536, 'x'));
    CHECK(b64k.substr(0, 10) == bytes_of({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}));
    CHECK(b64k.size() == 10 + 65536);

    // The client parser reads the unmasked ones, the server parser the masked ones.
    frame_parser client(false, 1 << 20);
    auto events = parse_all(client, bytes_of({0x01, 0x03, 0x48, 0x65, 0x6c, 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
                                              0x80, 0x02, 0x6c, 0x6f}));
    REQUIRE(events.size() == 2);
    CHECK(events[0].ev == event::ping);
    CHECK(events[0].data == "Hello");
    CHECK(events[1].ev == event::message);
    CHECK(events[1].data == "Hello");
    CHECK_FALSE(events[1].binary);

    frame_parser server(true, 1 << 20);
    events = parse_all(server, bytes_of({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
    REQUIRE(events.size() == 1);
    CHECK(events[0].data == "Hello");
}

TEST_CASE("websocket frame: every length form round-trips, masked and not", "[websocket]") {
    for (std::size_t size : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 70000u}) {
        for (bool masked : {false, true}) {
            std::string payload(size, '\0');
            for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 7 + 3);
            const auto f = frame(ws_opcode::binary, payload, true, masked ? std::optional(test_key) : std::nullopt);
            const std::size_t header = ws_frame_header_size(size, masked);
            CHECK(header == (size < 126 ? 2u : size <= 65535 ? 4u : 10u) + (masked ? 4u : 0u));
            REQUIRE(f.size() == header + size);
            const std::size_t len7 = static_cast<std::uint8_t>(f[1]) & 0x7Fu;
            CHECK(len7 == (size < 126 ? size : size <= 65535 ? 126u : 127u));
            CHECK(((static_cast<std::uint8_t>(f[1]) & 0x80) != 0) == masked);
            if (masked && size > 0) CHECK(f.substr(header) != payload);

            frame_parser p(masked, 1 << 20);
            auto events = parse_all(p, f);
            REQUIRE(events.size() == 1);
            CHECK(events[0].ev == event::message);
            CHECK(events[0].binary);
            CHECK(events[0].data == payload);
        }
    }
}

TEST_CASE("websocket frame: masking works piecewise at any offset", "[websocket]") {
    std::string data(37, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i);
    std::string whole = data;
    apply_ws_mask({reinterpret_cast<std::uint8_t*>(whole.data()), whole.size()}, test_key);
    for (std::size_t i = 0; i < data.size(); ++i) {
        CHECK(static_cast<std::uint8_t>(whole[i]) == (static_cast<std::uint8_t>(i) ^ test_key[i % 4]));
    }
    for (std::size_t split : {1u, 2u, 3u, 5u, 9u, 17u, 36u}) {
        std::string pieces = data;
        auto* p = reinterpret_cast<std::uint8_t*>(pieces.data());
        const std::size_t off = apply_ws_mask({p, split}, test_key);
        CHECK(off == split % 4);
        apply_ws_mask({p + split, pieces.size() - split}, test_key, off);
        CHECK(pieces == whole);
    }
}

TEST_CASE("websocket frame: byte-by-byte parsing gives the same events", "[websocket]") {
    std::string stream;
    stream += cframe(ws_opcode::text, "first");
    stream += cframe(ws_opcode::binary, std::string(300, 'b'), false);
    stream += cframe(ws_opcode::ping, "are you there");
    stream += cframe(ws_opcode::continuation, std::string(70000, 'c'), false);
    stream += cframe(ws_opcode::pong, "");
    stream += cframe(ws_opcode::continuation, "");
    stream += cframe(ws_opcode::text, "");
    stream += cframe(ws_opcode::text, "h\xc3\xa9", false);  // "hé" then a 4-byte character split
    stream += cframe(ws_opcode::continuation, "llo \xf0\x9f", false);
    stream += cframe(ws_opcode::continuation, "\x98\x80!");
    stream += cframe(ws_opcode::close, make_ws_close_payload(4000, "bye"));
    stream += cframe(ws_opcode::text, "after close");  // never parsed

    for (std::size_t chunk : {std::string::npos, std::size_t{1}, std::size_t{3}, std::size_t{1000}}) {
        frame_parser p(true, 1 << 20);
        auto events = parse_all(p, stream, chunk);
        REQUIRE(events.size() == 7);
        CHECK(events[0].ev == event::message);
        CHECK(events[0].data == "first");
        CHECK(events[1].ev == event::ping);
        CHECK(events[1].data == "are you there");
        CHECK(events[2].ev == event::pong);
        CHECK(events[3].ev == event::message);
        CHECK(events[3].binary);
        CHECK(events[3].data == std::string(300, 'b') + std::string(70000, 'c'));
        CHECK(events[4].ev == event::message);
        CHECK(events[4].data.empty());
        CHECK_FALSE(events[4].binary);
        CHECK(events[5].ev == event::message);
        CHECK(events[5].data == "h\xc3\xa9llo \xf0\x9f\x98\x80!");
        CHECK(events[6].ev == event::close);
        CHECK(events[6].code == 4000);
        CHECK(events[6].data == "bye");
        CHECK(p.stopped());
    }
}

TEST_CASE("websocket frame: close frames", "[websocket]") {
    SECTION("no payload means no status (1005)") {
        frame_parser p(true, 1024);
        auto events = parse_all(p, cframe(ws_opcode::close, ""));
        REQUIRE(events.size() == 1);
        CHECK(events[0].ev == event::close);
        CHECK(events[0].code == 1005);
        CHECK(events[0].data.empty());
    }
    SECTION("valid codes") {
        for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                                   3999, 4000, 4999}) {
            frame_parser p(false, 1024);
            auto events = parse_all(p, frame(ws_opcode::close, make_ws_close_payload(code, "r")));
            REQUIRE(events.size() == 1);
            CHECK(events[0].ev == event::close);
            CHECK(events[0].code == code);
            CHECK(is_valid_close_code(code));
        }
    }
    SECTION("invalid codes fail with 1002") {
        for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
            std::string payload = bytes_of({code >> 8, code & 0xFF});
            CHECK(server_error(cframe(ws_opcode::close, payload)) == 1002);
            CHECK_FALSE(is_valid_close_code(code));
        }
    }
    SECTION("a one-byte payload fails with 1002") {
        CHECK(server_error(cframe(ws_opcode::close, "\x03")) == 1002);
    }
    SECTION("a reason that is not UTF-8 fails with 1007") {
        CHECK(server_error(cframe(ws_opcode::close, bytes_of({0x03, 0xE8, 0xCE, 0xBA, 0xE1, 0xBD}))) == 1007);
        CHECK(server_error(cframe(ws_opcode::close, bytes_of({0x03, 0xE8, 0xFF}))) == 1007);
    }
    SECTION("building a close payload") {
        CHECK(make_ws_close_payload(1005, "ignored").empty());
        CHECK(make_ws_close_payload(1000, "") == bytes_of({0x03, 0xE8}));
        CHECK(make_ws_close_payload(4001, "x") == bytes_of({0x0F, 0xA1, 'x'}));
        // Longer reasons are cut to 123 bytes, never inside a character.
        const std::string ascii(200, 'a');
        CHECK(make_ws_close_payload(1000, ascii).size() == 125);
        std::string multi;
        for (int i = 0; i < 50; ++i) multi += "\xe2\x82\xac";  // 3-byte characters, 150 bytes
        const auto cut = make_ws_close_payload(1000, multi);
        CHECK(cut.size() == 2 + 123);  // 41 whole characters
        CHECK(rivetkit::is_valid_utf8(std::string_view(cut).substr(2)));
        std::string odd = "a" + multi;  // 123 would split a character: cut at 122
        const auto cut2 = make_ws_close_payload(1000, odd);
        CHECK(cut2.size() == 2 + 121);
        CHECK(rivetkit::is_valid_utf8(std::string_view(cut2).substr(2)));
    }
}

TEST_CASE("websocket frame: protocol violations and their close codes", "[websocket]") {
    SECTION("reserved bits (no extension negotiated): 1002") {
        for (int rsv : {0x40, 0x20, 0x10}) {
            std::string f = cframe(ws_opcode::text, "x");
            f[0] = static_cast<char>(static_cast<std::uint8_t>(f[0]) | rsv);
            CHECK(server_error(f) == 1002);
        }
    }
    SECTION("unknown opcodes: 1002") {
        for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
            std::string f = cframe(ws_opcode::text, "x");
            f[0] = static_cast<char>(0x80 | op);
            CHECK(server_error(f) == 1002);
        }
    }
    SECTION("an unmasked frame from a client: 1002") {
        CHECK(server_error(frame(ws_opcode::text, "x")) == 1002);
    }
    SECTION("a masked frame from a server: 1002") {
        frame_parser p(false, 1024);
        auto events = parse_all(p, cframe(ws_opcode::text, "x"));
        REQUIRE(events.size() == 1);
        CHECK(events[0].ev == event::error);
        CHECK(events[0].code == 1002);
    }
    SECTION("fragmented control frames: 1002") {
        CHECK(server_error(cframe(ws_opcode::ping, "x", false)) == 1002);
        CHECK(server_error(cframe(ws_opcode::close, "", false)) == 1002);
    }
    SECTION("control frames over 125 bytes: 1002") {
        CHECK(server_error(cframe(ws_opcode::ping, std::string(125, 'p'))) == 0);
        CHECK(server_error(cframe(ws_opcode::ping, std::string(126, 'p'))) == 1002);
        CHECK(server_error(cframe(ws_opcode::pong, std::string(126, 'p'))) == 1002);
    }
    SECTION("continuation without a started message: 1002") {
        CHECK(server_error(cframe(ws_opcode::continuation, "x")) == 1002);
        CHECK(server_error(cframe(ws_opcode::text, "a") + cframe(ws_opcode::continuation, "x")) == 1002);
    }
    SECTION("a new data frame inside a fragmented message: 1002") {
        CHECK(server_error(cframe(ws_opcode::text, "a", false) + cframe(ws_opcode::text, "b")) == 1002);
        CHECK(server_error(cframe(ws_opcode::binary, "a", false) + cframe(ws_opcode::binary, "b")) == 1002);
    }
    SECTION("invalid UTF-8 in text: 1007, as soon as it is seen") {
        CHECK(server_error(cframe(ws_opcode::text, "ok \xff")) == 1007);
        CHECK(server_error(cframe(ws_opcode::text, "\xed\xa0\x80")) == 1007);      // a surrogate
        CHECK(server_error(cframe(ws_opcode::text, "\xc0\xaf")) == 1007);          // overlong
        CHECK(server_error(cframe(ws_opcode::text, "\xf4\x90\x80\x80")) == 1007);  // above U+10FFFF
        // The first fragment is already wrong: no need to wait for the rest.
        CHECK(server_error(cframe(ws_opcode::text, "bad \xff", false)) == 1007);
        // A character cut off by the end of the message.
        CHECK(server_error(cframe(ws_opcode::text, "\xe2\x82", false) + cframe(ws_opcode::continuation, "")) == 1007);
        CHECK(server_error(cframe(ws_opcode::text, "\xe2\x82")) == 1007);
        // Binary messages are not checked.
        CHECK(server_error(cframe(ws_opcode::binary, "\xff")) == 0);
    }
    SECTION("a message over the limit: 1009") {
        CHECK(server_error(cframe(ws_opcode::binary, std::string(100, 'x')), 100) == 0);
        CHECK(server_error(cframe(ws_opcode::binary, std::string(101, 'x')), 100) == 1009);
        // Fragments count together.
        const auto two = cframe(ws_opcode::text, std::string(60, 'x'), false) +
                         cframe(ws_opcode::continuation, std::string(41, 'x'));
        CHECK(server_error(two, 100) == 1009);
        // Detected from the header, before the payload arrives.
        frame_parser p(true, 100);
        auto events = parse_all(p, cframe(ws_opcode::binary, std::string(5000, 'x')).substr(0, 8));
        REQUIRE(events.size() == 1);
        CHECK(events[0].code == 1009);
    }
    SECTION("a 64-bit length with the top bit set: 1002") {
        std::string f = bytes_of({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4});
        CHECK(server_error(f) == 1002);
    }
    SECTION("after an error the parser consumes nothing more") {
        frame_parser p(true, 1024);
        std::string input = frame(ws_opcode::text, "x") + cframe(ws_opcode::text, "y");
        std::span<std::uint8_t> in(reinterpret_cast<std::uint8_t*>(input.data()), input.size());
        CHECK(p.parse(in) == event::error);
        const auto left = in.size();
        CHECK(p.parse(in) == event::need_more);
        CHECK(in.size() == left);
        CHECK(p.stopped());
    }
}

TEST_CASE("websocket frame: incremental UTF-8 validation", "[websocket]") {
    const std::string valid = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z0123456789";
    for (std::size_t i = 0; i <= valid.size(); ++i) {
        for (std::size_t j = i; j <= valid.size(); ++j) {
            utf8_validator v;
            CHECK(v.feed(std::string_view(valid).substr(0, i)));
            CHECK(v.feed(std::string_view(valid).substr(i, j - i)));
            CHECK(v.feed(std::string_view(valid).substr(j)));
            CHECK(v.complete());
        }
    }
    utf8_validator v;
    CHECK(v.feed("\xf0\x9f"));
    CHECK_FALSE(v.complete());  // unfinished character
    CHECK_FALSE(v.feed("A"));   // a non-continuation byte inside a character
    CHECK_FALSE(v.feed("ok"));  // stays failed
    CHECK_FALSE(v.complete());
    v.reset();
    CHECK(v.feed("\xe0"));
    CHECK_FALSE(v.feed("\x9f"));  // overlong three-byte form
    v.reset();
    CHECK(v.feed("\xed"));
    CHECK_FALSE(v.feed("\xa0"));  // surrogate
    v.reset();
    CHECK_FALSE(v.feed("\x80"));  // stray continuation
    // Agrees with the whole-string validator on a sample of byte strings.
    for (unsigned a = 0x80; a < 0x100; a += 7) {
        for (unsigned b = 0x70; b < 0x100; b += 11) {
            const std::string s = bytes_of({static_cast<int>(a), static_cast<int>(b), 0x80, 0x80});
            utf8_validator w;
            const bool whole = w.feed(s) && w.complete();
            CHECK(whole == rivetkit::is_valid_utf8(s));
        }
    }
}
