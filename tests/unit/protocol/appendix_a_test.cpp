// The frames captured between the official v2.0.33 client and server (client-protocol.md
// Appendix A, §4.2): each must encode to exactly these bytes and decode to the right message.

#include <catch2/catch.hpp>

#include "protocol_test_util.hpp"

using namespace rivetkit;
using namespace rivetkit::protocol;
using protocol_test::frame;
using protocol_test::to_hex;

namespace {

constexpr std::string_view internal_message = "Internal error. Read the server logs for more details.";

template <class T, class V>
const T& as(const V& variant) {
    REQUIRE(std::holds_alternative<T>(variant));
    return std::get<T>(variant);
}

void check_to_client(encoding e, const to_client& message, const std::string& wire) {
    INFO("encoding " << to_string(e) << "\nexpected " << to_hex(wire));
    const std::string encoded = encode_to_client(e, message);
    INFO("got      " << to_hex(encoded));
    CHECK(encoded == wire);
    CHECK(decode_to_client(e, wire) == message);
}

void check_to_server(encoding e, const to_server& message, const std::string& wire) {
    INFO("encoding " << to_string(e) << "\nexpected " << to_hex(wire));
    const std::string encoded = encode_to_server(e, message);
    INFO("got      " << to_hex(encoded));
    CHECK(encoded == wire);
    CHECK(decode_to_server(e, wire) == message);
}

const init_message bare_init{"f0ca35bb1be8671c", "0ad57ca5-689d-4597-b1fc-af868fe62480"};
const error_message user_error_1{"user", "my_code", "bad thing", object{{"a", 1}}, 1};
const error_message internal_error_2{"internal", "internal_error", std::string(internal_message), object{}, 2};

}  // namespace

TEST_CASE("Appendix A, bare: WebSocket frames", "[protocol][bare][appendix]") {
    REQUIRE(internal_message.size() == 0x36);

    check_to_client(encoding::bare, bare_init,
                    frame(R"(02 00 | 00 | 10 "f0ca35bb1be8671c" | 24 "0ad57ca5-689d-4597-b1fc-af868fe62480")"));
    check_to_server(encoding::bare, subscription_request{"newCount", true},
                    frame(R"(02 00 | 01 | 08 "newCount" | 01)"));
    check_to_server(encoding::bare, action_request{0, "increment", {3}},
                    frame(R"(02 00 | 00 | 00 | 09 "increment" | 02 81 03)"));
    check_to_client(encoding::bare, event_message{"newCount", {5, "extra"}},
                    frame(R"(02 00 | 03 | 08 "newCount" | 08 82 05 65 "extra")"));
    check_to_client(encoding::bare, action_response{0, 5}, frame("02 00 | 02 | 00 | 01 05"));
    check_to_server(encoding::bare, action_request{1, "throwUser", {}},
                    frame(R"(02 00 | 00 | 01 | 09 "throwUser" | 01 80)"));
    check_to_client(encoding::bare, user_error_1,
                    frame(R"(02 00 | 01 | 04 "user" | 07 "my_code" | 09 "bad thing" | 01 06 b9 0001 61 61 01 | 01 01)"));
    check_to_client(encoding::bare, internal_error_2,
                    frame(R"(02 00 | 01 | 08 "internal" | 0e "internal_error" | 36 "Internal error. Read the server logs for more details." | 01 03 b9 0000 | 01 02)"));
}

TEST_CASE("Appendix A, bare: HTTP bodies", "[protocol][bare][appendix]") {
    const std::string request = frame("02 00 | 02 81 02");
    CHECK(encode_http_action_request(encoding::bare, {2}) == request);
    CHECK(decode_http_action_request(encoding::bare, request) == array{2});

    const std::string response = frame("02 00 | 01 02");
    CHECK(encode_http_action_response(encoding::bare, 2) == response);
    CHECK(decode_http_action_response(encoding::bare, response) == value(2));

    // §4.2: metadata as CBOR in data; absent metadata is a single 00.
    const std::string with_metadata = frame(R"(02 00 | 04 "user" | 07 "my_code" | 09 "bad thing" | 01 06 b9000161 6101)");
    const client_error user{"user", "my_code", "bad thing", object{{"a", 1}}, 400};
    CHECK(encode_http_error(encoding::bare, user) == with_metadata);
    const client_error decoded = decode_http_error(encoding::bare, with_metadata);
    CHECK(decoded.group == "user");
    CHECK(decoded.code == "my_code");
    CHECK(decoded.message == "bad thing");
    CHECK(decoded.metadata == value(object{{"a", 1}}));
    CHECK(decoded.http_status == 400);

    const std::string without = frame(R"(02 00 | 06 "action" | 09 "not_found" | 04 "nope" | 00)");
    CHECK(encode_http_error(encoding::bare, {"action", "not_found", "nope", {}, 400}) == without);
    const client_error absent = decode_http_error(encoding::bare, without);
    CHECK(absent.metadata.is_undefined());
    CHECK(absent.group == "action");
}

TEST_CASE("Appendix A, cbor: frames", "[protocol][cbor][appendix]") {
    check_to_server(encoding::cbor, action_request{0, "increment", {3}},
                    frame(R"(b9 0001 64"body" b9 0002 63"tag" 6d"ActionRequest" 63"val" b9 0003 62"id" 1b 0000000000000000 64"name" 69"increment" 64"args" 81 03)"));
    check_to_client(encoding::cbor, action_response{0, 5},
                    frame(R"(b9 0001 64"body" b9 0002 63"tag" 6e"ActionResponse" 63"val" b9 0002 62"id" 1b 0000000000000000 66"output" 05)"));

    const std::string request = frame(R"(b9 0001 64"args" 81 02)");
    CHECK(encode_http_action_request(encoding::cbor, {2}) == request);
    CHECK(decode_http_action_request(encoding::cbor, request) == array{2});
    const std::string response = frame(R"(b9 0001 66"output" 02)");
    CHECK(encode_http_action_response(encoding::cbor, 2) == response);
    CHECK(decode_http_action_response(encoding::cbor, response) == value(2));
}

TEST_CASE("Appendix A, json: frames", "[protocol][json][appendix]") {
    check_to_client(encoding::json, init_message{"4fe05dbac66ce680", "84a10cd0-1b2c-4d3e-8f90-a1b2c3d4e5f6"},
                    R"({"body":{"tag":"Init","val":{"actorId":"4fe05dbac66ce680","connectionId":"84a10cd0-1b2c-4d3e-8f90-a1b2c3d4e5f6"}}})");
    check_to_server(encoding::json, subscription_request{"newCount", true},
                    R"({"body":{"tag":"SubscriptionRequest","val":{"eventName":"newCount","subscribe":true}}})");
    check_to_server(encoding::json, action_request{0, "increment", {3}},
                    R"({"body":{"tag":"ActionRequest","val":{"id":["$BigInt","0"],"name":"increment","args":[3]}}})");
    check_to_client(encoding::json, event_message{"newCount", {5, "extra"}},
                    R"({"body":{"tag":"Event","val":{"name":"newCount","args":[5,"extra"]}}})");
    check_to_client(encoding::json, action_response{0, 5},
                    R"({"body":{"tag":"ActionResponse","val":{"id":["$BigInt","0"],"output":5}}})");
    check_to_client(encoding::json, user_error_1,
                    R"({"body":{"tag":"Error","val":{"group":"user","code":"my_code","message":"bad thing","metadata":{"a":1},"actionId":["$BigInt","1"]}}})");
}

TEST_CASE("Appendix A, json: HTTP echo with tagged values", "[protocol][json][appendix]") {
    const std::string request =
        R"({"args":[["$BigInt","12"],["$$foo",1],{"x":["$Uint8Array","AQID"]}]})";
    const array args = decode_http_action_request(encoding::json, request);
    const array expected{bigint{12}, array{"$foo", 1}, object{{"x", bytes{1, 2, 3}}}};
    CHECK(args == expected);
    CHECK(encode_http_action_request(encoding::json, args) == request);

    const std::string response =
        R"({"output":[["$BigInt","12"],["$$foo",1],{"x":["$Uint8Array","AQID"]}]})";
    CHECK(encode_http_action_response(encoding::json, args) == response);
    CHECK(decode_http_action_response(encoding::json, response) == value(expected));
}

TEST_CASE("§4.2: HTTP error bodies in json", "[protocol][json]") {
    const std::string with_metadata =
        R"({"group":"user","code":"my_code","message":"bad thing","metadata":{"a":1}})";
    CHECK(encode_http_error(encoding::json, {"user", "my_code", "bad thing", object{{"a", 1}}, 400}) ==
          with_metadata);
    const client_error e = decode_http_error(encoding::json, with_metadata);
    CHECK(e.group == "user");
    CHECK(e.code == "my_code");
    CHECK(e.message == "bad thing");
    CHECK(e.metadata == value(object{{"a", 1}}));
    CHECK(e.http_status == 400);

    // Without metadata the key is absent.
    const std::string message = "Action 'x' not found";
    const std::string without = R"({"group":"action","code":"not_found","message":"Action 'x' not found"})";
    CHECK(encode_http_error(encoding::json, {"action", "not_found", message, {}, 400}) == without);
    const client_error absent = decode_http_error(encoding::json, without);
    CHECK(absent.metadata.is_undefined());
    CHECK(absent.message == message);
}
