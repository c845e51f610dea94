#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "codec_test_util.hpp"
#include "common/json.hpp"

using namespace rivetkit;
using codec_test::require_malformed;
using codec_test::same;

namespace {
void bad(std::string_view text, std::string_view what) {
    require_malformed([&] { (void)json::decode(text); }, what);
}
}  // namespace

TEST_CASE("json: captured frames from the reference (Appendix A)", "[json]") {
    const value echo = object{{"args", array{bigint{12}, array{"$foo", 1}, object{{"x", bytes{1, 2, 3}}}}}};
    const std::string echo_text = R"({"args":[["$BigInt","12"],["$$foo",1],{"x":["$Uint8Array","AQID"]}]})";
    CHECK(json::encode(echo) == echo_text);
    CHECK(same(json::decode(echo_text), echo));

    const value request = object{
        {"body", object{{"tag", "ActionRequest"},
                        {"val", object{{"id", bigint{0}}, {"name", "increment"}, {"args", array{3}}}}}}};
    const std::string request_text =
        R"({"body":{"tag":"ActionRequest","val":{"id":["$BigInt","0"],"name":"increment","args":[3]}}})";
    CHECK(json::encode(request) == request_text);
    CHECK(same(json::decode(request_text), request));

    const value error = object{
        {"body", object{{"tag", "Error"},
                        {"val", object{{"group", "user"},
                                       {"code", "my_code"},
                                       {"message", "bad thing"},
                                       {"metadata", object{{"a", 1}}},
                                       {"actionId", bigint{1}}}}}}};
    const std::string error_text =
        R"({"body":{"tag":"Error","val":{"group":"user","code":"my_code","message":"bad thing","metadata":{"a":1},"actionId":["$BigInt","1"]}}})";
    CHECK(json::encode(error) == error_text);
    CHECK(same(json::decode(error_text), error));

    const std::string event_text = R"({"body":{"tag":"Event","val":{"name":"newCount","args":[5,"extra"]}}})";
    CHECK(json::encode(json::decode(event_text)) == event_text);
    const std::string sub_text =
        R"({"body":{"tag":"SubscriptionRequest","val":{"eventName":"newCount","subscribe":true}}})";
    CHECK(json::encode(json::decode(sub_text)) == sub_text);
}

TEST_CASE("json: encode follows JSON.stringify with the compat replacer", "[json]") {
    CHECK(json::encode(undefined) == "null");
    CHECK(json::encode(null) == "null");
    CHECK(json::encode(true) == "true");
    CHECK(json::encode(object{{"a", undefined}, {"b", 1}}) == R"({"b":1})");
    CHECK(json::encode(object{{"a", undefined}}) == "{}");
    CHECK(json::encode(array{undefined, 1}) == "[null,1]");
    CHECK(json::encode(std::numeric_limits<double>::quiet_NaN()) == "null");
    CHECK(json::encode(array{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) ==
          "[null,null]");
    CHECK(json::encode(bytes{}) == R"(["$Uint8Array",""])");
    CHECK(json::encode(bytes{0xfb, 0xff}) == R"(["$Uint8Array","+/8="])");
    CHECK(json::encode(bigint{-5}) == R"(["$BigInt","-5"])");
    CHECK(json::encode(bigint{INT64_MIN}) == R"(["$BigInt","-9223372036854775808"])");
    // Integers print plainly while a JS number holds them exactly.
    CHECK(json::encode(std::int64_t{1} << 53) == "9007199254740992");
    CHECK(json::encode(-(std::int64_t{1} << 53)) == "-9007199254740992");
    CHECK(json::encode((std::int64_t{1} << 53) + 1) == R"(["$BigInt","9007199254740993"])");
    CHECK(json::encode(INT64_MAX) == R"(["$BigInt","9223372036854775807"])");
    // The $-escape applies to any 2-element array with a "$..." string head, at every depth.
    CHECK(json::encode(array{"$foo", 1}) == R"(["$$foo",1])");
    CHECK(json::encode(array{"$$x", undefined}) == R"(["$$$x",null])");
    CHECK(json::encode(array{"$", array{"$b", bigint{2}}}) == R"(["$$",["$$b",["$BigInt","2"]]])");
    CHECK(json::encode(array{"$foo"}) == R"(["$foo"])");
    CHECK(json::encode(array{"$foo", 1, 2}) == R"(["$foo",1,2])");
    CHECK(json::encode(array{1, "$foo"}) == R"([1,"$foo"])");
    CHECK(json::encode(array{"foo$", 1}) == R"(["foo$",1])");
    CHECK(json::encode(object{{"$k", array{"$v", 0}}}) == R"({"$k":["$$v",0]})");
}

TEST_CASE("json: strings are escaped like JSON.stringify", "[json]") {
    CHECK(json::encode("\"\\\b\f\n\r\t") == R"("\"\\\b\f\n\r\t")");
    CHECK(json::encode(std::string("\x00\x01\x1f\x7f", 4)) == "\"\\u0000\\u0001\\u001f\x7f\"");
    CHECK(json::encode("caf\xc3\xa9 \xf0\x9f\x98\x80 </script>") == "\"caf\xc3\xa9 \xf0\x9f\x98\x80 </script>\"");
    CHECK(json::encode(object{{"k\"ey\n", 1}}) == R"({"k\"ey\n":1})");
    CHECK(json::decode(R"("\"\\\/\b\f\n\r\t\u0041\u00e9\ud83d\ude00")") ==
          value("\"\\/\b\f\n\r\tA\xc3\xa9\xf0\x9f\x98\x80"));
}

TEST_CASE("json: numbers print like Number.prototype.toString", "[json]") {
    const auto s = [](double d) { return json::number_to_string(d); };
    CHECK(s(3.0) == "3");
    CHECK(s(-0.0) == "0");
    CHECK(s(0.1) == "0.1");
    CHECK(s(-1.5) == "-1.5");
    CHECK(s(123.456) == "123.456");
    CHECK(s(0.1 + 0.2) == "0.30000000000000004");
    CHECK(s(1e21) == "1e+21");
    CHECK(s(1e20) == "100000000000000000000");
    CHECK(s(123456789012345680000.0) == "123456789012345680000");
    CHECK(s(std::ldexp(1.0, 60)) == "1152921504606847000");
    CHECK(s(1.5e-7) == "1.5e-7");
    CHECK(s(1e-7) == "1e-7");
    CHECK(s(1e-6) == "0.000001");
    CHECK(s(0.000123) == "0.000123");
    CHECK(s(1.23e-18) == "1.23e-18");
    CHECK(s(2.5e+25) == "2.5e+25");
    CHECK(s(5e-324) == "5e-324");
    CHECK(s(1.7976931348623157e308) == "1.7976931348623157e+308");
    CHECK(s(-1e-7) == "-1e-7");
    CHECK(s(std::numeric_limits<double>::quiet_NaN()) == "NaN");
    CHECK(s(std::numeric_limits<double>::infinity()) == "Infinity");
    CHECK(s(-std::numeric_limits<double>::infinity()) == "-Infinity");
    CHECK(json::encode(3.0) == "3");
    CHECK(json::encode(1e21) == "1e+21");
    CHECK(json::encode(array{1.5e-7, -0.0}) == "[1.5e-7,0]");
}

TEST_CASE("json: decoded numbers are typed like JS numbers", "[json]") {
    CHECK(same(json::decode("3"), value(3)));
    CHECK(same(json::decode("3.0"), value(3)));  // JS cannot tell 3.0 from 3
    CHECK(same(json::decode("1e3"), value(1000)));
    CHECK(same(json::decode("-0"), value(0)));
    CHECK(same(json::decode("-0.0"), value(0)));
    CHECK(same(json::decode("1.5"), value(1.5)));
    CHECK(same(json::decode("9007199254740992"), value(std::int64_t{1} << 53)));
    CHECK(same(json::decode("-9007199254740992"), value(-(std::int64_t{1} << 53))));
    // Beyond 2^53 a JSON number is the double a JS peer meant; exact integers use $BigInt.
    CHECK(same(json::decode("1152921504606847000"), value(std::ldexp(1.0, 60))));
    CHECK(json::encode(json::decode("1152921504606847000")) == "1152921504606847000");
    CHECK(same(json::decode("9223372036854775807"), value(9223372036854775807.0)));
    CHECK(same(json::decode("18446744073709551615"), value(18446744073709551615.0)));
    CHECK(same(json::decode("18446744073709551616"), value(18446744073709551616.0)));
    CHECK(same(json::decode("1e300"), value(1e300)));
    // JSON.parse would read Infinity here; nlohmann refuses, and so do we.
    bad("1e400", "json: number overflow");
}

TEST_CASE("json: the reviver", "[json]") {
    CHECK(same(json::decode(R"(["$BigInt","-9223372036854775808"])"), value(bigint{INT64_MIN})));
    CHECK(same(json::decode(R"(["$BigInt","9223372036854775807"])"), value(bigint{INT64_MAX})));
    CHECK(same(json::decode(R"(["$BigInt",42])"), value(bigint{42})));
    CHECK(same(json::decode(R"(["$BigInt",1152921504606846976])"), value(bigint{std::int64_t{1} << 60})));
    CHECK(same(json::decode(R"(["$BigInt",3.0])"), value(bigint{3})));
    CHECK(same(json::decode(R"(["$BigInt","007"])"), value(bigint{7})));
    CHECK(same(json::decode(R"(["$Uint8Array","AQID"])"), value(bytes{1, 2, 3})));
    CHECK(same(json::decode(R"(["$Uint8Array","AQI"])"), value(bytes{1, 2})));  // unpadded
    CHECK(same(json::decode(R"(["$ArrayBuffer","AQID"])"), value(bytes{1, 2, 3})));
    CHECK(same(json::decode(R"(["$$foo",1])"), value(array{"$foo", 1})));
    // rivetkit 2.3.x clients tag undefined and Sets too.
    CHECK(same(json::decode(R"({"a":["$Undefined",0]})"), object{{"a", value{}}}));
    CHECK(same(json::decode(R"(["$Set",[1,"x"]])"), value(array{1, "x"})));
    CHECK(same(json::decode(R"(["$$$x",1])"), value(array{"$$x", 1})));
    // Bottom-up: children are revived first, and an unescaped array is not revived again.
    CHECK(same(json::decode(R"(["$$foo",["$BigInt","1"]])"), value(array{"$foo", bigint{1}})));
    CHECK(same(json::decode(R"(["$$BigInt","1"])"), value(array{"$BigInt", "1"})));
    CHECK(same(json::decode(R"([["$BigInt","1"],2])"), value(array{bigint{1}, 2})));
    CHECK(same(json::decode(R"({"x":[["$BigInt","1"],["$Uint8Array",""]]})"),
               object{{"x", array{bigint{1}, bytes{}}}}));
    // Only 2-element arrays with a "$" head are special.
    CHECK(same(json::decode(R"(["$foo"])"), value(array{"$foo"})));
    CHECK(same(json::decode(R"(["$foo",1,2])"), value(array{"$foo", 1, 2})));
    CHECK(same(json::decode(R"([1,"$foo"])"), value(array{1, "$foo"})));
    // A repeated key keeps its first position and the last value, as JSON.parse does.
    CHECK(same(json::decode(R"({"a":1,"b":2,"a":3})"), object{{"a", 3}, {"b", 2}}));
}

TEST_CASE("json: malformed input", "[json]") {
    bad("", "json: ");
    bad("{", "json: ");
    bad("[1,]", "json: ");
    bad("nul", "json: ");
    bad("1 2", "json: ");
    bad("{} x", "json: ");
    bad("{\"a\":1}}", "json: ");
    bad("'a'", "json: ");
    bad("NaN", "json: ");
    bad("[1] // c", "json: ");
    bad("\"\xff\"", "json: ");
    bad("\"\xed\xa0\x80\"", "json: ");
    bad(R"("\ud800")", "json: ");
    bad(std::string_view("1\0", 2), "json: NUL byte in input");
    bad(std::string_view("[1]\0]", 4), "json: NUL byte in input");
    bad(R"(["$foo",1])", "json: Unknown JSON encoding type: $foo");
    bad(R"(["$",1])", "json: Unknown JSON encoding type: $");
    bad(R"(["$Set",1])", "json: invalid $Set payload");
    bad(R"(["$BigInt","x"])", "json: invalid $BigInt payload");
    bad(R"(["$BigInt",""])", "json: invalid $BigInt payload");
    bad(R"(["$BigInt","1.5"])", "json: invalid $BigInt payload");
    bad(R"(["$BigInt",1.5])", "json: invalid $BigInt payload");
    bad(R"(["$BigInt",null])", "json: invalid $BigInt payload");
    bad(R"(["$BigInt",1e19])", "json: $BigInt out of 64-bit range");
    bad(R"(["$BigInt","9223372036854775808"])", "json: $BigInt out of 64-bit range");
    bad(R"(["$BigInt","-9223372036854775809"])", "json: $BigInt out of 64-bit range");
    bad(R"(["$Uint8Array","@@@@"])", "json: invalid base64 in $Uint8Array");
    bad(R"(["$Uint8Array","A"])", "json: invalid base64 in $Uint8Array");
    bad(R"(["$ArrayBuffer","AQ=D"])", "json: invalid base64 in $ArrayBuffer");
    bad(R"(["$Uint8Array",[1]])", "json: invalid $Uint8Array payload");
    // The nlohmann prefix is stripped from syntax errors.
    try {
        (void)json::decode("[1,");
        FAIL("no error");
    } catch (const rivetkit::error& e) {
        CHECK(e.message().find("[json.exception") == std::string::npos);
        CHECK(e.message().find("json: ") != std::string::npos);
    }
}

TEST_CASE("json: nesting is limited to 128 levels", "[json]") {
    const auto nested = [](std::size_t n, char open, char close) {
        return std::string(n, open) + std::string(n, close);
    };
    CHECK(json::decode(nested(128, '[', ']')).is_array());
    bad(nested(129, '[', ']'), "json: nesting deeper than 128 levels");
    std::string objects;
    for (int i = 0; i < 129; ++i) objects += "{\"a\":";
    objects += "1" + std::string(129, '}');
    bad(objects, "json: nesting deeper than 128 levels");
    bad(std::string(1000000, '['), "json: ");
}

TEST_CASE("json: plain JSON for REST bodies", "[json]") {
    const value v = object{{"n", 1},
                           {"big", bigint{12}},
                           {"bin", bytes{1, 2, 3}},
                           {"u", undefined},
                           {"f", 1.5},
                           {"nan", std::numeric_limits<double>::quiet_NaN()},
                           {"arr", array{undefined, "$x", array{"$y", 1}}},
                           {"s", "str"}};
    const nlohmann::json j = json::to_plain_json(v);
    CHECK(j == nlohmann::json::parse(
                   R"({"n":1,"big":12,"bin":"AQID","f":1.5,"nan":null,"arr":[null,"$x",["$y",1]],"s":"str"})"));
    CHECK(json::to_plain_json(undefined).is_null());
    CHECK(json::to_plain_json(bigint{INT64_MIN}) == nlohmann::json(INT64_MIN));

    const value back = json::from_plain_json(nlohmann::json::parse(
        R"({"a":[1,2.0,2.5,null,true,"$x",["$y",1]],"b":{"c":18446744073709551615},"d":-3})"));
    CHECK(same(back["a"], value(array{1, 2, 2.5, null, true, "$x", array{"$y", 1}})));
    CHECK(same(back["b"]["c"], value(18446744073709551615.0)));
    CHECK(same(back["d"], value(-3)));
    CHECK(same(json::from_plain_json(nlohmann::json::binary({1, 2})), value(bytes{1, 2})));
}
