#include <catch2/catch.hpp>

#include <cstdint>
#include <future>
#include <memory>
#include <string>

#include "http_test_support.hpp"
#include "rivetkit/websocket.hpp"

using namespace http_test;

namespace {

// The example handshake of RFC 6455 section 1.3.
constexpr std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view sample_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::string handshake(std::string_view extra = {}) {
    return "GET /chat HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: " + std::string(sample_key) +
           "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n" + std::string(extra) + "\r\n";
}

/// A client frame (masked, as RFC 6455 requires), payload under 126 bytes.
std::string masked_frame(std::uint8_t opcode, std::string_view payload) {
    const std::uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    std::string f;
    f.push_back(static_cast<char>(0x80 | opcode));
    f.push_back(static_cast<char>(0x80 | payload.size()));
    for (auto k : key) f.push_back(static_cast<char>(k));
    for (std::size_t i = 0; i < payload.size(); ++i) {
        f.push_back(static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ key[i % 4]));
    }
    return f;
}

struct frame {
    std::uint8_t first = 0;
    std::string payload;
};

/// A server frame (unmasked), payload under 126 bytes.
frame read_frame(client& c) {
    const std::string head = c.read_exactly(2);
    frame f;
    f.first = static_cast<std::uint8_t>(head[0]);
    const auto len = static_cast<std::uint8_t>(head[1]);
    REQUIRE((len & 0x80) == 0);  // server frames are not masked
    REQUIRE(len < 126);
    f.payload = c.read_exactly(len);
    return f;
}

/// Accepts every upgrade with protocol "chat" and echoes text messages.
void accept_and_echo(test_handler& h) {
    h.on_upgrade = [](http_request r) -> task<upgrade_reply> {
        upgrade_reply u;
        u.protocol = "chat";
        u.headers = {{"X-Path", r.path}};
        u.on_open = [](std::shared_ptr<rivetkit::websocket> ws) {
            std::weak_ptr<rivetkit::websocket> weak = ws;
            ws->on_message([weak](const rivetkit::websocket_message& m) {
                if (auto s = weak.lock()) s->send("echo: " + m.data);
            });
        };
        co_return u;
    };
}

}  // namespace

TEST_CASE("http_server: WebSocket upgrade, one message each way", "[net][http_server][websocket]") {
    server_fixture f;
    accept_and_echo(*f.handler);
    client c(f.port);
    // The first frame travels in the same write as the handshake: the server must pass the
    // bytes it already read on to the session.
    c.send(handshake() + masked_frame(0x1, "hello"));
    const auto r = c.read_response();
    CHECK(r.status == 101);
    CHECK(*r.header("upgrade") == "websocket");
    CHECK(*r.header("connection") == "Upgrade");
    CHECK(*r.header("sec-websocket-accept") == sample_accept);
    CHECK(*r.header("sec-websocket-protocol") == "chat");
    CHECK(*r.header("x-path") == "/chat");
    CHECK(r.header("content-length") == nullptr);

    auto fr = read_frame(c);
    CHECK(fr.first == 0x81);
    CHECK(fr.payload == "echo: hello");

    c.send(masked_frame(0x1, "again"));
    CHECK(read_frame(c).payload == "echo: again");
    CHECK(f.server->connection_count() == 1);  // the WebSocket still counts

    SECTION("close() of the server closes it with 1001") {
        f.server->close();
        fr = read_frame(c);
        CHECK(fr.first == 0x88);
        REQUIRE(fr.payload.size() >= 2);
        CHECK(((static_cast<std::uint8_t>(fr.payload[0]) << 8) | static_cast<std::uint8_t>(fr.payload[1])) == 1001);
        c.send(masked_frame(0x8, fr.payload.substr(0, 2)));
        CHECK(c.closed_by_peer());
        // The fixture checks that the server drains (the WebSocket stopped counting).
    }
    SECTION("a client close ends the connection") {
        c.send(masked_frame(0x8, "\x03\xe8"));
        fr = read_frame(c);
        CHECK(fr.first == 0x88);
        CHECK(c.closed_by_peer());
    }
}

TEST_CASE("http_server: refused and invalid upgrades stay HTTP", "[net][http_server][websocket]") {
    server_fixture f;
    SECTION("refused by the handler: its response, keep-alive as usual") {
        client c(f.port);
        const auto r = c.roundtrip(handshake());
        CHECK(r.status == 403);
        CHECK(r.body == "no websockets here");
        CHECK(r.header("connection") == nullptr);
        CHECK(c.roundtrip(get("/next")).body == "GET /next");
    }
    SECTION("an invalid handshake: 400 with the reason") {
        client c(f.port);
        const auto r = c.roundtrip(
            "GET /chat HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n");
        CHECK(r.status == 400);
        CHECK_FALSE(r.body.empty());
    }
    SECTION("another protocol's upgrade is an ordinary request") {
        client c(f.port);
        const auto r = c.roundtrip(get("/h2", "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"));
        CHECK(r.status == 200);
        CHECK(r.body == "GET /h2");
        CHECK(c.roundtrip(get("/next")).body == "GET /next");
    }
    SECTION("a handler that throws: 500") {
        f.handler->on_upgrade = [](http_request) -> task<upgrade_reply> {
            throw std::runtime_error("no");
            co_return upgrade_reply{};
        };
        rivetkit::set_log_sink([](rivetkit::log_level, std::string_view) {});
        client c(f.port);
        const auto r = c.roundtrip(handshake());
        rivetkit::set_log_sink(nullptr);
        CHECK(r.status == 500);
    }
}
