#include <catch2/catch.hpp>

#include <limits>

#include "codec_test_util.hpp"
#include "common/bare.hpp"
#include "common/cbor.hpp"

using namespace rivetkit;
using codec_test::hex;
using codec_test::require_malformed;
using codec_test::to_hex;

namespace {
std::string uint_hex(std::uint64_t v) {
    bare::writer w;
    w.uint(v);
    return to_hex(w.buffer());
}
}  // namespace

TEST_CASE("bare: captured frames from the reference (Appendix A)", "[bare]") {
    SECTION("S->C Init") {
        bare::writer w;
        w.u8(0);  // ToClientBody tag Init
        w.str("f0ca35bb1be8671c");
        w.str("0ad57ca5-689d-4597-b1fc-af868fe62480");
        const bytes frame = bare::with_version(2, w.take());
        CHECK(frame == hex("02 00 | 00 | 10 \"f0ca35bb1be8671c\" | 24 \"0ad57ca5-689d-4597-b1fc-af868fe62480\""));

        const auto [version, body] = bare::split_version(frame);
        CHECK(version == 2);
        bare::reader r(body);
        CHECK(r.u8() == 0);
        CHECK(r.str() == "f0ca35bb1be8671c");
        CHECK(r.str() == "0ad57ca5-689d-4597-b1fc-af868fe62480");
        r.expect_end();
    }
    SECTION("C->S Subscribe and ActionRequest") {
        bare::writer w;
        w.u8(1);
        w.str("newCount");
        w.boolean(true);
        CHECK(bare::with_version(2, w.take()) == hex("02 00 | 01 | 08 \"newCount\" | 01"));

        w.u8(0);
        w.uint(0);
        w.str("increment");
        w.data(cbor::encode(array{3}));
        CHECK(bare::with_version(2, w.take()) == hex("02 00 | 00 | 00 | 09 \"increment\" | 02 81 03"));
        w.u8(0);
        w.uint(1);
        w.str("throwUser");
        w.data(cbor::encode(array{}));
        CHECK(bare::with_version(2, w.take()) == hex("02 00 | 00 | 01 | 09 \"throwUser\" | 01 80"));
    }
    SECTION("S->C Event, ActionResponse, Error") {
        bare::writer w;
        w.u8(3);
        w.str("newCount");
        w.data(cbor::encode(array{5, "extra"}));
        CHECK(bare::with_version(2, w.take()) == hex("02 00 | 03 | 08 \"newCount\" | 08 82 05 65 \"extra\""));

        w.u8(2);
        w.uint(0);
        w.data(cbor::encode(5));
        CHECK(bare::with_version(2, w.take()) == hex("02 00 | 02 | 00 | 01 05"));

        w.u8(1);
        w.str("user");
        w.str("my_code");
        w.str("bad thing");
        w.optional_tag(true);
        w.data(cbor::encode(object{{"a", 1}}));
        w.optional_tag(true);
        w.uint(1);
        const bytes error_frame = bare::with_version(2, w.take());
        CHECK(error_frame ==
              hex("02 00 | 01 | 04 \"user\" | 07 \"my_code\" | 09 \"bad thing\" | 01 06 b9 0001 61 61 01 | 01 01"));

        bare::reader r(bare::split_version(error_frame).second);
        CHECK(r.u8() == 1);
        CHECK(r.str() == "user");
        CHECK(r.str() == "my_code");
        CHECK(r.str() == "bad thing");
        REQUIRE(r.optional_tag());
        CHECK(cbor::decode(r.data()) == value(object{{"a", 1}}));
        REQUIRE(r.optional_tag());
        CHECK(r.uint() == 1);
        CHECK(r.remaining() == 0);
        r.expect_end();
    }
    SECTION("HTTP action request and response") {
        bare::writer w;
        w.data(cbor::encode(array{2}));
        CHECK(bare::with_version(2, w.take()) == hex("02 00 | 02 81 02"));
        w.data(cbor::encode(2));
        CHECK(bare::with_version(2, w.take()) == hex("02 00 | 01 02"));
    }
}

TEST_CASE("bare: uint is canonical LEB128", "[bare]") {
    CHECK(uint_hex(0) == "00");
    CHECK(uint_hex(1) == "01");
    CHECK(uint_hex(127) == "7f");
    CHECK(uint_hex(128) == "80 01");
    CHECK(uint_hex(300) == "ac 02");
    CHECK(uint_hex(16384) == "80 80 01");
    CHECK(uint_hex(std::numeric_limits<std::uint64_t>::max()) == "ff ff ff ff ff ff ff ff ff 01");
    for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{127}, std::uint64_t{128}, std::uint64_t{1} << 35,
                            std::uint64_t{1} << 63, std::numeric_limits<std::uint64_t>::max()}) {
        bare::writer w;
        w.uint(v);
        bare::reader r(w.buffer());
        CHECK(r.uint() == v);
        r.expect_end();
    }
    const auto read_uint = [](std::string_view h) {
        const bytes b = hex(h);
        bare::reader r(b);
        return r.uint();
    };
    require_malformed([&] { (void)read_uint("80 00"); }, "bare: non-canonical uint");
    require_malformed([&] { (void)read_uint("ff 80 00"); }, "bare: non-canonical uint");
    require_malformed([&] { (void)read_uint("80"); }, "bare: unexpected end of input");
    require_malformed([&] { (void)read_uint(""); }, "bare: unexpected end of input");
    require_malformed([&] { (void)read_uint("ff ff ff ff ff ff ff ff ff 02"); }, "bare: uint overflows 64 bits");
    require_malformed([&] { (void)read_uint("ff ff ff ff ff ff ff ff ff 81 01"); }, "bare: uint overflows 64 bits");
    require_malformed([&] { (void)read_uint("80 80 80 80 80 80 80 80 80 80 01"); }, "bare: uint overflows 64 bits");
}

TEST_CASE("bare: fixed-width integers are little-endian", "[bare]") {
    bare::writer w;
    w.u8(0xAB);
    w.u16(0x0102);
    w.u32(0x01020304);
    w.u64(0x0102030405060708);
    w.i64(-2);
    CHECK(to_hex(w.buffer()) ==
          "ab 02 01 04 03 02 01 08 07 06 05 04 03 02 01 fe ff ff ff ff ff ff ff");
    bare::reader r(w.buffer());
    CHECK(r.u8() == 0xAB);
    CHECK(r.u16() == 0x0102);
    CHECK(r.u32() == 0x01020304);
    CHECK(r.u64() == 0x0102030405060708);
    CHECK(r.i64() == -2);
    r.expect_end();
    require_malformed([&] { (void)r.u8(); }, "bare: unexpected end of input");
    const bytes three = hex("01 02 03");
    bare::reader short_reader(three);
    require_malformed([&] { (void)short_reader.u32(); }, "bare: unexpected end of input");
}

TEST_CASE("bare: bool, optional, str, data, fixed", "[bare]") {
    const bytes b = hex("00 01 02");
    bare::reader r(b);
    CHECK_FALSE(r.boolean());
    CHECK(r.boolean());
    require_malformed([&] { (void)r.boolean(); }, "bare: invalid bool");

    const bytes o = hex("02");
    bare::reader ro(o);
    require_malformed([&] { (void)ro.optional_tag(); }, "bare: invalid optional tag");

    const auto read_str = [](std::string_view h) {
        const bytes in = hex(h);
        bare::reader rs(in);
        return rs.str();
    };
    CHECK(read_str("00").empty());
    CHECK(read_str("02 c3 a9") == "\xc3\xa9");
    require_malformed([&] { (void)read_str("02 c3 28"); }, "bare: invalid UTF-8 in str");
    require_malformed([&] { (void)read_str("03 ed a0 80"); }, "bare: invalid UTF-8 in str");
    require_malformed([&] { (void)read_str("05 61"); }, "bare: unexpected end of input");
    require_malformed([&] { (void)read_str("ff ff ff ff ff ff ff ff 7f"); }, "bare: unexpected end of input");

    bare::writer w;
    w.data(bytes{9, 8});
    w.fixed(bytes{7, 6, 5});
    w.data(bytes{});
    CHECK(to_hex(w.buffer()) == "02 09 08 07 06 05 00");
    bare::reader rd(w.buffer());
    CHECK(rd.data() == bytes{9, 8});
    CHECK(rd.fixed(3) == bytes{7, 6, 5});
    CHECK(rd.data().empty());
    rd.expect_end();
    require_malformed([&] { (void)rd.fixed(1); }, "bare: unexpected end of input");

    const bytes huge = hex("ff ff ff ff 0f 00");
    bare::reader rh(huge);
    require_malformed([&] { (void)rh.data(); }, "bare: unexpected end of input");
}

TEST_CASE("bare: trailing bytes and the version prefix", "[bare]") {
    const bytes b = hex("01 80");
    bare::reader r(b);
    CHECK(r.boolean());
    CHECK(r.remaining() == 1);
    require_malformed([&] { r.expect_end(); }, "bare: remaining bytes");

    const bytes framed = hex("01 00 01 80");
    const auto [version, body] = bare::split_version(framed);
    CHECK(version == 1);
    CHECK(bytes(body.begin(), body.end()) == hex("01 80"));
    CHECK(bare::split_version(hex("03 01")).first == 0x0103);
    CHECK(bare::split_version(hex("02 00")).second.empty());
    require_malformed([] { (void)bare::split_version(hex("02")); }, "bare: missing version prefix");
    require_malformed([] { (void)bare::split_version(bytes{}); }, "bare: missing version prefix");
    CHECK(bare::with_version(0x1234, bytes{}) == hex("34 12"));
}
