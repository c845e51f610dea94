#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/base64.hpp"
#include "net/websocket_handshake.hpp"

using namespace rivetkit;
using namespace rivetkit::net;

namespace {

http_request handshake() {
    http_request r;
    r.method = "GET";
    r.path = "/chat";
    r.headers = {
        {"Host", "server.example.com"},
        {"Upgrade", "websocket"},
        {"Connection", "Upgrade"},
        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
        {"Sec-WebSocket-Version", "13"},
    };
    return r;
}

void set_header(http_request& r, std::string_view name, std::string value) {
    for (auto& [k, v] : r.headers) {
        if (k == name) {
            v = std::move(value);
            return;
        }
    }
    r.headers.emplace_back(std::string(name), std::move(value));
}

void remove_header(http_request& r, std::string_view name) {
    std::erase_if(r.headers, [name](const auto& h) { return h.first == name; });
}

}  // namespace

TEST_CASE("websocket handshake: the accept key of RFC 6455's example", "[websocket]") {
    // RFC 6455 section 1.3 (and 4.2.2). Checked independently: base64(sha1(key + GUID)).
    CHECK(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(websocket_accept_key("x3JJHMbDL1EzLkh9GBhXDw==") == "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST_CASE("websocket handshake: recognising an upgrade request", "[websocket]") {
    auto r = handshake();
    CHECK(is_websocket_upgrade(r));
    set_header(r, "Upgrade", "WebSocket");
    CHECK(is_websocket_upgrade(r));
    set_header(r, "Upgrade", "h2c, websocket");
    CHECK(is_websocket_upgrade(r));
    set_header(r, "Upgrade", "h2c");
    CHECK_FALSE(is_websocket_upgrade(r));
    r.headers.emplace_back("upgrade", " websocket ");  // a second Upgrade header
    CHECK(is_websocket_upgrade(r));
    r.method = "POST";
    CHECK_FALSE(is_websocket_upgrade(r));
    auto plain = handshake();
    remove_header(plain, "Upgrade");
    CHECK_FALSE(is_websocket_upgrade(plain));
    set_header(plain, "Upgrade", "websockets");
    CHECK_FALSE(is_websocket_upgrade(plain));
}

TEST_CASE("websocket handshake: validating the client's request", "[websocket]") {
    CHECK_FALSE(check_websocket_upgrade(handshake()).has_value());

    auto r = handshake();
    set_header(r, "Connection", "keep-alive, Upgrade");
    CHECK_FALSE(check_websocket_upgrade(r).has_value());
    set_header(r, "Connection", "keep-alive");
    CHECK(check_websocket_upgrade(r).has_value());
    remove_header(r, "Connection");
    CHECK(check_websocket_upgrade(r).has_value());

    r = handshake();
    set_header(r, "Sec-WebSocket-Version", "8");
    CHECK(check_websocket_upgrade(r).has_value());
    remove_header(r, "Sec-WebSocket-Version");
    CHECK(check_websocket_upgrade(r).has_value());

    r = handshake();
    remove_header(r, "Sec-WebSocket-Key");
    CHECK(check_websocket_upgrade(r).has_value());
    set_header(r, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ");  // no padding
    CHECK(check_websocket_upgrade(r).has_value());
    set_header(r, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j");  // 15 bytes
    CHECK(check_websocket_upgrade(r).has_value());
    set_header(r, "Sec-WebSocket-Key", "not base64 at all!!!!!==");
    CHECK(check_websocket_upgrade(r).has_value());
    set_header(r, "Sec-WebSocket-Key", " dGhlIHNhbXBsZSBub25jZQ== ");  // surrounding space is fine
    CHECK_FALSE(check_websocket_upgrade(r).has_value());

    r = handshake();
    r.method = "POST";
    CHECK(check_websocket_upgrade(r).has_value());
}

TEST_CASE("websocket handshake: offered subprotocols", "[websocket]") {
    auto r = handshake();
    CHECK(offered_protocols(r).empty());
    r.headers.emplace_back("Sec-WebSocket-Protocol", "rivet, rivet_target.actor ,,  rivet_encoding.json");
    r.headers.emplace_back("sec-websocket-protocol", "chat");
    CHECK(offered_protocols(r) == std::vector<std::string>{"rivet", "rivet_target.actor", "rivet_encoding.json", "chat"});
}

TEST_CASE("websocket handshake: the client side", "[websocket]") {
    const auto key = make_websocket_key();
    CHECK(key.size() == 24);
    const auto raw = base64_decode(key);
    REQUIRE(raw.has_value());
    CHECK(raw->size() == 16);
    CHECK(make_websocket_key() != key);

    const std::vector<std::string> protocols{"chat", "superchat"};
    http_request request;
    request.headers = websocket_request_headers(key, protocols);
    CHECK(is_websocket_upgrade(request));
    CHECK_FALSE(check_websocket_upgrade(request).has_value());
    CHECK(offered_protocols(request) == protocols);

    http_headers ok{
        {"Upgrade", "websocket"},
        {"Connection", "Upgrade"},
        {"Sec-WebSocket-Accept", websocket_accept_key(key)},
    };
    CHECK_FALSE(check_websocket_accept(101, ok, key, protocols).has_value());
    CHECK(check_websocket_accept(200, ok, key, protocols).has_value());
    CHECK(check_websocket_accept(101, ok, make_websocket_key(), protocols).has_value());  // wrong accept

    auto with_protocol = ok;
    with_protocol.emplace_back("Sec-WebSocket-Protocol", "superchat");
    CHECK_FALSE(check_websocket_accept(101, with_protocol, key, protocols).has_value());
    CHECK(check_websocket_accept(101, with_protocol, key, {}).has_value());  // not offered

    auto with_extension = ok;
    with_extension.emplace_back("Sec-WebSocket-Extensions", "permessage-deflate");
    CHECK(check_websocket_accept(101, with_extension, key, protocols).has_value());

    auto no_upgrade = ok;
    no_upgrade.erase(no_upgrade.begin());
    CHECK(check_websocket_accept(101, no_upgrade, key, protocols).has_value());
}
