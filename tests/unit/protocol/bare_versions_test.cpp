// BARE framing: versions 1..4 are read (with v1's Init token and v4's actor specifier), 2 is
// written, anything else is refused; union tags, trailing bytes and truncation are checked.

#include <catch2/catch.hpp>

#include "protocol_test_util.hpp"

using namespace rivetkit;
using namespace rivetkit::protocol;
using protocol_test::frame;
using protocol_test::require_malformed;

namespace {

// The bodies (after the version prefix) of a few messages that are the same in every version.
const std::string action_request_body = R"(00 | 07 | 09 "increment" | 02 81 03)";
const std::string subscription_body = R"(01 | 08 "newCount" | 00)";
const std::string http_request_body = "03 82 01 02";
const std::string http_response_body = R"(06 b9 0001 61 61 01)";
const std::string event_body = R"(03 | 02 "ev" | 03 82 05 f6)";
const std::string response_body = "02 | 09 | 01 f7";

std::string versioned(int version, const std::string& body) {
    const char* prefix[] = {"00 00 ", "01 00 ", "02 00 ", "03 00 ", "04 00 ", "05 00 "};
    return frame(std::string(prefix[version]) + body);
}

}  // namespace

TEST_CASE("bare: encoders always write version 2", "[protocol][bare]") {
    const std::string prefix = frame("02 00");
    CHECK(encode_to_client(encoding::bare, init_message{"a", "b"}).substr(0, 2) == prefix);
    CHECK(encode_to_server(encoding::bare, subscription_request{"e", true}).substr(0, 2) == prefix);
    CHECK(encode_http_action_request(encoding::bare, {}).substr(0, 2) == prefix);
    CHECK(encode_http_action_response(encoding::bare, 1).substr(0, 2) == prefix);
    CHECK(encode_http_error(encoding::bare, {"g", "c", "m", {}, 400}).substr(0, 2) == prefix);
}

TEST_CASE("bare: client-to-server payloads of versions 1 to 4 are read alike", "[protocol][bare]") {
    for (int version = 1; version <= 4; ++version) {
        INFO("version " << version);
        CHECK(decode_to_server(encoding::bare, versioned(version, action_request_body)) ==
              to_server(action_request{7, "increment", {3}}));
        CHECK(decode_to_server(encoding::bare, versioned(version, subscription_body)) ==
              to_server(subscription_request{"newCount", false}));
        CHECK(decode_http_action_request(encoding::bare, versioned(version, http_request_body)) == array{1, 2});
        CHECK(decode_http_action_response(encoding::bare, versioned(version, http_response_body)) ==
              value(object{{"a", 1}}));
        CHECK(decode_to_client(encoding::bare, versioned(version, event_body)) ==
              to_client(event_message{"ev", {5, null}}));
        CHECK(decode_to_client(encoding::bare, versioned(version, response_body)) ==
              to_client(action_response{9, undefined}));
    }
}

TEST_CASE("bare: versions outside 1..4 are refused by every decoder", "[protocol][bare]") {
    for (const int version : {0, 5}) {
        const std::string what = "unknown BARE version " + std::to_string(version);
        require_malformed([&] { (void)decode_to_server(encoding::bare, versioned(version, action_request_body)); }, what);
        require_malformed([&] { (void)decode_to_client(encoding::bare, versioned(version, event_body)); }, what);
        require_malformed([&] { (void)decode_http_action_request(encoding::bare, versioned(version, http_request_body)); }, what);
        require_malformed([&] { (void)decode_http_action_response(encoding::bare, versioned(version, http_response_body)); }, what);
        require_malformed([&] { (void)decode_http_error(encoding::bare, versioned(version, R"(01 "g" 01 "c" 01 "m" 00)")); }, what);
    }
    require_malformed([] { (void)decode_to_server(encoding::bare, frame("ff ff 00 00 00 80")); }, "unknown BARE version 65535");
    require_malformed([] { (void)decode_to_server(encoding::bare, frame("00 02 00 00 00 80")); }, "unknown BARE version 512");
    require_malformed([] { (void)decode_to_server(encoding::bare, ""); }, "missing version prefix");
    require_malformed([] { (void)decode_to_client(encoding::bare, frame("02")); }, "missing version prefix");
    require_malformed([] { (void)decode_to_client(encoding::bare, frame("02 00")); }, "unexpected end of input");
}

TEST_CASE("bare: version 1 Init carries a connection token, which is dropped", "[protocol][bare]") {
    const std::string v1 = frame(R"(01 00 | 00 | 10 "f0ca35bb1be8671c" | 03 "c-1" | 05 "token")");
    CHECK(decode_to_client(encoding::bare, v1) == to_client(init_message{"f0ca35bb1be8671c", "c-1"}));

    // The same body is one field too long for v2..v4 and one too short without the token.
    for (int version = 2; version <= 4; ++version) {
        require_malformed([&] {
            (void)decode_to_client(encoding::bare, versioned(version, R"(00 | 10 "f0ca35bb1be8671c" | 03 "c-1" | 05 "token")"));
        }, "remaining bytes");
        CHECK(decode_to_client(encoding::bare, versioned(version, R"(00 | 02 "id" | 03 "c-1")")) ==
              to_client(init_message{"id", "c-1"}));
    }
    require_malformed([] { (void)decode_to_client(encoding::bare, frame(R"(01 00 | 00 | 02 "id" | 03 "c-1")")); },
                      "unexpected end of input");
}

TEST_CASE("bare: version 4 Error and HttpResponseError end with an optional actor", "[protocol][bare]") {
    const std::string error_fields = R"(01 | 04 "user" | 07 "my_code" | 09 "bad thing" | 01 06 b9 0001 61 61 01 | 01 01)";
    const error_message expected{"user", "my_code", "bad thing", object{{"a", 1}}, 1};

    // actor present, with and without its key; actor absent.
    CHECK(decode_to_client(encoding::bare, versioned(4, error_fields + R"( | 01 | 10 "f0ca35bb1be8671c" | 03 | 01 | 05 "a/b/c")")) ==
          to_client(expected));
    CHECK(decode_to_client(encoding::bare, versioned(4, error_fields + R"( | 01 | 02 "id" | 80 01 | 00)")) == to_client(expected));
    CHECK(decode_to_client(encoding::bare, versioned(4, error_fields + " | 00")) == to_client(expected));

    // v4 requires the presence byte; v2/v3 have no such field.
    require_malformed([&] { (void)decode_to_client(encoding::bare, versioned(4, error_fields)); }, "unexpected end of input");
    for (int version = 1; version <= 3; ++version) {
        CHECK(decode_to_client(encoding::bare, versioned(version, error_fields)) == to_client(expected));
        require_malformed([&] { (void)decode_to_client(encoding::bare, versioned(version, error_fields + " | 00")); },
                          "remaining bytes");
    }
    // A broken specifier is refused rather than skipped.
    require_malformed([&] { (void)decode_to_client(encoding::bare, versioned(4, error_fields + R"( | 01 | 02 "id" | 80 00 | 00)")); },
                      "non-canonical uint");
    require_malformed([&] { (void)decode_to_client(encoding::bare, versioned(4, error_fields + R"( | 02)")); },
                      "invalid optional tag");

    const std::string http_fields = R"(04 "user" | 07 "my_code" | 09 "bad thing" | 00)";
    const client_error e = decode_http_error(encoding::bare, versioned(4, http_fields + R"( | 01 | 02 "id" | 00 | 01 01 "k")"));
    CHECK(e.group == "user");
    CHECK(e.code == "my_code");
    CHECK(e.message == "bad thing");
    CHECK(e.metadata.is_undefined());
    CHECK(decode_http_error(encoding::bare, versioned(3, http_fields)).code == "my_code");
    require_malformed([&] { (void)decode_http_error(encoding::bare, versioned(2, http_fields + " | 00")); }, "remaining bytes");
}

TEST_CASE("bare: union tags, trailing bytes and field checks", "[protocol][bare]") {
    require_malformed([] { (void)decode_to_client(encoding::bare, frame("02 00 04")); }, "ToClient: unknown union tag 4");
    require_malformed([] { (void)decode_to_client(encoding::bare, frame("02 00 80 00")); }, "ToClient: unknown union tag 128");
    require_malformed([] { (void)decode_to_server(encoding::bare, frame("02 00 02")); }, "ToServer: unknown union tag 2");
    require_malformed([] { (void)decode_to_server(encoding::bare, frame("02 00 ff")); }, "ToServer: unknown union tag 255");

    const std::string ok = versioned(2, action_request_body);
    require_malformed([&] { (void)decode_to_server(encoding::bare, ok + std::string(1, '\0')); }, "remaining bytes");
    require_malformed([] { (void)decode_http_action_request(encoding::bare, frame("02 00 02 81 02 00")); }, "remaining bytes");
    require_malformed([] { (void)decode_http_action_response(encoding::bare, frame("02 00 01 02 02")); }, "remaining bytes");

    // args must be a CBOR array; data must hold exactly one CBOR item.
    require_malformed([] { (void)decode_to_server(encoding::bare, frame(R"(02 00 | 00 | 00 | 01 "f" | 01 05)")); },
                      "ActionRequest.args: expected an array, got integer");
    require_malformed([] { (void)decode_to_server(encoding::bare, frame(R"(02 00 | 00 | 00 | 01 "f" | 01 a0)")); },
                      "ActionRequest.args: expected an array, got object");
    require_malformed([] { (void)decode_http_action_request(encoding::bare, frame("02 00 | 01 f6")); },
                      "HttpActionRequest.args: expected an array, got null");
    require_malformed([] { (void)decode_to_client(encoding::bare, frame(R"(02 00 | 03 | 01 "e" | 01 07)")); },
                      "Event.args: expected an array, got integer");
    require_malformed([] { (void)decode_http_action_request(encoding::bare, frame("02 00 | 00")); }, "cbor: truncated input");
    require_malformed([] { (void)decode_http_action_request(encoding::bare, frame("02 00 | 02 80 80")); }, "cbor: trailing bytes");

    // bool is 0 or 1; strings are UTF-8; uints are canonical.
    require_malformed([] { (void)decode_to_server(encoding::bare, frame(R"(02 00 | 01 | 01 "e" | 02)")); }, "invalid bool");
    require_malformed([] { (void)decode_to_server(encoding::bare, frame(R"(02 00 | 01 | 01 ff | 01)")); }, "invalid UTF-8");
    require_malformed([] { (void)decode_to_server(encoding::bare, frame(R"(02 00 | 00 | 80 00 | 01 "f" | 01 80)")); },
                      "non-canonical uint");
}

TEST_CASE("bare: ids use the whole u64 range", "[protocol][bare]") {
    const action_request big{UINT64_MAX, "f", {}};
    const std::string wire = encode_to_server(encoding::bare, big);
    CHECK(wire == frame(R"(02 00 | 00 | ff ff ff ff ff ff ff ff ff 01 | 01 "f" | 01 80)"));
    CHECK(decode_to_server(encoding::bare, wire) == to_server(big));

    const error_message err{"g", "c", "m", {}, UINT64_MAX};
    CHECK(decode_to_client(encoding::bare, encode_to_client(encoding::bare, err)) == to_client(err));
}

TEST_CASE("bare: metadata is kept for every value but undefined", "[protocol][bare]") {
    // The reference drops falsy metadata (0, false, ""); we keep it.
    for (const value& metadata : {value(0), value(false), value(""), value(null)}) {
        const error_message err{"g", "c", "m", metadata, std::nullopt};
        const std::string wire = encode_to_client(encoding::bare, err);
        CHECK(decode_to_client(encoding::bare, wire) == to_client(err));
    }
    const std::string absent = encode_to_client(encoding::bare, error_message{"g", "c", "m", {}, std::nullopt});
    CHECK(absent == frame(R"(02 00 | 01 | 01 "g" | 01 "c" | 01 "m" | 00 | 00)"));
}
