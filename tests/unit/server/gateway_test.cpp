// The gateway of a served registry (client-protocol.md §1.3-1.5, §3, §4): stateless actions in
// every encoding, the path/@token/header/query forms, connection params, errors, raw requests.

#include "server/server_test_support.hpp"

namespace server_test {
namespace {

using protocol::encoding;

std::string action_path(std::string_view id, std::string_view action) {
    return "/gateway/" + std::string(id) + "/action/" + std::string(action);
}

response call_enc(served_registry& srv, std::string_view target, encoding enc, std::string_view body,
                  http_headers headers = {}) {
    headers.emplace_back("x-rivet-encoding", std::string(protocol::to_string(enc)));
    headers.emplace_back("Content-Type", std::string(protocol::content_type(enc)));
    return srv.fetch("POST", target, headers, body);
}

rivetkit::value output_of(const response& r, encoding enc) {
    INFO("status " << r.status << " body " << hex(r.body));
    REQUIRE(r.status == 200);
    CHECK(r.header_or("content-type") == std::string(protocol::content_type(enc)));
    return protocol::decode_http_action_response(enc, r.body);
}

}  // namespace

TEST_CASE("gateway: actions in json, cbor and bare", "[server][gateway]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "encodings");

    SECTION("json") {
        auto r = srv.call(id, "increment", "[2]");
        CHECK(r.status == 200);
        CHECK(r.header_or("content-type") == "application/json");
        CHECK(r.body == R"({"output":2})");
        // No x-rivet-encoding header at all means json.
        auto plain = srv.fetch("POST", action_path(id, "getCount"), {}, R"({"args":[]})");
        CHECK(plain.status == 200);
        CHECK(plain.body == R"({"output":2})");
        // A void-free echo of JSON-compat values keeps their tags.
        auto echo = srv.call(id, "echo", R"([[["$BigInt","12"],["$$foo",1],{"x":["$Uint8Array","AQID"]}]])");
        CHECK(echo.body == R"({"output":[["$BigInt","12"],["$$foo",1],{"x":["$Uint8Array","AQID"]}]})");
    }
    SECTION("cbor") {
        const auto body = protocol::encode_http_action_request(encoding::cbor, rivetkit::array{std::int64_t{3}});
        CHECK(hex(body) == "b9000164617267738103");  // b9 0001 "args" [3], as cbor-x writes it
        auto r = call_enc(srv, action_path(id, "increment"), encoding::cbor, body);
        CHECK(output_of(r, encoding::cbor) == rivetkit::value(3));
        CHECK(hex(r.body) == "b90001666f757470757403");  // b9 0001 "output" 3
    }
    SECTION("bare: request versions 1 to 4 accepted, answered in version 2") {
        for (int version = 1; version <= 4; ++version) {
            INFO("version " << version);
            // u16le version | HttpActionRequest{args: data(CBOR [1])}
            std::string body = unhex("0000 02 81 01");
            body[0] = static_cast<char>(version);
            auto r = call_enc(srv, action_path(id, "increment"), encoding::bare, body);
            REQUIRE(r.status == 200);
            CHECK(r.header_or("content-type") == "application/octet-stream");
            // 02 00 | HttpActionResponse{output: data(CBOR n)}
            CHECK(hex(r.body) == fmt::format("020001{:02x}", version));
        }
    }
    SECTION("user errors in each encoding") {
        auto json_err = srv.call(id, "throwUser");
        CHECK(json_err.status == 400);
        CHECK(json_err.header_or("content-type") == "application/json");
        CHECK(json_err.body == R"({"group":"user","code":"my_code","message":"bad","metadata":{"a":1}})");

        auto cbor_err = call_enc(srv, action_path(id, "throwUser"), encoding::cbor,
                                 protocol::encode_http_action_request(encoding::cbor, {}));
        const auto ce = check_error(cbor_err, encoding::cbor, 400, "user", "my_code");
        CHECK(ce.message == "bad");
        CHECK(ce.metadata == rivetkit::value(rivetkit::object{{"a", std::int64_t{1}}}));

        auto bare_err = call_enc(srv, action_path(id, "throwUser"), encoding::bare, unhex("0200 01 80"));
        CHECK(bare_err.status == 400);
        CHECK(bare_err.header_or("content-type") == "application/octet-stream");
        // 02 00 | "user" | "my_code" | "bad" | some(data(CBOR {a:1}))
        CHECK(hex(bare_err.body) ==
              "0200" "0475736572" "076d795f636f6465" "03626164" "01" "06" "b90001616101");
    }
    SECTION("internal errors are masked, 500") {
        auto r = srv.call(id, "throwInternal");
        check_json_error(r, 500, "internal", "internal_error");
        CHECK(r.json()["metadata"] == nlohmann::json::object());
        CHECK(r.body.find("secret") == std::string::npos);
        auto b = call_enc(srv, action_path(id, "throwInternal"), encoding::bare, unhex("0200 01 80"));
        check_error(b, encoding::bare, 500, "internal", "internal_error");
    }
    SECTION("unknown action") {
        check_json_error(srv.call(id, "nope"), 400, "action", "not_found");
        auto c = call_enc(srv, action_path(id, "nope"), encoding::cbor,
                          protocol::encode_http_action_request(encoding::cbor, {}));
        check_error(c, encoding::cbor, 400, "action", "not_found");
    }
}

TEST_CASE("gateway: @token, header routing, trailing slash, unknown actors", "[server][gateway]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "forms");
    REQUIRE(srv.call(id, "increment", "[4]").body == R"({"output":4})");

    SECTION("@token form (the token is not checked)") {
        auto r = srv.fetch("POST", "/gateway/" + id + "@some-token/action/getCount", {}, R"({"args":[]})");
        CHECK(r.status == 200);
        CHECK(r.body == R"({"output":4})");
        // Percent-encoded id.
        auto enc = srv.fetch("POST", "/gateway/" + id.substr(0, 4) + "%" + hex(id.substr(4, 1)) + id.substr(5) +
                                         "/action/getCount",
                             {}, R"({"args":[]})");
        CHECK(enc.body == R"({"output":4})");
    }
    SECTION("trailing slash") {
        auto r = srv.fetch("POST", action_path(id, "getCount/"), {}, R"({"args":[]})");
        CHECK(r.status == 200);
        CHECK(r.body == R"({"output":4})");
    }
    SECTION("header routing") {
        auto r = srv.fetch("POST", "/action/getCount", {{"x-rivet-target", "actor"}, {"x-rivet-actor", id}},
                           R"({"args":[]})");
        CHECK(r.status == 200);
        CHECK(r.body == R"({"output":4})");

        auto missing = srv.fetch("POST", "/action/getCount", {{"x-rivet-target", "actor"}}, R"({"args":[]})");
        check_json_error(missing, 400, "request", "missing_actor_header");

        // Another target goes to the manager routes.
        auto other = srv.fetch("GET", "/health", {{"x-rivet-target", "manager"}, {"x-rivet-actor", id}});
        CHECK(other.status == 200);
        CHECK(other.body == R"({"status":"ok","runtime":"rivetkit","version":"2.0.33"})");

        // The routing headers do not reach the actor.
        auto raw = srv.fetch("GET", "/request/x", {{"x-rivet-target", "actor"}, {"x-rivet-actor", id}});
        CHECK(raw.status == 201);
        CHECK(raw.json()["hasTarget"] == false);
        CHECK(raw.json()["hasActor"] == false);
        CHECK(raw.json()["path"] == "/x");
    }
    SECTION("unknown actor id") {
        check_json_error(srv.call("0000000000000000", "getCount"), 400, "actor", "not_found");
        auto b = call_enc(srv, action_path("0000000000000000", "getCount"), encoding::bare, unhex("0200 01 80"));
        check_error(b, encoding::bare, 400, "actor", "not_found");
    }
}

TEST_CASE("gateway: the query form (rvt-*)", "[server][gateway]") {
    served_registry srv;
    const std::string base = "/gateway/counter/action/";
    const std::string q = "?rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=a,b&rvt-crash-policy=sleep";

    auto r = srv.fetch("POST", base + "increment" + q, {{"x-rivet-encoding", "json"}}, R"({"args":[3]})");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"output":3})");
    // The same actor as key "a/b" of the manager API: ["a","b"].
    const auto id = srv.actor_id("counter", "a/b");
    CHECK(srv.call(id, "getCount").body == R"({"output":3})");

    SECTION("get of an existing actor") {
        auto g = srv.fetch("POST", base + "getCount?rvt-namespace=default&rvt-method=get&rvt-key=a,b", {},
                           R"({"args":[]})");
        CHECK(g.body == R"({"output":3})");
    }
    SECTION("get of a missing actor") {
        auto g = srv.fetch("POST", base + "getCount?rvt-namespace=default&rvt-method=get&rvt-key=missing", {},
                           R"({"args":[]})");
        check_json_error(g, 400, "actor", "not_found");
        auto b = call_enc(srv, base + "getCount?rvt-method=get&rvt-key=missing", encoding::bare, unhex("0200 01 80"));
        check_error(b, encoding::bare, 400, "actor", "not_found");
    }
    SECTION("unknown or duplicate rvt-* parameters") {
        auto u = srv.fetch("POST", base + "getCount?rvt-method=getOrCreate&rvt-key=a,b&rvt-bogus=1", {},
                           R"({"args":[]})");
        check_json_error(u, 400, "request", "invalid");
        auto d = srv.fetch("POST", base + "getCount?rvt-method=getOrCreate&rvt-method=get", {}, R"({"args":[]})");
        check_json_error(d, 400, "request", "invalid");
        auto m = srv.fetch("POST", base + "getCount?rvt-method=destroy", {}, R"({"args":[]})");
        check_json_error(m, 400, "request", "invalid");
    }
    SECTION("other query parameters reach on_request, rvt-* stripped") {
        auto raw = srv.fetch("GET", "/gateway/counter/request/q?x=1&rvt-method=getOrCreate&rvt-key=a,b&y=2");
        CHECK(raw.status == 201);
        CHECK(raw.json()["path"] == "/q");
        CHECK(raw.json()["query"] == "x=1&y=2");
    }
    SECTION("rvt-input reaches a created actor") {
        // base64url (no padding) of the CBOR b9 0001 65 "hello" 01
        auto in = srv.fetch("POST", base + "getInput?rvt-method=getOrCreate&rvt-key=with-input&rvt-input=uQABZWhlbGxvAQ",
                            {}, R"({"args":[]})");
        CHECK(in.body == R"({"output":{"hello":1}})");
    }
}

TEST_CASE("gateway: connection params and encoding header", "[server][gateway]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "params");

    SECTION("x-rivet-conn-params is Latin-1 JSON") {
        // fetch() sends U+00FC as the single byte FC.
        auto r = srv.call(id, "getParams", "[]", {{"x-rivet-conn-params", "{\"token\":\"t\xFC\"}"}});
        INFO(r.body);
        CHECK(r.status == 200);
        CHECK(r.json()["output"]["token"] == "t\xC3\xBC");
        auto raw = srv.fetch("GET", "/gateway/" + id + "/request/p", {{"x-rivet-conn-params", "{\"token\":\"\xE9t\xE9\"}"}});
        CHECK(raw.json()["token"] == "\xC3\xA9t\xC3\xA9");
    }
    SECTION("invalid params JSON") {
        auto r = srv.call(id, "getParams", "[]", {{"x-rivet-conn-params", "{nope"}});
        check_json_error(r, 400, "params", "invalid");
        auto b = call_enc(srv, action_path(id, "getParams"), encoding::bare, unhex("0200 01 80"),
                          {{"x-rivet-conn-params", "{nope"}});
        check_error(b, encoding::bare, 400, "params", "invalid");
    }
    SECTION("params rejected by on_before_connect") {
        auto r = srv.call(id, "getCount", "[]", {{"x-rivet-conn-params", R"({"reject":true})"}});
        check_json_error(r, 400, "user", "forbidden");
    }
    SECTION("an unknown encoding is answered in JSON") {
        auto r = srv.fetch("POST", action_path(id, "getCount"), {{"x-rivet-encoding", "xml"}}, R"({"args":[]})");
        check_json_error(r, 400, "encoding", "invalid");
    }
}

TEST_CASE("gateway: raw requests to on_request", "[server][gateway]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "raw");

    auto r = srv.fetch("POST", "/gateway/" + id + "/request/foo/bar?x=1&y=a%20b",
                       {{"x-test", "yes"}, {"x-rivet-conn-params", R"({"token":"tok"})"}}, "hello body");
    CHECK(r.status == 201);
    CHECK(r.header_or("x-actor") == "counter");
    CHECK(r.header_or("content-type") == "application/json");
    const auto j = r.json();
    CHECK(j["method"] == "POST");
    CHECK(j["path"] == "/foo/bar");
    CHECK(j["query"] == "x=1&y=a%20b");
    CHECK(j["body"] == "hello body");
    CHECK(j["xTest"] == "yes");
    CHECK(j["token"] == "tok");

    auto bare = srv.fetch("GET", "/gateway/" + id + "/request");
    CHECK(bare.status == 201);
    CHECK(bare.json()["path"] == "/");
    CHECK(bare.json()["method"] == "GET");

    auto put = srv.fetch("PUT", "/gateway/" + id + "/request/x/", {}, "");
    CHECK(put.status == 201);
    CHECK(put.json()["method"] == "PUT");

    // A chunked request body arrives whole.
    tcp_client c(srv.port);
    auto chunked = c.roundtrip("POST /gateway/" + id + "/request/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    CHECK(chunked.status == 201);
    CHECK(chunked.json()["body"] == "abcdefg");

    SECTION("an actor without on_request") {
        const auto plain = srv.actor_id("plain", "no-handler");
        auto n = srv.fetch("GET", "/gateway/" + plain + "/request/x");
        check_json_error(n, 404, "handler", "request_not_defined");
    }
    SECTION("an unknown actor") {
        auto n = srv.fetch("GET", "/gateway/0000000000000000/request/x");
        check_json_error(n, 400, "actor", "not_found");
    }
}

TEST_CASE("gateway: keep-alive and pipelined requests are answered in order", "[server][gateway]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "pipelined");
    const std::string body = R"({"args":[1]})";
    std::string burst;
    for (int i = 0; i < 3; ++i) burst += request_bytes("POST", action_path(id, "increment"), {}, body);
    burst += request_bytes("GET", "/health");
    burst += request_bytes("POST", action_path(id, "getCount"), {}, R"({"args":[]})");
    tcp_client c(srv.port);
    c.send(burst);
    for (int i = 1; i <= 3; ++i) CHECK(c.read_response().body == "{\"output\":" + std::to_string(i) + "}");
    CHECK(c.read_response().body == R"({"status":"ok","runtime":"rivetkit","version":"2.0.33"})");
    CHECK(c.read_response().body == R"({"output":3})");
    // The connection stays open for more.
    CHECK(c.roundtrip(request_bytes("GET", "/")).status == 200);
}

TEST_CASE("gateway: errors of raw requests use the request's encoding", "[server][gateway]") {
    served_registry srv;
    const auto plain = srv.actor_id("plain", "raw-encoding");
    auto r = srv.fetch("GET", "/gateway/" + plain + "/request/x", {{"x-rivet-encoding", "cbor"}});
    check_error(r, encoding::cbor, 404, "handler", "request_not_defined");
    auto unknown = srv.fetch("GET", "/gateway/0000000000000000/request/x", {{"x-rivet-encoding", "bare"}});
    check_error(unknown, encoding::bare, 400, "actor", "not_found");
}

}  // namespace server_test
