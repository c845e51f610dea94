#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "codec_test_util.hpp"
#include "common/cbor.hpp"

using namespace rivetkit;
using codec_test::hex;
using codec_test::require_malformed;
using codec_test::same;
using codec_test::to_hex;

namespace {
std::string enc(const value& v) { return to_hex(cbor::encode(v)); }
value dec(std::string_view h) { return cbor::decode(hex(h)); }
void bad(std::string_view h, std::string_view what) {
    require_malformed([&] { (void)dec(h); }, what);
}
}  // namespace

TEST_CASE("cbor: captured frames from the reference (Appendix A, §3.3)", "[cbor]") {
    CHECK(enc(object{{"a", 1}}) == to_hex(hex("b9 0001 61 61 01")));
    CHECK(enc(object{}) == "b9 00 00");
    CHECK(enc(array{2}) == "81 02");
    CHECK(enc(array{3}) == "81 03");
    CHECK(enc(array{}) == "80");
    CHECK(enc(array{5, "extra"}) == to_hex(hex("82 05 65 \"extra\"")));
    CHECK(enc(5) == "05");

    const value request = object{{"body", object{{"tag", "ActionRequest"},
                                                 {"val", object{{"id", bigint{0}},
                                                                {"name", "increment"},
                                                                {"args", array{3}}}}}}};
    const auto request_bytes = hex(
        "b9 0001 64\"body\" b9 0002 63\"tag\" 6d\"ActionRequest\" 63\"val\" b9 0003 62\"id\" "
        "1b 0000000000000000 64\"name\" 69\"increment\" 64\"args\" 81 03");
    CHECK(cbor::encode(request) == request_bytes);
    CHECK(same(cbor::decode(request_bytes), request));

    const value response = object{
        {"body", object{{"tag", "ActionResponse"}, {"val", object{{"id", bigint{0}}, {"output", 5}}}}}};
    const auto response_bytes = hex(
        "b9 0001 64\"body\" b9 0002 63\"tag\" 6e\"ActionResponse\" 63\"val\" b9 0002 62\"id\" "
        "1b 0000000000000000 66\"output\" 05");
    CHECK(cbor::encode(response) == response_bytes);
    CHECK(same(cbor::decode(response_bytes), response));

    CHECK(cbor::encode(object{{"args", array{2}}}) == hex("b9 0001 64\"args\" 81 02"));
    CHECK(cbor::encode(object{{"output", 2}}) == hex("b9 0001 66\"output\" 02"));
    // The CBOR HTTP error carries metadata: undefined as f7.
    CHECK(cbor::encode(object{{"metadata", undefined}}) == hex("b9 0001 68\"metadata\" f7"));
}

TEST_CASE("cbor: encode appends to an existing buffer", "[cbor]") {
    bytes out{0xAA};
    cbor::encode(value(true), out);
    cbor::encode(value(null), out);
    CHECK(out == hex("aa f5 f6"));
}

TEST_CASE("cbor: simple values", "[cbor]") {
    CHECK(enc(undefined) == "f7");
    CHECK(enc(null) == "f6");
    CHECK(enc(false) == "f4");
    CHECK(enc(true) == "f5");
    CHECK(dec("f7").is_undefined());
    CHECK(dec("f6").is_null());
    CHECK(dec("f4") == value(false));
    CHECK(dec("f5") == value(true));
}

TEST_CASE("cbor: integer kind uses cbor-x's number rules", "[cbor]") {
    const std::int64_t p32 = std::int64_t{1} << 32;
    const std::int64_t p53 = std::int64_t{1} << 53;
    CHECK(enc(0) == "00");
    CHECK(enc(23) == "17");
    CHECK(enc(24) == "18 18");
    CHECK(enc(255) == "18 ff");
    CHECK(enc(256) == "19 01 00");
    CHECK(enc(65535) == "19 ff ff");
    CHECK(enc(65536) == "1a 00 01 00 00");
    CHECK(enc(p32 - 1) == "1a ff ff ff ff");
    CHECK(enc(-1) == "20");
    CHECK(enc(-24) == "37");
    CHECK(enc(-25) == "38 18");
    CHECK(enc(-256) == "38 ff");
    CHECK(enc(-257) == "39 01 00");
    CHECK(enc(-65536) == "39 ff ff");
    CHECK(enc(-65537) == "3a 00 01 00 00");
    CHECK(enc(-(std::int64_t{1} << 31) - 1) == "3a 80 00 00 00");  // cbor-x >= 1.6.1 (#124)
    CHECK(enc(-p32) == "3a ff ff ff ff");
    // Outside ±2^32 a JS number is written as float64, even when integral.
    CHECK(enc(p32) == "fb 41 f0 00 00 00 00 00 00");
    CHECK(enc(-p32 - 1) == "fb c1 f0 00 00 00 10 00 00");
    CHECK(enc(std::int64_t{1} << 40) == "fb 42 70 00 00 00 00 00 00");
    CHECK(enc(p53) == "fb 43 40 00 00 00 00 00 00");
    CHECK(enc(-p53) == "fb c3 40 00 00 00 00 00 00");
    // Beyond 2^53 only the 8-byte int keeps the value exact; JS reads it as a BigInt.
    CHECK(enc(p53 + 1) == "1b 00 20 00 00 00 00 00 01");
    CHECK(enc(-p53 - 1) == "3b 00 20 00 00 00 00 00 00");
    CHECK(enc(INT64_MAX) == "1b 7f ff ff ff ff ff ff ff");
    CHECK(enc(INT64_MIN) == "3b 7f ff ff ff ff ff ff ff");
}

TEST_CASE("cbor: number kind", "[cbor]") {
    CHECK(enc(3.0) == "03");
    CHECK(enc(-0.0) == "00");
    CHECK(enc(-1.0) == "20");
    CHECK(enc(4294967295.0) == "1a ff ff ff ff");
    CHECK(enc(-4294967296.0) == "3a ff ff ff ff");
    CHECK(enc(4294967296.0) == "fb 41 f0 00 00 00 00 00 00");
    CHECK(enc(1.5) == "fb 3f f8 00 00 00 00 00 00");
    CHECK(enc(0.1) == "fb 3f b9 99 99 99 99 99 9a");
    CHECK(enc(std::numeric_limits<double>::quiet_NaN()) == "fb 7f f8 00 00 00 00 00 00");
    CHECK(enc(-std::numeric_limits<double>::quiet_NaN()) == "fb 7f f8 00 00 00 00 00 00");
    CHECK(enc(std::numeric_limits<double>::infinity()) == "fb 7f f0 00 00 00 00 00 00");
    CHECK(enc(-std::numeric_limits<double>::infinity()) == "fb ff f0 00 00 00 00 00 00");
    CHECK(enc(1e300) == "fb 7e 37 e4 3c 88 00 75 9c");
}

TEST_CASE("cbor: bigint kind always uses the 8-byte form", "[cbor]") {
    CHECK(enc(bigint{0}) == "1b 00 00 00 00 00 00 00 00");
    CHECK(enc(bigint{1}) == "1b 00 00 00 00 00 00 00 01");
    CHECK(enc(bigint{-1}) == "3b 00 00 00 00 00 00 00 00");
    CHECK(enc(bigint{INT64_MAX}) == "1b 7f ff ff ff ff ff ff ff");
    CHECK(enc(bigint{INT64_MIN}) == "3b 7f ff ff ff ff ff ff ff");
    CHECK(dec("1b 00 00 00 00 00 00 00 05") == value(bigint{5}));
    CHECK(dec("3b 00 00 00 00 00 00 00 05") == value(bigint{-6}));
    CHECK(dec("1b 7f ff ff ff ff ff ff ff") == value(bigint{INT64_MAX}));
    CHECK(dec("3b 7f ff ff ff ff ff ff ff") == value(bigint{INT64_MIN}));
    bad("1b 80 00 00 00 00 00 00 00", "cbor: 64-bit integer out of range");
    bad("1b ff ff ff ff ff ff ff ff", "cbor: 64-bit integer out of range");
    bad("3b 80 00 00 00 00 00 00 00", "cbor: 64-bit integer out of range");
}

TEST_CASE("cbor: strings, binary, arrays and objects", "[cbor]") {
    CHECK(enc("") == "60");
    CHECK(enc(std::string(23, 'x')).substr(0, 2) == "77");
    CHECK(enc(std::string(24, 'x')).substr(0, 5) == "78 18");
    CHECK(enc(std::string(255, 'x')).substr(0, 5) == "78 ff");
    CHECK(enc(std::string(256, 'x')).substr(0, 8) == "79 01 00");
    CHECK(enc(std::string(65536, 'x')).substr(0, 14) == "7a 00 01 00 00");
    CHECK(enc("\xc3\xa9") == "62 c3 a9");  // the head counts UTF-8 bytes
    std::string euros;
    for (int i = 0; i < 8; ++i) euros += "\xe2\x82\xac";
    CHECK(enc(euros).substr(0, 5) == "78 18");  // 8 characters, 24 bytes
    CHECK(enc(bytes{1, 2, 3}) == "d8 40 43 01 02 03");
    CHECK(enc(bytes{}) == "d8 40 40");
    CHECK(enc(bytes(24, 0)).substr(0, 11) == "d8 40 58 18");
    CHECK(enc(array(23, value(0))).substr(0, 2) == "97");
    CHECK(enc(array(24, value(0))).substr(0, 5) == "98 18");
    CHECK(enc(array(256, value(0))).substr(0, 8) == "99 01 00");
    object many;
    for (int i = 0; i < 24; ++i) many.insert_or_assign("k" + std::to_string(i), i);
    CHECK(enc(many).substr(0, 8) == "b9 00 18");
    // Insertion order is kept.
    CHECK(cbor::encode(object{{"b", 1}, {"a", 2}}) == hex("b9 0002 61 62 01 61 61 02"));
}

TEST_CASE("cbor: objects above 65535 members get a 32-bit head", "[cbor]") {
    object big;
    for (int i = 0; i < 65536; ++i) big.insert_or_assign(std::to_string(i), 0);
    const bytes b = cbor::encode(big);
    CHECK(to_hex(bytes(b.begin(), b.begin() + 5)) == "ba 00 01 00 00");
    CHECK(cbor::decode(b).size() == 65536);
}

TEST_CASE("cbor: decoding accepts non-minimal heads and indefinite lengths", "[cbor]") {
    CHECK(dec("18 05") == value(5));
    CHECK(dec("19 00 05") == value(5));
    CHECK(dec("1a 00 00 00 05") == value(5));
    CHECK(dec("1a ff ff ff ff") == value(std::int64_t{4294967295}));
    CHECK(dec("3a ff ff ff ff") == value(std::int64_t{-4294967296}));
    CHECK(dec("38 00") == value(-1));
    CHECK(dec("78 01 61") == value("a"));
    CHECK(dec("7b 00 00 00 00 00 00 00 01 61") == value("a"));
    CHECK(dec("58 02 01 02") == value(bytes{1, 2}));
    CHECK(dec("98 02 01 02") == value(array{1, 2}));
    CHECK(dec("9b 00 00 00 00 00 00 00 01 01") == value(array{1}));
    CHECK(same(dec("a1 61 61 01"), object{{"a", 1}}));
    CHECK(same(dec("b8 01 61 61 01"), object{{"a", 1}}));
    CHECK(same(dec("ba 00 00 00 01 61 61 01"), object{{"a", 1}}));
    CHECK(same(dec("bb 00 00 00 00 00 00 00 01 61 61 01"), object{{"a", 1}}));
    CHECK(dec("9f ff") == value(array{}));
    CHECK(dec("9f 01 82 02 03 9f ff ff") == value(array{1, array{2, 3}, array{}}));
    CHECK(same(dec("bf 61 61 01 61 62 9f ff ff"), object{{"a", 1}, {"b", array{}}}));
    CHECK(dec("5f 41 01 42 02 03 ff") == value(bytes{1, 2, 3}));
    CHECK(dec("5f ff") == value(bytes{}));
    CHECK(dec("7f 61 61 62 62 63 ff") == value("abc"));
    CHECK(dec("7f 62 c3 a9 ff") == value("\xc3\xa9"));
}

TEST_CASE("cbor: floats of every width", "[cbor]") {
    CHECK(dec("f9 3c 00") == value(1));  // integral floats are JS integers
    CHECK(dec("f9 3e 00") == value(1.5));
    CHECK(dec("f9 7b ff") == value(65504));
    CHECK(dec("f9 c4 00") == value(-4));
    CHECK(same(dec("f9 00 01"), value(std::ldexp(1.0, -24))));  // smallest subnormal
    CHECK(same(dec("f9 03 ff"), value(std::ldexp(1023.0, -24))));
    CHECK(same(dec("f9 80 00"), value(0)));  // -0 is the integer 0
    CHECK(same(dec("f9 7c 00"), value(std::numeric_limits<double>::infinity())));
    CHECK(same(dec("f9 fc 00"), value(-std::numeric_limits<double>::infinity())));
    CHECK(std::isnan(dec("f9 7e 00").as_double()));
    CHECK(dec("f9 7e 00").is_number());
    CHECK(dec("fa 3f c0 00 00") == value(1.5));
    CHECK(dec("fa 47 c3 50 00") == value(100000));
    CHECK(dec("fb 3f f8 00 00 00 00 00 00") == value(1.5));
    CHECK(dec("fb 41 f0 00 00 00 00 00 00") == value(std::int64_t{1} << 32));
    CHECK(dec("fb 43 40 00 00 00 00 00 00") == value(std::int64_t{1} << 53));
    // Above 2^53 the double stays a number, so it re-encodes as the same float64.
    const value big = dec("fb 43 50 00 00 00 00 00 00");
    CHECK(big.is_number());
    CHECK(enc(big) == "fb 43 50 00 00 00 00 00 00");
}

TEST_CASE("cbor: tags", "[cbor]") {
    // Binary and typed arrays.
    CHECK(dec("d8 40 42 01 02") == value(bytes{1, 2}));
    CHECK(dec("42 01 02") == value(bytes{1, 2}));
    CHECK(dec("d8 41 42 01 02") == value(bytes{1, 2}));
    CHECK(dec("d8 48 42 01 02") == value(bytes{1, 2}));
    CHECK(dec("d8 57 42 01 02") == value(bytes{1, 2}));
    CHECK(dec("d8 40 5f 41 01 ff") == value(bytes{1}));
    bad("d8 40 01", "cbor: tag 64 (typed array) on a non-byte-string");
    bad("d8 4e 61 61", "cbor: tag 78 (typed array) on a non-byte-string");
    // Bignums.
    CHECK(dec("c2 42 01 00") == value(bigint{256}));
    CHECK(dec("c2 40") == value(bigint{0}));
    CHECK(dec("c3 41 00") == value(bigint{-1}));
    CHECK(dec("c2 49 00 7f ff ff ff ff ff ff ff") == value(bigint{INT64_MAX}));
    CHECK(dec("c3 48 7f ff ff ff ff ff ff ff") == value(bigint{INT64_MIN}));
    bad("c2 48 80 00 00 00 00 00 00 00", "cbor: bignum out of 64-bit range");
    bad("c2 49 01 00 00 00 00 00 00 00 00", "cbor: bignum out of 64-bit range");
    bad("c3 48 80 00 00 00 00 00 00 00", "cbor: bignum out of 64-bit range");
    bad("c2 01", "cbor: bignum tag on a non-byte-string");
    // Date, Set, Map.
    const value date = dec("c1 1a 5f 5e 10 00");
    CHECK(date.is_number());
    CHECK(date.as_double() == 1600000000.0);
    CHECK(dec("c1 fb 3f f8 00 00 00 00 00 00") == value(1.5));
    bad("c1 61 61", "cbor: tag 1 (date) on a non-number");
    CHECK(dec("d9 01 02 82 01 02") == value(array{1, 2}));
    bad("d9 01 02 01", "cbor: tag 258 (set) on a non-array");
    CHECK(same(dec("d9 01 03 a2 01 61 61 f5 61 62"), object{{"1", "a"}, {"true", "b"}}));
    bad("d9 01 03 80", "cbor: tag 259 (map) on a non-map");
    // Unknown tags yield the tagged item, whatever the head width (c6..d4 are decoded by hand
    // because libcbor 0.8 refuses them).
    CHECK(dec("c0 61 61") == value("a"));
    CHECK(dec("c6 01") == value(1));
    CHECK(dec("d4 82 01 02") == value(array{1, 2}));
    CHECK(dec("d5 01") == value(1));
    CHECK(dec("d8 63 01") == value(1));
    CHECK(dec("d9 ff ff 01") == value(1));
    CHECK(dec("da 00 01 00 00 01") == value(1));
    CHECK(dec("db 00 00 00 01 00 00 00 00 01") == value(1));
    CHECK(dec("d8 1c d8 1d 01") == value(1));
}

TEST_CASE("cbor: map keys are stringified like cbor-x's safeKey", "[cbor]") {
    CHECK(same(dec("a2 01 61 61 20 61 62"), object{{"1", "a"}, {"-1", "b"}}));
    CHECK(same(dec("a1 f9 3e 00 01"), object{{"1.5", 1}}));
    CHECK(same(dec("a1 fb 3e 7a d7 f2 9a bc af 48 01"), object{{"1e-7", 1}}));
    CHECK(same(dec("a1 1b 00 00 00 00 00 00 00 07 01"), object{{"7", 1}}));
    CHECK(same(dec("a3 f4 01 f6 02 f7 03"), object{{"false", 1}, {"null", 2}, {"undefined", 3}}));
    bad("a1 80 01", "cbor: unsupported map key of kind array");
    bad("a1 a0 01", "cbor: unsupported map key of kind object");
    bad("a1 41 00 01", "cbor: unsupported map key of kind binary");
    // A repeated key keeps its first position and the last value, like a JS object.
    const value dup = dec("a3 61 61 01 61 62 02 61 61 03");
    CHECK(same(dup, object{{"a", 3}, {"b", 2}}));
}

TEST_CASE("cbor: malformed input", "[cbor]") {
    bad("", "cbor: truncated input");
    bad("01 02", "cbor: trailing bytes");
    bad("b9 00 01 61 61 01 00", "cbor: trailing bytes");
    bad("18", "cbor: truncated input");
    bad("19 01", "cbor: truncated input");
    bad("1b 00 00", "cbor: truncated input");
    bad("fb 00", "cbor: truncated input");
    bad("f9 3c", "cbor: truncated input");
    bad("62 61", "cbor: truncated input");
    bad("43 01 02", "cbor: truncated input");
    bad("82 01", "cbor: truncated input");
    bad("81", "cbor: truncated input");
    bad("b9 00 01 61 61", "cbor: truncated input");
    bad("9f 01", "cbor: truncated input");
    bad("5f 41 01", "cbor: truncated input");
    bad("d8 40", "cbor: truncated input");
    bad("d8", "cbor: truncated input");
    // Counts and lengths far beyond the input must fail before allocating anything.
    bad("9b ff ff ff ff ff ff ff ff", "cbor: truncated input");
    bad("9a ff ff ff ff 00", "cbor: truncated input");
    bad("bb ff ff ff ff ff ff ff ff", "cbor: truncated input");
    bad("bb 7f ff ff ff ff ff ff ff 00 00", "cbor: truncated input");
    bad("5b ff ff ff ff ff ff ff ff", "cbor: truncated input");
    bad("7b 7f ff ff ff ff ff ff ff 61", "cbor: truncated input");
    // Break codes out of place, reserved heads, unassigned simple values.
    bad("ff", "cbor: unexpected break");
    bad("82 01 ff", "cbor: unexpected break");
    bad("a1 ff 01", "cbor: unexpected break");
    bad("bf 61 61 ff", "cbor: unexpected break");
    for (const char* reserved : {"1c", "1d", "1e", "1f", "3c", "3f", "5c", "5e", "7c", "7e", "9c", "9e",
                                 "bc", "be", "dc", "dd", "de", "df", "fc", "fd", "fe"}) {
        bad(reserved, "cbor: reserved or unsupported initial byte");
    }
    bad("e0", "cbor: reserved or unsupported initial byte 0xe0");
    bad("f3", "cbor: reserved or unsupported initial byte 0xf3");
    bad("f8 20", "cbor: reserved or unsupported initial byte 0xf8");
    // Indefinite strings take definite chunks of their own type only.
    bad("5f 61 61 ff", "cbor: indefinite byte string chunk is not a byte string");
    bad("5f 5f ff ff", "cbor: indefinite byte string chunk is not a byte string");
    bad("7f 41 01 ff", "cbor: indefinite text string chunk is not a text string");
    bad("7f 01 ff", "cbor: indefinite text string chunk is not a text string");
}

TEST_CASE("cbor: text strings must be valid UTF-8", "[cbor]") {
    bad("62 c3 28", "cbor: invalid UTF-8 in text string");
    bad("61 ff", "cbor: invalid UTF-8 in text string");
    bad("61 80", "cbor: invalid UTF-8 in text string");
    bad("62 c0 af", "cbor: invalid UTF-8 in text string");          // overlong '/'
    bad("63 ed a0 80", "cbor: invalid UTF-8 in text string");       // surrogate U+D800
    bad("64 f4 90 80 80", "cbor: invalid UTF-8 in text string");    // above U+10FFFF
    bad("63 e2 82", "cbor: truncated input");
    bad("62 e2 82", "cbor: invalid UTF-8 in text string");          // cut code point
    bad("7f 61 c3 61 a9 ff", "cbor: invalid UTF-8 in text string"); // split across chunks
    bad("a1 61 ff 01", "cbor: invalid UTF-8 in text string");       // keys too
    CHECK(dec("64 f0 9f 98 80") == value("\xf0\x9f\x98\x80"));
}

TEST_CASE("cbor: nesting is limited to 128 levels", "[cbor]") {
    const auto nested = [](std::size_t levels, std::string_view open, std::string_view leaf) {
        std::string h;
        for (std::size_t i = 0; i < levels; ++i) h += std::string(open) + " ";
        return h + std::string(leaf);
    };
    CHECK(dec(nested(128, "81", "00")).is_array());
    bad(nested(129, "81", "00"), "cbor: nesting deeper than 128 levels");
    bad(nested(129, "81", ""), "cbor: nesting deeper than 128 levels");
    CHECK(dec(nested(128, "a1 61 61", "00")).is_object());
    bad(nested(129, "a1 61 61", "00"), "cbor: nesting deeper than 128 levels");
    bad(nested(129, "9f", ""), "cbor: nesting deeper than 128 levels");
    bad(nested(129, "c6", "00"), "cbor: nesting deeper than 128 levels");
    // Deeply nested garbage far beyond the limit fails fast instead of exhausting the stack.
    bad(nested(100000, "81", "00"), "cbor: nesting deeper than 128 levels");
    bad(nested(100000, "d8 40", "00"), "cbor: nesting deeper than 128 levels");
}
