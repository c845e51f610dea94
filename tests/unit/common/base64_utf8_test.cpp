#include <catch2/catch.hpp>

#include <string>

#include "common/base64.hpp"
#include "common/utf8.hpp"

using namespace rivetkit;

namespace {
bytes b(std::string_view s) { return bytes(s.begin(), s.end()); }
}  // namespace

TEST_CASE("base64: RFC 4648 vectors", "[base64]") {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},           {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        CHECK(base64_encode(b(plain)) == encoded);
        CHECK(base64_decode(encoded) == b(plain));
    }
    CHECK(base64_encode(bytes{0xfb, 0xff, 0xbf}) == "+/+/");
    CHECK(base64_encode(bytes{1, 2, 3}) == "AQID");
}

TEST_CASE("base64: decoding rules", "[base64]") {
    CHECK(base64_decode("Zg") == b("f"));  // missing padding is accepted
    CHECK(base64_decode("Zm8") == b("fo"));
    CHECK(base64_decode("Zh==") == b("f"));  // unused low bits are ignored, as atob does
    CHECK_FALSE(base64_decode("Z").has_value());
    CHECK_FALSE(base64_decode("Zm9vY").has_value());
    CHECK_FALSE(base64_decode("Zg=").has_value());
    CHECK_FALSE(base64_decode("Z===").has_value());
    CHECK_FALSE(base64_decode("====").has_value());
    CHECK_FALSE(base64_decode("=").has_value());
    CHECK_FALSE(base64_decode("Zg==Zg==").has_value());
    CHECK_FALSE(base64_decode("Zm=v").has_value());
    CHECK_FALSE(base64_decode("Zm9v!").has_value());
    CHECK_FALSE(base64_decode("Zm 9v").has_value());
    CHECK_FALSE(base64_decode("Zm9v\n").has_value());
    CHECK_FALSE(base64_decode("-_8=").has_value());  // URL-safe characters are not standard
    CHECK_FALSE(base64_decode(std::string_view("Zg\0=", 4)).has_value());
}

TEST_CASE("base64url: no padding, URL-safe alphabet", "[base64]") {
    CHECK(base64url_encode(bytes{0xfb, 0xff}) == "-_8");
    CHECK(base64url_encode(b("foob")) == "Zm9vYg");
    CHECK(base64url_encode(bytes{}) == "");
    CHECK(base64url_decode("-_8") == bytes{0xfb, 0xff});
    CHECK(base64url_decode("-_8=") == bytes{0xfb, 0xff});
    CHECK(base64url_decode("Zm9vYmFy") == b("foobar"));
    CHECK_FALSE(base64url_decode("+/8").has_value());
    CHECK_FALSE(base64url_decode("Z").has_value());
    // The CBOR {hello:1} from client-protocol.md §2.3.
    CHECK(base64_decode("uQABZWhlbGxvAQ==") == bytes{0xb9, 0x00, 0x01, 0x65, 'h', 'e', 'l', 'l', 'o', 0x01});
}

TEST_CASE("base64: round-trips every length and byte value", "[base64]") {
    bytes data;
    for (int n = 0; n < 300; ++n) {
        CHECK(base64_decode(base64_encode(data)) == data);
        CHECK(base64url_decode(base64url_encode(data)) == data);
        data.push_back(static_cast<std::uint8_t>(n * 37 + 11));
    }
}

TEST_CASE("utf8: strict validation", "[utf8]") {
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("plain ASCII text that is longer than eight bytes"));
    CHECK(is_valid_utf8(std::string_view("nul\0inside", 10)));
    CHECK(is_valid_utf8("\xc2\x80"));                   // U+0080
    CHECK(is_valid_utf8("\xdf\xbf"));                   // U+07FF
    CHECK(is_valid_utf8("\xe0\xa0\x80"));               // U+0800
    CHECK(is_valid_utf8("\xed\x9f\xbf"));               // U+D7FF
    CHECK(is_valid_utf8("\xee\x80\x80"));               // U+E000
    CHECK(is_valid_utf8("\xef\xbf\xbf"));               // U+FFFF
    CHECK(is_valid_utf8("\xf0\x90\x80\x80"));           // U+10000
    CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf"));           // U+10FFFF
    CHECK(is_valid_utf8("abcdefgh\xc3\xa9ijklmnop\xf0\x9f\x98\x80"));

    CHECK_FALSE(is_valid_utf8("\x80"));                 // stray continuation
    CHECK_FALSE(is_valid_utf8("\xbf"));
    CHECK_FALSE(is_valid_utf8("\xc0\x80"));             // overlong NUL
    CHECK_FALSE(is_valid_utf8("\xc1\xbf"));             // overlong
    CHECK_FALSE(is_valid_utf8("\xe0\x9f\xbf"));         // overlong 3-byte
    CHECK_FALSE(is_valid_utf8("\xf0\x8f\xbf\xbf"));     // overlong 4-byte
    CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));         // U+D800
    CHECK_FALSE(is_valid_utf8("\xed\xbf\xbf"));         // U+DFFF
    CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));     // U+110000
    CHECK_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
    CHECK_FALSE(is_valid_utf8("\xff"));
    CHECK_FALSE(is_valid_utf8("\xc3"));                 // truncated
    CHECK_FALSE(is_valid_utf8("\xe2\x82"));
    CHECK_FALSE(is_valid_utf8("\xf0\x9f\x98"));
    CHECK_FALSE(is_valid_utf8("\xc3\x28"));             // bad continuation
    CHECK_FALSE(is_valid_utf8("\xe2\x28\xa1"));
    CHECK_FALSE(is_valid_utf8("\xe2\x82\x28"));
    CHECK_FALSE(is_valid_utf8("\xf0\x9f\x28\x80"));
    CHECK_FALSE(is_valid_utf8("abcdefgh12345678\xff"));  // after the ASCII fast path
    CHECK_FALSE(is_valid_utf8("abcdefgh\xc3"));
}

TEST_CASE("utf8: agrees with a reference decoder on every 1-3 byte sequence", "[utf8]") {
    // Reference: decode by the textbook formula and check the scalar value's range.
    const auto reference = [](const unsigned char* p, std::size_t n) {
        std::size_t i = 0;
        while (i < n) {
            const unsigned c = p[i];
            std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
            if (len == 0 || i + len > n) return false;
            std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
            for (std::size_t k = 1; k < len; ++k) {
                if ((p[i + k] & 0xC0) != 0x80) return false;
                cp = (cp << 6) | (p[i + k] & 0x3F);
            }
            const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
            if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
            i += len;
        }
        return true;
    };
    std::size_t mismatches = 0;
    unsigned char buf[3];
    for (unsigned a = 0; a < 256; ++a) {
        buf[0] = static_cast<unsigned char>(a);
        if (is_valid_utf8({reinterpret_cast<char*>(buf), 1}) != reference(buf, 1)) ++mismatches;
        for (unsigned b2 = 0; b2 < 256; ++b2) {
            buf[1] = static_cast<unsigned char>(b2);
            if (is_valid_utf8({reinterpret_cast<char*>(buf), 2}) != reference(buf, 2)) ++mismatches;
            if (a < 0xE0) continue;  // 3-byte sequences only matter for 3/4-byte leads
            for (unsigned c = 0; c < 256; c += 1) {
                buf[2] = static_cast<unsigned char>(c);
                if (is_valid_utf8({reinterpret_cast<char*>(buf), 3}) != reference(buf, 3)) ++mismatches;
            }
        }
    }
    CHECK(mismatches == 0);
}
