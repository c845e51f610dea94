// CBOR-compat (rivetkit 2.3.x, §7): the tagged arrays a 2.3 client puts into CBOR user values
// are revived in the cbor envelope and in BARE data; nothing else is touched.

#include <catch2/catch.hpp>

#include "common/cbor.hpp"
#include "protocol_test_util.hpp"

using namespace rivetkit;
using namespace rivetkit::protocol;
using codec_test::same;

namespace {

value tagged(const char* head, value payload) { return array{head, std::move(payload)}; }

}  // namespace

TEST_CASE("revive_cbor_compat: the known tags", "[protocol][cbor-compat]") {
    CHECK(same(revive_cbor_compat(tagged("$BigInt", "12")), bigint{12}));
    CHECK(same(revive_cbor_compat(tagged("$BigInt", "-9223372036854775808")), bigint{INT64_MIN}));
    CHECK(same(revive_cbor_compat(tagged("$Uint8Array", "AQID")), bytes{1, 2, 3}));
    CHECK(same(revive_cbor_compat(tagged("$ArrayBuffer", "")), bytes{}));
    CHECK(same(revive_cbor_compat(tagged("$Undefined", 0)), undefined));
    CHECK(same(revive_cbor_compat(tagged("$Set", array{1, "a"})), array{1, "a"}));

    // Bottom-up and at any depth, objects included.
    const value nested = object{{"s", tagged("$Set", array{tagged("$BigInt", "1"), tagged("$Undefined", 0)})},
                                {"list", array{tagged("$Uint8Array", "/w=="), 5}}};
    const value expected = object{{"s", array{bigint{1}, undefined}}, {"list", array{bytes{0xff}, 5}}};
    CHECK(same(revive_cbor_compat(nested), expected));
}

TEST_CASE("revive_cbor_compat: everything else is left alone", "[protocol][cbor-compat]") {
    const value untouched[] = {
        tagged("$$foo", 1),                      // an escaped user array: kept escaped (see the header)
        tagged("$$BigInt", "1"),
        tagged("$Map", array{}),                 // not a CBOR-compat tag
        tagged("$foo", 1),
        tagged("$BigInt", 5),                    // payload of the wrong shape
        tagged("$BigInt", "1.5"),
        tagged("$BigInt", " 1"),
        tagged("$BigInt", "99999999999999999999"),
        tagged("$Uint8Array", "not base64!"),
        tagged("$Uint8Array", bytes{1}),
        tagged("$Undefined", 1),
        tagged("$Undefined", null),
        tagged("$Set", object{}),
        array{"$BigInt", "1", "2"},              // not a pair
        array{"$BigInt"},
        array{1, "$BigInt"},
        value("$BigInt"),
        object{{"$BigInt", "1"}},
    };
    for (const value& v : untouched) {
        INFO(v.to_debug_string());
        CHECK(same(revive_cbor_compat(v), v));
    }
}

TEST_CASE("cbor envelope: user values are revived, the argument list itself is not", "[protocol][cbor-compat]") {
    // What a 2.3 client sends: plain CBOR arrays of strings standing for a bigint and bytes.
    const action_request sent{4, "f", {tagged("$BigInt", "5"), object{{"b", tagged("$Uint8Array", "AQID")}}}};
    const std::string wire = encode_to_server(encoding::cbor, sent);
    const action_request got = std::get<action_request>(decode_to_server(encoding::cbor, wire));
    CHECK(same(value(got.args), array{bigint{5}, object{{"b", bytes{1, 2, 3}}}}));

    // Two string arguments that happen to look like a tag stay two arguments.
    const action_request two_strings{5, "f", {"$BigInt", "5"}};
    CHECK(decode_to_server(encoding::cbor, encode_to_server(encoding::cbor, two_strings)) == to_server(two_strings));

    const error_message err{"g", "c", "m", object{{"n", tagged("$BigInt", "9007199254740993")}}, 1};
    const error_message e = std::get<error_message>(decode_to_client(encoding::cbor, encode_to_client(encoding::cbor, err)));
    CHECK(same(e.metadata, object{{"n", bigint{9007199254740993}}}));

    const action_response res{1, tagged("$Set", array{tagged("$Undefined", 0)})};
    const action_response r = std::get<action_response>(decode_to_client(encoding::cbor, encode_to_client(encoding::cbor, res)));
    CHECK(same(r.output, array{undefined}));

    CHECK(same(decode_http_action_response(encoding::cbor, encode_http_action_response(encoding::cbor, tagged("$ArrayBuffer", "AQ=="))),
               bytes{1}));
}

TEST_CASE("bare data: user values are revived", "[protocol][cbor-compat]") {
    const array args{tagged("$Undefined", 0), tagged("$Set", array{1, 2}), "$Set"};
    CHECK(same(value(decode_http_action_request(encoding::bare, encode_http_action_request(encoding::bare, args))),
               array{undefined, array{1, 2}, "$Set"}));

    const event_message ev{"e", {tagged("$BigInt", "-7")}};
    const event_message got = std::get<event_message>(decode_to_client(encoding::bare, encode_to_client(encoding::bare, ev)));
    CHECK(same(value(got.args), array{bigint{-7}}));

    const client_error err{"g", "c", "m", tagged("$Uint8Array", "AQID"), 400};
    CHECK(same(decode_http_error(encoding::bare, encode_http_error(encoding::bare, err)).metadata, bytes{1, 2, 3}));

    // decode_cbor_user_value is the same path, for other CBOR-compat carriers (rvt-input).
    CHECK(same(decode_cbor_user_value(cbor::encode(tagged("$BigInt", "3"))), bigint{3}));
}

TEST_CASE("json envelope: CBOR-compat does not apply", "[protocol][cbor-compat]") {
    // JSON-compat has its own tagging: ["$$Set",[1]] is the user's ["$Set",[1]], kept as it is.
    const array args = decode_http_action_request(encoding::json, R"({"args":[["$$Set",[1]]]})");
    CHECK(same(value(args), array{tagged("$Set", array{1})}));
}
