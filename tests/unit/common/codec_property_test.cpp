// Property and robustness tests for the value codecs: seeded random values must round-trip
// through CBOR and JSON (modulo the documented kind rules), and random or mutated bytes must
// only ever produce rivetkit::error from the decoders.

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "codec_test_util.hpp"
#include "common/bare.hpp"
#include "common/cbor.hpp"
#include "common/json.hpp"

using namespace rivetkit;
using codec_test::same;
using codec_test::to_hex;

namespace {

constexpr std::int64_t p32 = std::int64_t{1} << 32;
constexpr std::int64_t p53 = std::int64_t{1} << 53;

class value_generator {
public:
    explicit value_generator(std::uint64_t seed) : rng_(seed) {}

    std::uint64_t below(std::uint64_t n) { return rng_() % n; }
    bool chance(int percent) { return below(100) < static_cast<std::uint64_t>(percent); }

    std::int64_t integer() {
        static constexpr std::int64_t edges[] = {
            0, 1, -1, 23, 24, -24, -25, 255, 256, -256, -257, 65535, 65536, -65536, -65537,
            (std::int64_t{1} << 31) - 1, -(std::int64_t{1} << 31), -(std::int64_t{1} << 31) - 1,
            p32 - 1, p32, p32 + 1, -p32, -p32 - 1, p53 - 1, p53, p53 + 1, -p53, -p53 - 1,
            INT64_MAX, INT64_MIN, INT64_MIN + 1, INT64_MAX - 1};
        switch (below(4)) {
            case 0: return edges[below(std::size(edges))];
            case 1: return static_cast<std::int64_t>(below(1000)) - 500;
            case 2: return static_cast<std::int64_t>(rng_()) >> below(64);
            default: return static_cast<std::int64_t>(rng_());
        }
    }

    double number() {
        static constexpr double edges[] = {0.0, -0.0, 1.5, -2.25, 0.1, 1e21, 1e-7, 1.5e-7, 5e-324,
                                           1.7976931348623157e308, 4294967295.0, 4294967296.0,
                                           -4294967296.0, -4294967297.0, 9007199254740992.0,
                                           9007199254740994.0, 1152921504606846976.0,
                                           9223372036854775808.0, -9223372036854775808.0, 1e300};
        switch (below(6)) {
            case 0: return edges[below(std::size(edges))];
            case 1: return std::numeric_limits<double>::quiet_NaN();
            case 2: return chance(50) ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
            case 3: return static_cast<double>(integer());
            case 4: return std::bit_cast<double>(rng_());  // any bit pattern, NaN payloads included
            default: return static_cast<double>(static_cast<std::int64_t>(below(2000000)) - 1000000) / 64.0;
        }
    }

    std::string string() {
        static constexpr const char* specials[] = {"", "$", "$$", "$BigInt", "$Uint8Array", "$ArrayBuffer",
                                                   "$$foo", "__proto__", "\"\\", "undefined"};
        if (chance(15)) return specials[below(std::size(specials))];
        std::string s = chance(20) ? "$" : "";
        const std::size_t n = below(12);
        for (std::size_t i = 0; i < n; ++i) append_code_point(s, code_point());
        return s;
    }

    bytes binary() {
        bytes b(below(chance(10) ? 300 : 8));
        for (auto& x : b) x = static_cast<std::uint8_t>(rng_());
        return b;
    }

    value any(int depth = 0) {
        const std::uint64_t k = below(depth >= 4 ? 8 : 10);
        switch (k) {
            case 0: return chance(50) ? value(undefined) : value(null);
            case 1: return chance(50);
            case 2: return integer();
            case 3: return number();
            case 4: return bigint{integer()};
            case 5: return string();
            case 6: return binary();
            case 7: return chance(50) ? value(string()) : value(integer());
            case 8: {
                array a;
                if (chance(25)) {  // user data that looks like a JSON-compat tag
                    a.push_back(value("$" + string()));
                    a.push_back(any(depth + 1));
                    return a;
                }
                const std::size_t n = below(6);
                for (std::size_t i = 0; i < n; ++i) a.push_back(any(depth + 1));
                return a;
            }
            default: {
                object o;
                const std::size_t n = below(6);
                for (std::size_t i = 0; i < n; ++i) o.insert_or_assign(string(), any(depth + 1));
                return o;
            }
        }
    }

    std::mt19937_64& rng() { return rng_; }

private:
    std::uint32_t code_point() {
        switch (below(6)) {
            case 0: return static_cast<std::uint32_t>(below(0x20));  // control characters
            case 1: return static_cast<std::uint32_t>(0x20 + below(0x60));
            case 2: return static_cast<std::uint32_t>(0x80 + below(0x780));
            case 3: {
                auto c = static_cast<std::uint32_t>(0x800 + below(0xF800));
                return c >= 0xD800 && c <= 0xDFFF ? 0xFFFD : c;
            }
            case 4: return static_cast<std::uint32_t>(0x10000 + below(0x100000));
            default: return "\"\\$/"[below(4)];
        }
    }

    static void append_code_point(std::string& s, std::uint32_t c) {
        if (c < 0x80) {
            s += static_cast<char>(c);
        } else if (c < 0x800) {
            s += static_cast<char>(0xC0 | (c >> 6));
            s += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            s += static_cast<char>(0xE0 | (c >> 12));
            s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (c & 0x3F));
        } else {
            s += static_cast<char>(0xF0 | (c >> 18));
            s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (c & 0x3F));
        }
    }

    std::mt19937_64 rng_;
};

// How a JS number is typed after decoding: integral with |v| <= 2^53 -> integer, else number.
value js_number(double d) {
    if (std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0) return value(static_cast<std::int64_t>(d));
    return value(d);
}

// What decode(encode(v)) must give for CBOR:
//   integer: in ±2^32 stays; up to ±2^53 goes through float64 and comes back an integer;
//            beyond 2^53 it travels as an 8-byte int and comes back a bigint;
//   number:  integral within ±2^53 comes back an integer (-0.0 -> 0), others stay numbers
//            (NaN stays NaN); everything else is unchanged.
value expect_cbor(const value& v) {
    switch (v.kind()) {
        case value_kind::integer: {
            const std::int64_t i = v.as_int();
            return i >= -p53 && i <= p53 ? value(i) : value(bigint{i});
        }
        case value_kind::number: return js_number(v.as_double());
        case value_kind::array: {
            array out;
            for (const auto& x : v.as_array()) out.push_back(expect_cbor(x));
            return out;
        }
        case value_kind::object: {
            object out;
            for (const auto& [k, x] : v.as_object()) out.insert_or_assign(k, expect_cbor(x));
            return out;
        }
        default: return v;
    }
}

// What decode(encode(v)) must give for JSON:
//   undefined: dropped from objects, null elsewhere; NaN/±Infinity -> null;
//   integer: within ±2^53 stays, beyond becomes a bigint (["$BigInt", ...]);
//   number: integral within ±2^53 -> integer, others unchanged (shortest round-trip digits);
//   "$"-headed 2-element arrays come back as they were (escaped, then unescaped).
value expect_json(const value& v) {
    switch (v.kind()) {
        case value_kind::undefined: return null;
        case value_kind::integer: {
            const std::int64_t i = v.as_int();
            return i >= -p53 && i <= p53 ? value(i) : value(bigint{i});
        }
        case value_kind::number: {
            const double d = v.as_double();
            return std::isfinite(d) ? js_number(d) : value(null);
        }
        case value_kind::array: {
            array out;
            for (const auto& x : v.as_array()) out.push_back(expect_json(x));
            return out;
        }
        case value_kind::object: {
            object out;
            for (const auto& [k, x] : v.as_object()) {
                if (!x.is_undefined()) out.insert_or_assign(k, expect_json(x));
            }
            return out;
        }
        default: return v;
    }
}

}  // namespace

TEST_CASE("codec properties: random values round-trip through CBOR", "[cbor][property]") {
    value_generator gen(0xC0DEC5EED);
    for (int i = 0; i < 3000; ++i) {
        const value v = gen.any();
        const bytes encoded = cbor::encode(v);
        INFO("value: " << v.to_debug_string() << "\ncbor: " << to_hex(encoded));
        const value decoded = cbor::decode(encoded);
        REQUIRE(same(decoded, expect_cbor(v)));
        // The encoding is a fixed point: what we decoded re-encodes to the same bytes.
        REQUIRE(cbor::encode(decoded) == encoded);
    }
}

TEST_CASE("codec properties: random values round-trip through JSON", "[json][property]") {
    value_generator gen(0x15017EED);
    for (int i = 0; i < 3000; ++i) {
        const value v = gen.any();
        const std::string encoded = json::encode(v);
        INFO("value: " << v.to_debug_string() << "\njson: " << encoded);
        const value decoded = json::decode(encoded);
        REQUIRE(same(decoded, expect_json(v)));
        REQUIRE(json::encode(decoded) == encoded);
        // nlohmann agrees that the output is JSON.
        REQUIRE(nlohmann::json::accept(encoded));
    }
}

TEST_CASE("codec properties: random values round-trip through BARE data fields", "[bare][property]") {
    value_generator gen(0xBA4E);
    for (int i = 0; i < 500; ++i) {
        const value v = gen.any();
        const std::string s = gen.string();
        const std::uint64_t n = gen.rng()();
        bare::writer w;
        w.uint(n);
        w.str(s);
        w.data(cbor::encode(v));
        w.optional_tag(false);
        const bytes frame = bare::with_version(2, w.take());
        const auto [version, body] = bare::split_version(frame);
        bare::reader r(body);
        REQUIRE(version == 2);
        REQUIRE(r.uint() == n);
        REQUIRE(r.str() == s);
        REQUIRE(same(cbor::decode(r.data()), expect_cbor(v)));
        REQUIRE_FALSE(r.optional_tag());
        r.expect_end();
    }
}

namespace {

bytes mutate(bytes b, value_generator& gen) {
    static constexpr std::uint8_t interesting[] = {0x00, 0x01, 0x17, 0x18, 0x1b, 0x3b, 0x5f, 0x7f, 0x80,
                                                   0x9f, 0xbf, 0xc2, 0xd8, 0xf9, 0xfb, 0xff, '[', ']',
                                                   '{', '}', '"', '$', ',', ':', '\\', '0', 'e', '-'};
    const std::uint64_t rounds = 1 + gen.below(4);
    for (std::uint64_t r = 0; r < rounds; ++r) {
        const std::size_t at = b.empty() ? 0 : gen.below(b.size());
        switch (gen.below(7)) {
            case 0:
                if (!b.empty()) b[at] ^= static_cast<std::uint8_t>(1u << gen.below(8));
                break;
            case 1:
                if (!b.empty()) b[at] = interesting[gen.below(std::size(interesting))];
                break;
            case 2: b.resize(gen.below(b.size() + 1)); break;
            case 3:
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), interesting[gen.below(std::size(interesting))]);
                break;
            case 4:
                if (!b.empty()) b.erase(b.begin() + static_cast<std::ptrdiff_t>(at));
                break;
            case 5: {  // duplicate a slice (repeats heads, breaks counts)
                const std::size_t len = gen.below(b.size() - at + 1);
                const bytes slice(b.begin() + static_cast<std::ptrdiff_t>(at),
                                  b.begin() + static_cast<std::ptrdiff_t>(at + len));
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), slice.begin(), slice.end());
                break;
            }
            default:
                if (!b.empty()) b[at] = static_cast<std::uint8_t>(gen.rng()());
        }
    }
    return b;
}

// Drives a reader through operations chosen by the input itself.
void bare_script(std::span<const std::uint8_t> in) {
    bare::reader r(in);
    for (int step = 0; step < 64 && r.remaining() > 0; ++step) {
        switch (r.u8() % 13) {
            case 0: (void)r.uint(); break;
            case 1: (void)r.u16(); break;
            case 2: (void)r.u32(); break;
            case 3: (void)r.u64(); break;
            case 4: (void)r.i64(); break;
            case 5: (void)r.boolean(); break;
            case 6: (void)r.str(); break;
            case 7: (void)r.data(); break;
            case 8: (void)r.fixed(r.u8()); break;
            case 9: (void)r.optional_tag(); break;
            case 10: r.expect_end(); break;
            case 11: (void)bare::split_version(in.subspan(in.size() - r.remaining())); break;
            default: (void)cbor::decode(r.data()); break;
        }
    }
}

template <class F>
bool succeeds(F&& f) {
    try {
        f();
        return true;
    } catch (const rivetkit::error&) {
        return false;  // anything else escapes and fails the test
    }
}

}  // namespace

TEST_CASE("codec robustness: random and mutated bytes only ever throw rivetkit::error", "[fuzz]") {
    value_generator gen(0xF022);
    std::size_t ok[3] = {0, 0, 0};
    std::size_t failed[3] = {0, 0, 0};
    for (int i = 0; i < 20000; ++i) {
        bytes input;
        switch (i % 4) {
            case 0: {
                input.resize(gen.below(48));
                for (auto& x : input) x = static_cast<std::uint8_t>(gen.rng()());
                break;
            }
            case 1: input = mutate(cbor::encode(gen.any()), gen); break;
            case 2: {
                const std::string text = json::encode(gen.any());
                input = mutate(bytes(text.begin(), text.end()), gen);
                break;
            }
            default: {
                bare::writer w;
                w.u8(static_cast<std::uint8_t>(gen.below(13)));
                w.uint(gen.rng()() >> gen.below(64));
                w.str(gen.string());
                w.data(cbor::encode(gen.any()));
                input = mutate(bare::with_version(2, w.take()), gen);
            }
        }
        INFO("input: " << to_hex(input));

        value decoded;
        if (succeeds([&] { decoded = cbor::decode(input); })) {
            ++ok[0];
            const bytes again = cbor::encode(decoded);
            REQUIRE(cbor::encode(cbor::decode(again)) == again);
        } else {
            ++failed[0];
        }

        const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
        if (succeeds([&] { decoded = json::decode(text); })) {
            ++ok[1];
            REQUIRE(json::encode(json::decode(json::encode(decoded))) == json::encode(decoded));
        } else {
            ++failed[1];
        }

        (succeeds([&] { bare_script(input); }) ? ok : failed)[2]++;
    }
    // The corpus must exercise both outcomes of every decoder to mean anything.
    for (int d = 0; d < 3; ++d) {
        INFO("decoder " << d << ": " << ok[d] << " ok, " << failed[d] << " failed");
        CHECK(ok[d] > 100);
        CHECK(failed[d] > 100);
    }
}
