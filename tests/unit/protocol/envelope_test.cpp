// The JSON/CBOR object tree (§3.5): ids, required fields, absent values, error bodies, and the
// helpers the network layer uses.

#include <catch2/catch.hpp>

#include "protocol_test_util.hpp"

using namespace rivetkit;
using namespace rivetkit::protocol;
using protocol_test::frame;
using protocol_test::require_malformed;
using protocol_test::to_hex;

namespace {

std::string json_request(std::string_view val) {
    return R"({"body":{"tag":"ActionRequest","val":)" + std::string(val) + "}}";
}

// A CBOR ActionRequest whose id is the item `id_hex` and whose args are `args_hex`.
std::string cbor_request(std::string_view id_hex, std::string_view args_hex = "80") {
    return frame(std::string(R"(b9 0001 64"body" b9 0002 63"tag" 6d"ActionRequest" 63"val" b9 0003 62"id" )") +
                 std::string(id_hex) + R"( 64"name" 61"f" 64"args" )" + std::string(args_hex));
}

}  // namespace

TEST_CASE("encoding names, content types and frame types", "[protocol]") {
    CHECK(parse_encoding("json") == encoding::json);
    CHECK(parse_encoding("cbor") == encoding::cbor);
    CHECK(parse_encoding("bare") == encoding::bare);
    for (const std::string_view bad : {"", "JSON", "json ", " bare", "cbor2", "msgpack"}) {
        CHECK_FALSE(parse_encoding(bad).has_value());
    }
    for (const encoding e : protocol_test::all_encodings) CHECK(parse_encoding(to_string(e)) == e);
    CHECK(content_type(encoding::json) == "application/json");
    CHECK(content_type(encoding::cbor) == "application/octet-stream");
    CHECK(content_type(encoding::bare) == "application/octet-stream");
    CHECK(uses_text_frames(encoding::json));
    CHECK_FALSE(uses_text_frames(encoding::cbor));
    CHECK_FALSE(uses_text_frames(encoding::bare));
}

TEST_CASE("ids: a bigint or a non-negative integer, nothing else", "[protocol][json][cbor]") {
    const auto id_of = [](encoding e, const std::string& payload) {
        return std::get<action_request>(decode_to_server(e, payload)).id;
    };
    CHECK(id_of(encoding::json, json_request(R"({"id":["$BigInt","42"],"name":"f","args":[]})")) == 42);
    CHECK(id_of(encoding::json, json_request(R"({"id":42,"name":"f","args":[]})")) == 42);
    CHECK(id_of(encoding::json, json_request(R"({"id":["$BigInt","9223372036854775807"],"name":"f","args":[]})")) ==
          9223372036854775807u);
    CHECK(id_of(encoding::cbor, cbor_request("1b 00 00 00 00 00 00 00 2a")) == 42);
    CHECK(id_of(encoding::cbor, cbor_request("18 2a")) == 42);
    CHECK(id_of(encoding::cbor, cbor_request("00")) == 0);

    require_malformed([] { (void)decode_to_server(encoding::json, json_request(R"({"id":"42","name":"f","args":[]})")); },
                      "ActionRequest.id: expected a bigint id, got string");
    require_malformed([] { (void)decode_to_server(encoding::json, json_request(R"({"id":1.5,"name":"f","args":[]})")); },
                      "ActionRequest.id: expected a bigint id, got number");
    require_malformed([] { (void)decode_to_server(encoding::json, json_request(R"({"id":-1,"name":"f","args":[]})")); },
                      "ActionRequest.id: negative id -1");
    require_malformed([] { (void)decode_to_server(encoding::json, json_request(R"({"id":["$BigInt","-3"],"name":"f","args":[]})")); },
                      "negative id -3");
    require_malformed([] { (void)decode_to_server(encoding::json, json_request(R"({"id":null,"name":"f","args":[]})")); },
                      "ActionRequest.id: expected a bigint id, got null");
    require_malformed([] { (void)decode_to_server(encoding::json, json_request(R"({"name":"f","args":[]})")); },
                      R"(ActionRequest: missing "id")");
    require_malformed([] { (void)decode_to_server(encoding::cbor, cbor_request("3b 00 00 00 00 00 00 00 00")); },
                      "negative id -1");
    require_malformed([] { (void)decode_to_server(encoding::cbor, cbor_request(R"(61"1")")); }, "expected a bigint id, got string");
    require_malformed([] { (void)decode_to_server(encoding::cbor, cbor_request("f7")); }, R"(ActionRequest: missing "id")");
    require_malformed([] { (void)decode_to_server(encoding::cbor, cbor_request("fb 3f f8 00 00 00 00 00 00")); },
                      "expected a bigint id, got number");
    // Beyond INT64_MAX the value model has no bigint: refused by the CBOR decoder.
    require_malformed([] { (void)decode_to_server(encoding::cbor, cbor_request("1b ff ff ff ff ff ff ff ff")); },
                      "cbor: 64-bit integer out of range");
}

TEST_CASE("ids above INT64_MAX are written in every encoding", "[protocol][json][cbor]") {
    const action_response m{UINT64_MAX, null};
    CHECK(encode_to_client(encoding::json, m) ==
          R"({"body":{"tag":"ActionResponse","val":{"id":["$BigInt","18446744073709551615"],"output":null}}})");
    CHECK(encode_to_client(encoding::cbor, m) ==
          frame(R"(b9 0001 64"body" b9 0002 63"tag" 6e"ActionResponse" 63"val" b9 0002 62"id" 1b ffffffffffffffff 66"output" f6)"));
}

TEST_CASE("envelope structure: required fields and types", "[protocol][json][cbor]") {
    const auto server = [](std::string_view json) { (void)decode_to_server(encoding::json, std::string(json)); };
    const auto client = [](std::string_view json) { (void)decode_to_client(encoding::json, std::string(json)); };

    require_malformed([&] { server("[1]"); }, "ToServer: expected an object, got array");
    require_malformed([&] { server("{}"); }, R"(ToServer: missing "body")");
    require_malformed([&] { server(R"({"body":5})"); }, "ToServer.body: expected an object, got integer");
    require_malformed([&] { server(R"({"body":{"val":{}}})"); }, R"(ToServer.body: missing "tag")");
    require_malformed([&] { server(R"({"body":{"tag":1,"val":{}}})"); }, "ToServer.body.tag: expected a string, got integer");
    require_malformed([&] { server(R"({"body":{"tag":"ActionRequest"}})"); }, R"(ToServer.body: missing "val")");
    require_malformed([&] { server(R"({"body":{"tag":"ActionRequest","val":[]}})"); },
                      "ToServer.ActionRequest: expected an object, got array");
    require_malformed([&] { server(R"({"body":{"tag":"Init","val":{}}})"); }, R"(ToServer: unknown tag "Init")");
    require_malformed([&] { client(R"({"body":{"tag":"ActionRequest","val":{}}})"); }, R"(ToClient: unknown tag "ActionRequest")");

    // args must be an array, wherever it appears.
    require_malformed([&] { server(json_request(R"({"id":1,"name":"f","args":{}})")); },
                      "ActionRequest.args: expected an array, got object");
    require_malformed([&] { server(json_request(R"({"id":1,"name":"f","args":"x"})")); },
                      "ActionRequest.args: expected an array, got string");
    require_malformed([&] { server(json_request(R"({"id":1,"name":"f"})")); }, R"(ActionRequest: missing "args")");
    require_malformed([&] { server(json_request(R"({"id":1,"name":5,"args":[]})")); },
                      "ActionRequest.name: expected a string, got integer");
    require_malformed([&] { client(R"({"body":{"tag":"Event","val":{"name":"e","args":null}}})"); },
                      "Event.args: expected an array, got null");
    require_malformed([] { (void)decode_to_server(encoding::cbor, cbor_request("00", "05")); },
                      "ActionRequest.args: expected an array, got integer");
    require_malformed([] { (void)decode_to_server(encoding::cbor, cbor_request("00", "f7")); },
                      R"(ActionRequest: missing "args")");

    require_malformed([&] { server(R"({"body":{"tag":"SubscriptionRequest","val":{"eventName":"e","subscribe":1}}})"); },
                      "SubscriptionRequest.subscribe: expected a boolean, got integer");
    require_malformed([&] { server(R"({"body":{"tag":"SubscriptionRequest","val":{"subscribe":true}}})"); },
                      R"(SubscriptionRequest: missing "eventName")");
    require_malformed([&] { client(R"({"body":{"tag":"Init","val":{"actorId":"a"}}})"); },
                      R"(Init: missing "connectionId")");
    require_malformed([&] { client(R"({"body":{"tag":"Error","val":{"group":"g","code":"c"}}})"); },
                      R"(Error: missing "message")");
    require_malformed([&] { client(R"({"body":{"tag":"ActionResponse","val":{"output":1}}})"); },
                      R"(ActionResponse: missing "id")");

    // Syntax errors come from the codecs, as malformed messages too.
    require_malformed([&] { server(R"({"body":)"); }, "json:");
    require_malformed([] { (void)decode_to_server(encoding::cbor, frame("b9 0001")); }, "cbor: truncated input");
    require_malformed([] { (void)decode_to_server(encoding::json, ""); }, "json:");
    require_malformed([] { (void)decode_to_server(encoding::cbor, ""); }, "cbor:");
}

TEST_CASE("envelope structure: unknown extra keys are ignored", "[protocol][json][cbor]") {
    CHECK(decode_to_server(encoding::json,
                           R"({"v":1,"body":{"x":[],"tag":"SubscriptionRequest","val":{"subscribe":false,"eventName":"e","extra":1}}})") ==
          to_server(subscription_request{"e", false}));
    // A 2.3 server's Error may carry an actor specifier.
    CHECK(decode_to_client(encoding::json,
                           R"({"body":{"tag":"Error","val":{"group":"g","code":"c","message":"m","actionId":null,"actor":{"actorId":"a","generation":1}}}})") ==
          to_client(error_message{"g", "c", "m", {}, std::nullopt}));
    CHECK(decode_http_error(encoding::json, R"({"group":"g","code":"c","message":"m","actor":null})").code == "c");
}

TEST_CASE("Error: metadata and actionId", "[protocol][json][cbor]") {
    const error_message no_metadata{"g", "c", "m", {}, std::nullopt};
    // metadata omitted when undefined (both encodings, as the reference), actionId always present.
    CHECK(encode_to_client(encoding::json, no_metadata) ==
          R"({"body":{"tag":"Error","val":{"group":"g","code":"c","message":"m","actionId":null}}})");
    CHECK(encode_to_client(encoding::cbor, no_metadata) ==
          frame(R"(b9 0001 64"body" b9 0002 63"tag" 65"Error" 63"val" b9 0004 65"group" 61"g" 64"code" 61"c" 67"message" 61"m" 68"actionId" f6)"));
    CHECK(encode_to_client(encoding::json, error_message{"g", "c", "m", null, 0}) ==
          R"({"body":{"tag":"Error","val":{"group":"g","code":"c","message":"m","metadata":null,"actionId":["$BigInt","0"]}}})");

    for (const encoding e : protocol_test::all_encodings) {
        INFO(to_string(e));
        CHECK(decode_to_client(e, encode_to_client(e, no_metadata)) == to_client(no_metadata));
        const error_message with_null{"g", "c", "m", null, 0};
        CHECK(decode_to_client(e, encode_to_client(e, with_null)) == to_client(with_null));
    }
    // Absent and undefined (f7) metadata read alike; so do absent and null actionIds.
    CHECK(decode_to_client(encoding::json, R"({"body":{"tag":"Error","val":{"group":"g","code":"c","message":"m"}}})") ==
          to_client(no_metadata));
    CHECK(decode_to_client(encoding::cbor,
                           frame(R"(b9 0001 64"body" b9 0002 63"tag" 65"Error" 63"val" b9 0005 65"group" 61"g" 64"code" 61"c" 67"message" 61"m" 68"metadata" f7 68"actionId" f7)")) ==
          to_client(no_metadata));
    require_malformed([] {
        (void)decode_to_client(encoding::json, R"({"body":{"tag":"Error","val":{"group":"g","code":"c","message":"m","actionId":"1"}}})");
    }, "Error.actionId: expected a bigint id, got string");
}

TEST_CASE("output is always present, undefined is null in json and f7 in cbor/bare", "[protocol]") {
    CHECK(encode_http_action_response(encoding::json, undefined) == R"({"output":null})");
    CHECK(encode_http_action_response(encoding::cbor, undefined) == frame(R"(b9 0001 66"output" f7)"));
    CHECK(encode_http_action_response(encoding::bare, undefined) == frame("02 00 01 f7"));
    CHECK(decode_http_action_response(encoding::json, R"({"output":null})").is_null());
    CHECK(decode_http_action_response(encoding::cbor, frame(R"(b9 0001 66"output" f7)")).is_undefined());
    CHECK(decode_http_action_response(encoding::bare, frame("02 00 01 f7")).is_undefined());

    CHECK(encode_to_client(encoding::json, action_response{3, undefined}) ==
          R"({"body":{"tag":"ActionResponse","val":{"id":["$BigInt","3"],"output":null}}})");
    CHECK(encode_to_client(encoding::cbor, action_response{3, undefined}) ==
          frame(R"(b9 0001 64"body" b9 0002 63"tag" 6e"ActionResponse" 63"val" b9 0002 62"id" 1b 0000000000000003 66"output" f7)"));

    // The reference server writes {} for a void action in JSON (§1.5); read it as undefined.
    CHECK(decode_http_action_response(encoding::json, "{}").is_undefined());
    CHECK(decode_to_client(encoding::json, R"({"body":{"tag":"ActionResponse","val":{"id":["$BigInt","3"]}}})") ==
          to_client(action_response{3, undefined}));
    require_malformed([] { (void)decode_http_action_response(encoding::json, "[]"); },
                      "HttpActionResponse: expected an object, got array");
}

TEST_CASE("HTTP action request bodies", "[protocol]") {
    require_malformed([] { (void)decode_http_action_request(encoding::json, R"({"args":{"0":1}})"); },
                      "HttpActionRequest.args: expected an array, got object");
    require_malformed([] { (void)decode_http_action_request(encoding::json, "{}"); }, R"(HttpActionRequest: missing "args")");
    require_malformed([] { (void)decode_http_action_request(encoding::json, "[1]"); },
                      "HttpActionRequest: expected an object, got array");
    require_malformed([] { (void)decode_http_action_request(encoding::cbor, frame(R"(b9 0001 64"args" 61"x")")); },
                      "HttpActionRequest.args: expected an array, got string");
    CHECK(decode_http_action_request(encoding::json, R"({"args":[],"extra":true})").empty());
    // cbor-x's small maps and indefinite lengths are accepted on input.
    CHECK(decode_http_action_request(encoding::cbor, frame(R"(a1 64"args" 9f 01 02 ff)")) == array{1, 2});

    // A user argument list shaped like a JSON-compat tag is escaped on the way out.
    const array tagged{"$foo", 1};
    CHECK(encode_http_action_request(encoding::json, tagged) == R"({"args":["$$foo",1]})");
    CHECK(decode_http_action_request(encoding::json, R"({"args":["$$foo",1]})") == tagged);
    CHECK(encode_to_client(encoding::json, event_message{"e", tagged}) ==
          R"({"body":{"tag":"Event","val":{"name":"e","args":["$$foo",1]}}})");
}

TEST_CASE("HTTP error bodies: cbor keeps undefined metadata, status from the catalogue", "[protocol]") {
    const client_error internal{"internal", "internal_error", "Internal error.", {}, 500};
    const std::string cbor = encode_http_error(encoding::cbor, internal);
    CHECK(cbor ==
          frame(R"(b9 0004 65"group" 68"internal" 64"code" 6e"internal_error" 67"message" 6f"Internal error." 68"metadata" f7)"));
    CHECK(encode_http_error(encoding::json, internal) ==
          R"({"group":"internal","code":"internal_error","message":"Internal error."})");

    for (const encoding e : protocol_test::all_encodings) {
        INFO(to_string(e));
        const client_error back = decode_http_error(e, encode_http_error(e, internal));
        CHECK(back.group == "internal");
        CHECK(back.code == "internal_error");
        CHECK(back.message == "Internal error.");
        CHECK(back.metadata.is_undefined());
        CHECK(back.http_status == 500);
        CHECK(decode_http_error(e, encode_http_error(e, {"handler", "request_not_defined", "x", {}, 404})).http_status == 404);
        CHECK(decode_http_error(e, encode_http_error(e, {"user", "x", "y", object{{"k", bytes{1}}}, 400})).metadata ==
              value(object{{"k", bytes{1}}}));
        CHECK(decode_http_error(e, encode_http_error(e, {"feature", "not_implemented", "z", {}, 501})).http_status == 501);
    }
    require_malformed([] { (void)decode_http_error(encoding::json, R"({"group":"g","code":"c"})"); },
                      R"(HttpResponseError: missing "message")");
    require_malformed([] { (void)decode_http_error(encoding::json, R"({"error":"bad"})"); },
                      R"(HttpResponseError: missing "group")");
    require_malformed([] { (void)decode_http_error(encoding::json, "not json"); }, "json:");
}
