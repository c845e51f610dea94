// Bad input to a served registry: the server answers with a clear error or closes that one
// connection, never a 500 or a crash, and keeps serving everybody else.

#include "server/server_test_support.hpp"

namespace server_test {
namespace {

using protocol::encoding;

std::string connect_path(std::string_view id) { return "/gateway/" + std::string(id) + "/connect"; }

/// A healthy RivetKit connection kept open across a bad one: it still answers afterwards.
class bystander {
public:
    bystander(served_registry& srv, const std::string& id)
        : ws_(srv.port, connect_path(id), rivet_protocols(encoding::bare)) {
        REQUIRE(ws_.opened());
        const auto init = next_message(ws_, encoding::bare);
        REQUIRE(std::holds_alternative<protocol::init_message>(init));
    }
    void expect_serving() {
        const std::uint64_t id = next_id_++;
        send_message(ws_, encoding::bare, action_msg(id, "getCount"));
        for (;;) {
            auto m = next_message(ws_, encoding::bare);
            if (const auto* r = std::get_if<protocol::action_response>(&m); r && r->id == id) {
                CHECK(r->output.is_integer());
                return;
            }
        }
    }

private:
    ws_client ws_;
    std::uint64_t next_id_ = 0;
};

}  // namespace

TEST_CASE("bad input: malformed HTTP answers 400 and closes", "[server][bad_input]") {
    served_registry srv;
    const std::vector<std::string> requests = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS ClientHello
    };
    for (const auto& bytes : requests) {
        INFO("request: " << hex(bytes));
        tcp_client c(srv.port);
        c.send(bytes);
        const auto r = c.read_response();
        CHECK(r.status == 400);
        CHECK(r.header_or("connection") == "close");
        CHECK(c.closed_by_peer());
        srv.expect_alive();
    }
}

TEST_CASE("bad input: limits of the HTTP server", "[server][bad_input]") {
    served_registry srv;

    SECTION("oversize headers: 431") {
        tcp_client c(srv.port);
        c.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
        const auto r = c.read_response();
        CHECK(r.status == 431);
        CHECK(c.closed_by_peer());
    }
    SECTION("a request line over the limit: 431") {
        tcp_client c(srv.port);
        c.send("GET /" + std::string(17 * 1024, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n");
        const auto r = c.read_response();
        CHECK(r.status == 431);
        CHECK(c.closed_by_peer());
    }
    SECTION("Content-Length above the 8 MiB limit: 413 without reading the body") {
        tcp_client c(srv.port);
        c.send("POST /gateway/x/action/y HTTP/1.1\r\nHost: x\r\nContent-Length: 8388609\r\n\r\n");
        const auto r = c.read_response();
        CHECK(r.status == 413);
        CHECK(c.closed_by_peer());
    }
    SECTION("a chunked body above the limit: 413") {
        tcp_client c(srv.port);
        c.send("POST /gateway/x/action/y HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        const std::string chunk = "100000\r\n" + std::string(0x100000, 'z') + "\r\n";  // 1 MiB each
        response r;
        bool answered = false;
        for (int i = 0; i < 9 && !answered; ++i) {
            try {
                c.send(chunk);
            } catch (const std::exception&) {
                answered = true;  // the server stopped reading: its answer is waiting
            }
        }
        r = c.read_response();
        CHECK(r.status == 413);
    }
    SECTION("exactly at the limit is accepted (then refused by the action size check)") {
        tcp_client c(srv.port);
        const std::string head = "POST /gateway/0000000000000000/action/y HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n";
        c.send(head);
        c.send(std::string(8388608, ' '));
        const auto r = c.read_response();
        check_json_error(r, 400, "message", "incoming_too_long");
    }
    srv.expect_alive();
}

TEST_CASE("bad input: action bodies", "[server][bad_input]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "bad-bodies");
    const std::string target = "/gateway/" + id + "/action/increment";

    SECTION("over 64 KiB: message/incoming_too_long in the request's encoding") {
        const std::string big_json = R"({"args":[")" + std::string(70000, 'x') + R"("]})";
        auto r = srv.fetch("POST", target, {{"x-rivet-encoding", "json"}}, big_json);
        check_json_error(r, 400, "message", "incoming_too_long");

        std::string big_bare = unhex("0200");
        big_bare += std::string(65537, '\x00');
        auto b = srv.fetch("POST", target, {{"x-rivet-encoding", "bare"}}, big_bare);
        check_error(b, encoding::bare, 400, "message", "incoming_too_long");

        // 64 KiB exactly is allowed through (and then judged on its content).
        std::string at_limit = R"({"args":[1],"pad":")";
        at_limit += std::string(65536 - at_limit.size() - 2, 'p') + "\"}";
        REQUIRE(at_limit.size() == 65536);
        auto ok = srv.fetch("POST", target, {{"x-rivet-encoding", "json"}}, at_limit);
        CHECK(ok.status == 200);
        CHECK(ok.body == R"({"output":1})");
    }
    SECTION("garbage in each encoding: 400 message/malformed") {
        struct bad_body {
            encoding enc;
            std::string body;
            const char* what;
        };
        const std::vector<bad_body> cases = {
            {encoding::json, "", "empty"},
            {encoding::json, std::string("\x9c\x00\xff garbage", 10), "random bytes"},
            {encoding::json, R"({"args":[1)", "truncated"},
            {encoding::json, R"({"args":5})", "args not an array"},
            {encoding::json, R"({"args":{"0":1}})", "args an object"},
            {encoding::json, R"({"nope":[]})", "no args"},
            {encoding::json, R"([1,2])", "not an object"},
            {encoding::json, R"({"args":[["$Nope",1]]})", "unknown $ tag"},
            {encoding::json, R"({"args":[["$BigInt","x"]]})", "bad $BigInt"},
            {encoding::json, R"({"args":[1]} trailing)", "trailing garbage"},
            {encoding::cbor, "", "empty"},
            {encoding::cbor, unhex("ff fe 00 13 37"), "random bytes"},
            {encoding::cbor, unhex("b9 0001 64 61726773 81"), "truncated"},
            {encoding::cbor, unhex("b9 0001 64 61726773 05"), "args not an array"},
            {encoding::cbor, unhex("81 01"), "not a map"},
            {encoding::cbor, unhex("b9 0001 64 61726773 80 00"), "trailing bytes"},
            {encoding::cbor, unhex("b9 0001 64 61726773 9f 9f 9f 9f"), "truncated indefinite arrays"},
            {encoding::bare, "", "empty"},
            {encoding::bare, unhex("02"), "half a version"},
            {encoding::bare, unhex("0200"), "no body"},
            {encoding::bare, unhex("de ad be ef 01 02 03"), "random bytes"},
            {encoding::bare, unhex("0200 02 81"), "truncated data"},
            {encoding::bare, unhex("0200 05 81 01"), "data length beyond the body"},
            {encoding::bare, unhex("0200 01 81 01 00"), "CBOR inside data truncated / trailing"},
            {encoding::bare, unhex("0200 02 81 01 00"), "trailing bytes"},
            {encoding::bare, unhex("0200 01 05"), "args not an array"},
            {encoding::bare, unhex("0200 ff ff ff ff ff ff ff ff ff ff 01"), "overlong length varint"},
            {encoding::bare, unhex("0200 82 00 81 01"), "non-canonical varint"},
            {encoding::bare, unhex("0500 02 81 01"), "version 5"},
            {encoding::bare, unhex("0000 02 81 01"), "version 0"},
            {encoding::bare, unhex("ffff 02 81 01"), "version 65535"},
        };
        for (const auto& c : cases) {
            INFO(protocol::to_string(c.enc) << ": " << c.what << " (" << hex(c.body) << ")");
            auto r = srv.fetch("POST", target, {{"x-rivet-encoding", std::string(protocol::to_string(c.enc))}}, c.body);
            CHECK(r.status != 500);
            check_error(r, c.enc, 400, "message", "malformed");
        }
        // Nothing was incremented, and the server still serves.
        CHECK(srv.call(id, "getCount").body == R"({"output":0})");
    }
    SECTION("wrong argument types are a clear 400, not a 500") {
        check_json_error(srv.call(id, "increment", R"(["not a number"])"), 400, "action", "invalid_request");
        check_json_error(srv.call(id, "increment", "[]"), 400, "action", "invalid_request");
    }
    srv.expect_alive();
}

namespace {
/// Whether `body` is a JSON document whose strings are all valid UTF-8 (JSON requires it; the
/// C++ client's decoder and nlohmann refuse anything else).
bool valid_json(const std::string& body) { return !nlohmann::json::parse(body, nullptr, false).is_discarded(); }
}  // namespace

TEST_CASE("bad input: error bodies stay valid UTF-8 whatever the request bytes", "[server][bad_input]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "utf8");
    const std::string target = "/gateway/" + id + "/action/increment";

    SECTION("invalid UTF-8 in a JSON body") {
        auto r = srv.fetch("POST", target, {{"x-rivet-encoding", "json"}}, "{\"args\":[\"\xff\"]}");
        CHECK(r.status == 400);
        INFO(r.body);
        CHECK(valid_json(r.body));
    }
    SECTION("invalid UTF-8 in x-rivet-encoding") {
        auto r = srv.fetch("POST", target, {{"x-rivet-encoding", "\xff\xfe"}}, R"({"args":[1]})");
        CHECK(r.status == 400);
        INFO(r.body);
        CHECK(valid_json(r.body));
    }
    SECTION("invalid UTF-8 in rvt-key") {
        auto r = srv.fetch("POST", "/gateway/counter/action/getCount?rvt-method=get&rvt-key=%FF", {}, R"({"args":[]})");
        CHECK(r.status == 400);
        INFO(r.body);
        CHECK(valid_json(r.body));
    }
    SECTION("invalid UTF-8 in an unknown rvt-* name") {
        auto r = srv.fetch("POST", "/gateway/counter/action/getCount?rvt-%FF=1&rvt-method=get", {}, R"({"args":[]})");
        CHECK(r.status == 400);
        INFO(r.body);
        CHECK(valid_json(r.body));
    }
    srv.expect_alive();
}

TEST_CASE("bad input: a key that is not UTF-8 does not break the actor list", "[server][bad_input]") {
    served_registry srv;
    auto created = srv.fetch("POST", "/gateway/counter/action/getCount?rvt-method=getOrCreate&rvt-key=%FF", {},
                             R"({"args":[]})");
    INFO(created.body);
    CHECK(((created.status == 200) || (created.status == 400)));
    auto list = srv.fetch("GET", "/actors?name=counter");
    INFO(list.body);
    CHECK(list.status == 200);
    CHECK(valid_json(list.body));
}

TEST_CASE("bad input: WebSocket protocol violations close only that connection", "[server][bad_input]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "bad-ws");
    bystander other(srv, id);

    struct violation {
        const char* what;
        std::string frame;
        std::uint16_t code;
    };
    std::string unmasked;
    net::append_ws_frame(unmasked, net::ws_opcode::text, "hello", true, std::nullopt);
    std::string bad_opcode;
    net::append_ws_frame(bad_opcode, net::ws_opcode::text, "hello", true, net::ws_mask_key{1, 2, 3, 4});
    bad_opcode[0] = static_cast<char>(0x83);  // FIN + reserved opcode 3
    std::string bad_utf8;
    net::append_ws_frame(bad_utf8, net::ws_opcode::text, "ok \xc3\x28 not", true, net::ws_mask_key{1, 2, 3, 4});
    std::string rsv;
    net::append_ws_frame(rsv, net::ws_opcode::binary, "x", true, net::ws_mask_key{1, 2, 3, 4});
    rsv[0] = static_cast<char>(rsv[0] | 0x40);  // RSV1 without an extension
    std::string big_ping;
    big_ping.push_back(static_cast<char>(0x89));
    big_ping.push_back(static_cast<char>(0x80 | 126));
    big_ping.append(unhex("0100 01020304"));
    big_ping.append(256, 'p');
    const std::vector<violation> cases = {
        {"unmasked client frame", unmasked, 1002},
        {"reserved opcode", bad_opcode, 1002},
        {"RSV bit", rsv, 1002},
        {"control frame over 125 bytes", big_ping, 1002},
        {"invalid UTF-8 text", bad_utf8, 1007},
    };
    for (const auto& v : cases) {
        for (const char* path : {"connect", "websocket/x"}) {
            INFO(v.what << " on /" << path);
            ws_client ws(srv.port, "/gateway/" + id + "/" + path, rivet_protocols(encoding::json));
            REQUIRE(ws.opened());
            ws.next_message();  // Init or the raw hello
            ws.send_raw(v.frame);
            const auto close = ws.expect_close();
            CHECK(close.code == v.code);
            other.expect_serving();
        }
    }
    srv.expect_alive();
}

TEST_CASE("bad input: invalid RivetKit messages close with 1011 and the error code", "[server][bad_input]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "bad-messages");
    bystander other(srv, id);

    struct bad_message {
        encoding enc;
        std::string payload;
        bool text;
        const char* what;
    };
    const std::vector<bad_message> cases = {
        {encoding::json, "not json", true, "not JSON"},
        {encoding::json, R"({"body":{"tag":"Nope","val":{}}})", true, "unknown tag"},
        {encoding::json, R"({"body":{"tag":"ActionRequest","val":{"id":["$BigInt","0"],"name":"getCount","args":5}}})",
         true, "args not an array"},
        {encoding::json, R"({"body":{"tag":"ActionRequest","val":{"id":["$Nope","0"],"name":"x","args":[]}}})", true,
         "unknown $ tag"},
        {encoding::json, R"({"body":{"tag":"ActionRequest","val":{"id":-1,"name":"x","args":[]}}})", true,
         "negative id"},
        {encoding::json, R"({"body":{"tag":"SubscriptionRequest","val":{"eventName":"e","subscribe":"yes"}}})", true,
         "subscribe not a bool"},
        {encoding::cbor, unhex("ff 00 13"), false, "random bytes"},
        {encoding::cbor, unhex("b9 0001 64 626f6479"), false, "truncated"},
        {encoding::bare, unhex("0200 07"), false, "unknown union tag"},
        {encoding::bare, unhex("0200 00 00 09 696e6372"), false, "truncated ActionRequest"},
        {encoding::bare, unhex("0500 01 01 61 01"), false, "version 5"},
        {encoding::bare, unhex("0200 01 01 61 02"), false, "bool out of range"},
        {encoding::bare, unhex("0200 01 01 61 01 00"), false, "trailing bytes"},
    };
    for (const auto& c : cases) {
        INFO(protocol::to_string(c.enc) << ": " << c.what);
        ws_client ws(srv.port, connect_path(id), rivet_protocols(c.enc));
        REQUIRE(ws.opened());
        next_message(ws, c.enc);  // Init
        ws.send_frame(c.text ? net::ws_opcode::text : net::ws_opcode::binary, c.payload);
        const auto close = ws.expect_close();
        CHECK(close.code == 1011);
        CHECK(close.reason == "malformed");
        other.expect_serving();
    }

    SECTION("a message over 64 KiB closes with incoming_too_long") {
        for (const auto enc : {encoding::json, encoding::bare}) {
            INFO(protocol::to_string(enc));
            ws_client ws(srv.port, connect_path(id), rivet_protocols(enc));
            REQUIRE(ws.opened());
            next_message(ws, enc);
            rivetkit::array args{rivetkit::value(std::string(70000, 'x'))};
            const auto msg = action_msg(0, "echo", std::move(args));
            send_message(ws, enc, msg);
            const auto close = ws.expect_close();
            CHECK(close.code == 1011);
            CHECK(close.reason == "incoming_too_long");
            other.expect_serving();
        }
    }
    SECTION("a message far over the socket limit closes with 1009") {
        ws_client ws(srv.port, connect_path(id), rivet_protocols(encoding::bare));
        REQUIRE(ws.opened());
        next_message(ws, encoding::bare);
        // Only the header of a 64 MiB frame: the server refuses it at once.
        std::string head;
        head.push_back(static_cast<char>(0x82));
        head.push_back(static_cast<char>(0x80 | 127));
        head.append(unhex("0000000004000000 01020304"));
        ws.send_raw(head);
        const auto close = ws.expect_close();
        CHECK(close.code == 1009);
        other.expect_serving();
    }
    srv.expect_alive();
}

}  // namespace server_test
