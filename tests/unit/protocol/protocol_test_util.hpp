#pragma once
// Helpers for the client protocol tests: hex frames as strings, a seeded random value
// generator, and what each encoding turns a value into.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "common/codec_test_util.hpp"
#include "protocol/client_protocol.hpp"
#include "rivetkit/value.hpp"

namespace protocol_test {

/// A hex frame (codec_test::hex syntax) as the std::string payloads the protocol API takes.
inline std::string frame(std::string_view hex_text) {
    const rivetkit::bytes b = codec_test::hex(hex_text);
    return {b.begin(), b.end()};
}

inline std::string to_hex(std::string_view s) {
    return codec_test::to_hex(rivetkit::bytes(s.begin(), s.end()));
}

inline const rivetkit::protocol::encoding all_encodings[] = {
    rivetkit::protocol::encoding::json, rivetkit::protocol::encoding::cbor,
    rivetkit::protocol::encoding::bare};

/// Random values. Strings never spell a CBOR-compat tag head ("$BigInt", "$Set", ...), so a
/// generated value is never revived on the way back; cbor_compat_test covers revival.
class value_gen {
public:
    explicit value_gen(std::uint64_t seed) : rng_(seed) {}

    std::uint64_t below(std::uint64_t n) { return rng_() % n; }
    bool chance(int percent) { return below(100) < static_cast<std::uint64_t>(percent); }
    std::uint64_t u64() { return rng_(); }

    std::int64_t integer() {
        static constexpr std::int64_t edges[] = {0, 1, -1, 23, 24, 255, 256, -257, 65536,
                                                 (std::int64_t{1} << 32) - 1, std::int64_t{1} << 32,
                                                 -(std::int64_t{1} << 32) - 1, std::int64_t{1} << 53,
                                                 (std::int64_t{1} << 53) + 1, INT64_MAX, INT64_MIN};
        switch (below(3)) {
            case 0: return edges[below(std::size(edges))];
            case 1: return static_cast<std::int64_t>(below(2000)) - 1000;
            default: return static_cast<std::int64_t>(rng_()) >> below(64);
        }
    }

    double number() {
        static constexpr double edges[] = {0.5, -2.25, 0.1, 1e21, 1.5e-7, 4294967296.0, 1e300, -0.0};
        switch (below(3)) {
            case 0: return edges[below(std::size(edges))];
            case 1: return std::nan("");
            default: return static_cast<double>(static_cast<std::int64_t>(below(2000000)) - 1000000) / 64.0;
        }
    }

    std::string string() {
        static constexpr std::string_view pieces[] = {"a", "b", "Z", "0", " ", "$", "\"", "\\", "\n",
                                                      "\x01", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
        std::string s = chance(25) ? "$" : "";
        const std::size_t n = below(8);
        for (std::size_t i = 0; i < n; ++i) s += pieces[below(std::size(pieces))];
        return s;
    }

    rivetkit::bytes binary() {
        rivetkit::bytes b(below(10));
        for (auto& x : b) x = static_cast<std::uint8_t>(rng_());
        return b;
    }

    rivetkit::value any(int depth = 0) {
        using rivetkit::value;
        switch (below(depth >= 3 ? 7 : 9)) {
            case 0: return chance(50) ? value(rivetkit::undefined) : value(rivetkit::null);
            case 1: return chance(50);
            case 2: return integer();
            case 3: return number();
            case 4: return rivetkit::bigint{integer()};
            case 5: return string();
            case 6: return binary();
            case 7: return value(array(depth + 1));
            default: {
                rivetkit::object o;
                const std::size_t n = below(4);
                for (std::size_t i = 0; i < n; ++i) o.insert_or_assign(string(), any(depth + 1));
                return o;
            }
        }
    }

    rivetkit::array array(int depth = 0) {
        rivetkit::array a;
        if (chance(20)) {  // user data shaped like a JSON-compat tag: ["$x", v]
            a.push_back(rivetkit::value("$" + string()));
            a.push_back(any(depth + 1));
            return a;
        }
        const std::size_t n = below(5);
        for (std::size_t i = 0; i < n; ++i) a.push_back(any(depth + 1));
        return a;
    }

    std::mt19937_64& rng() { return rng_; }

private:
    std::mt19937_64 rng_;
};

inline rivetkit::value js_number(double d) {
    if (std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0) return rivetkit::value(static_cast<std::int64_t>(d));
    return rivetkit::value(d);
}

/// What a user value becomes after a trip through `e` (the codec kind rules of common/cbor.hpp
/// and common/json.hpp; bare carries CBOR).
inline rivetkit::value expect(rivetkit::protocol::encoding e, const rivetkit::value& v) {
    using rivetkit::value;
    using rivetkit::value_kind;
    const bool json = e == rivetkit::protocol::encoding::json;
    constexpr std::int64_t p53 = std::int64_t{1} << 53;
    switch (v.kind()) {
        case value_kind::undefined: return json ? value(rivetkit::null) : v;
        case value_kind::integer: {
            const std::int64_t i = v.as_int();
            return i >= -p53 && i <= p53 ? value(i) : value(rivetkit::bigint{i});
        }
        case value_kind::number: {
            const double d = v.as_double();
            if (json && !std::isfinite(d)) return rivetkit::null;
            return js_number(d);
        }
        case value_kind::array: {
            rivetkit::array out;
            for (const auto& x : v.as_array()) out.push_back(expect(e, x));
            return out;
        }
        case value_kind::object: {
            rivetkit::object out;
            for (const auto& [k, x] : v.as_object()) {
                if (json && x.is_undefined()) continue;
                out.insert_or_assign(k, expect(e, x));
            }
            return out;
        }
        default: return v;
    }
}

inline rivetkit::array expect(rivetkit::protocol::encoding e, const rivetkit::array& a) {
    return expect(e, rivetkit::value(a)).as_array();
}

/// Runs `f`, which must throw message/malformed whose message contains `what`.
template <class F>
void require_malformed(F&& f, std::string_view what) {
    codec_test::require_malformed(std::forward<F>(f), what);
}

}  // namespace protocol_test
