#include "common/cbor.hpp"

#include <cbor.h>

#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "common/json.hpp"
#include "common/utf8.hpp"
#include "rivetkit/error.hpp"

namespace rivetkit::cbor {
namespace {

constexpr double two_pow_32 = 4294967296.0;
constexpr double two_pow_53 = 9007199254740992.0;

// ---------------------------------------------------------------------------------------------
// Encoding. Written by hand: the exact head widths cbor-x picks (b9 for every object) are not
// what libcbor's serializer would choose.

void put_be(bytes& out, std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void head(bytes& out, std::uint8_t major, std::uint64_t arg) {
    const auto m = static_cast<std::uint8_t>(major << 5);
    if (arg < 24) {
        out.push_back(static_cast<std::uint8_t>(m | arg));
    } else if (arg <= 0xFF) {
        out.push_back(m | 24);
        put_be(out, arg, 1);
    } else if (arg <= 0xFFFF) {
        out.push_back(m | 25);
        put_be(out, arg, 2);
    } else if (arg <= 0xFFFFFFFF) {
        out.push_back(m | 26);
        put_be(out, arg, 4);
    } else {
        out.push_back(m | 27);
        put_be(out, arg, 8);
    }
}

// Shortest head; only called for values within [-2^32, 2^32-1].
void small_int(bytes& out, std::int64_t v) {
    if (v >= 0) {
        head(out, 0, static_cast<std::uint64_t>(v));
    } else {
        head(out, 1, static_cast<std::uint64_t>(-1 - v));
    }
}

// The 8-byte form cbor-x uses for every BigInt (and reads back as one).
void wide_int(bytes& out, std::int64_t v) {
    if (v >= 0) {
        out.push_back(0x1B);
        put_be(out, static_cast<std::uint64_t>(v), 8);
    } else {
        out.push_back(0x3B);
        put_be(out, static_cast<std::uint64_t>(-1 - v), 8);
    }
}

void float64(bytes& out, double d) {
    // A JS NaN is written by DataView.setFloat64 as the canonical quiet NaN.
    const auto bits = std::isnan(d) ? std::uint64_t{0x7FF8000000000000} : std::bit_cast<std::uint64_t>(d);
    out.push_back(0xFB);
    put_be(out, bits, 8);
}

void text(bytes& out, std::string_view s) {
    head(out, 3, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

void encode_into(const value& v, bytes& out) {
    switch (v.kind()) {
        case value_kind::undefined: out.push_back(0xF7); break;
        case value_kind::null: out.push_back(0xF6); break;
        case value_kind::boolean: out.push_back(v.as_bool() ? 0xF5 : 0xF4); break;
        case value_kind::integer: {
            // Compare as integers: converting first would round 2^53+1 into range.
            const std::int64_t i = v.as_int();
            constexpr std::int64_t p32 = std::int64_t{1} << 32, p53 = std::int64_t{1} << 53;
            if (i >= -p32 && i < p32) {
                small_int(out, i);
            } else if (i >= -p53 && i <= p53) {
                float64(out, static_cast<double>(i));  // exact
            } else {
                wide_int(out, i);
            }
            break;
        }
        case value_kind::number: {
            const double d = v.as_double();
            if (std::trunc(d) == d && d >= -two_pow_32 && d < two_pow_32) {
                small_int(out, static_cast<std::int64_t>(d));  // -0.0 becomes 00, as in cbor-x
            } else {
                float64(out, d);
            }
            break;
        }
        case value_kind::bigint: wide_int(out, v.as_int()); break;
        case value_kind::string: text(out, v.as_string()); break;
        case value_kind::binary: {
            const auto& b = v.as_binary();
            out.push_back(0xD8);
            out.push_back(0x40);
            head(out, 2, b.size());
            out.insert(out.end(), b.begin(), b.end());
            break;
        }
        case value_kind::array: {
            const auto& a = v.as_array();
            head(out, 4, a.size());
            for (const auto& x : a) encode_into(x, out);
            break;
        }
        case value_kind::object: {
            const auto& o = v.as_object();
            if (o.size() <= 0xFFFF) {
                out.push_back(0xB9);
                put_be(out, o.size(), 2);
            } else {
                out.push_back(0xBA);
                put_be(out, o.size(), 4);
            }
            for (const auto& [k, x] : o) {
                text(out, k);
                encode_into(x, out);
            }
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding. libcbor's streaming decoder reads one head at a time (bounds-checked, any argument
// width, definite string payloads handed over in place); the recursive layer on top builds the
// value and applies cbor-x's semantics, depth limits and UTF-8 checks.

[[noreturn]] void fail(std::string_view what) {
    throw errors::malformed_message("cbor: " + std::string(what));
}

enum class tk : std::uint8_t {
    uint, negint, bytes, bytes_indef, text, text_indef, array, array_indef,
    map, map_indef, tag, f16, real, null, undefined, boolean, brk,
};

struct token {
    tk type = tk::brk;
    bool wide = false;       // 8-byte integer argument (1b / 3b)
    std::uint64_t arg = 0;   // integer magnitude, length, element count or tag number
    double real = 0;         // f32 / f64 value
    bool flag = false;       // boolean value
    const std::uint8_t* data = nullptr;  // definite string payload, inside the input
};

token& tok(void* ctx) { return *static_cast<token*>(ctx); }
void set_arg(void* ctx, tk type, std::uint64_t arg, bool wide = false) {
    auto& t = tok(ctx);
    t.type = type;
    t.arg = arg;
    t.wide = wide;
}
void set_str(void* ctx, tk type, cbor_data data, std::size_t len) {
    set_arg(ctx, type, len);
    tok(ctx).data = data;
}

const cbor_callbacks callbacks = {
    .uint8 = [](void* c, std::uint8_t v) { set_arg(c, tk::uint, v); },
    .uint16 = [](void* c, std::uint16_t v) { set_arg(c, tk::uint, v); },
    .uint32 = [](void* c, std::uint32_t v) { set_arg(c, tk::uint, v); },
    .uint64 = [](void* c, std::uint64_t v) { set_arg(c, tk::uint, v, true); },
    .negint64 = [](void* c, std::uint64_t v) { set_arg(c, tk::negint, v, true); },
    .negint32 = [](void* c, std::uint32_t v) { set_arg(c, tk::negint, v); },
    .negint16 = [](void* c, std::uint16_t v) { set_arg(c, tk::negint, v); },
    .negint8 = [](void* c, std::uint8_t v) { set_arg(c, tk::negint, v); },
    .byte_string_start = [](void* c) { set_arg(c, tk::bytes_indef, 0); },
    .byte_string = [](void* c, cbor_data d, std::size_t n) { set_str(c, tk::bytes, d, n); },
    .string = [](void* c, cbor_data d, std::size_t n) { set_str(c, tk::text, d, n); },
    .string_start = [](void* c) { set_arg(c, tk::text_indef, 0); },
    .indef_array_start = [](void* c) { set_arg(c, tk::array_indef, 0); },
    .array_start = [](void* c, std::size_t n) { set_arg(c, tk::array, n); },
    .indef_map_start = [](void* c) { set_arg(c, tk::map_indef, 0); },
    .map_start = [](void* c, std::size_t n) { set_arg(c, tk::map, n); },
    .tag = [](void* c, std::uint64_t v) { set_arg(c, tk::tag, v); },
    // The half is re-read from the input by hand (see next()); only the kind matters here.
    .float2 = [](void* c, float) { set_arg(c, tk::f16, 0); },
    .float4 = [](void* c, float v) { set_arg(c, tk::real, 0); tok(c).real = v; },
    .float8 = [](void* c, double v) { set_arg(c, tk::real, 0); tok(c).real = v; },
    .undefined = [](void* c) { set_arg(c, tk::undefined, 0); },
    .null = [](void* c) { set_arg(c, tk::null, 0); },
    .boolean = [](void* c, bool b) { set_arg(c, tk::boolean, 0); tok(c).flag = b; },
    .indef_break = [](void* c) { set_arg(c, tk::brk, 0); },
};

double half_to_double(std::uint16_t h) {
    const int exponent = (h >> 10) & 0x1F;
    const int mantissa = h & 0x3FF;
    double v;
    if (exponent == 0) {
        v = std::ldexp(mantissa, -24);  // subnormal
    } else if (exponent == 31) {
        v = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
    } else {
        v = std::ldexp(mantissa + 1024, exponent - 25);
    }
    return (h & 0x8000) != 0 ? -v : v;
}

// A JS number that is integral is our integer kind; beyond 2^53 it stays a double so that it
// re-encodes as the same float64 rather than as a BigInt-looking 8-byte int.
value from_double(double d) {
    if (std::trunc(d) == d && std::fabs(d) <= two_pow_53) return value(static_cast<std::int64_t>(d));
    return value(d);
}

// cbor-x's safeKey(): primitive keys are stringified the JS way, anything else is refused.
std::string key_string(value k) {
    switch (k.kind()) {
        case value_kind::string: return std::move(k.as_string());
        case value_kind::integer:
        case value_kind::bigint: return std::to_string(k.as_int());
        case value_kind::number: return json::number_to_string(k.as_double());
        case value_kind::boolean: return k.as_bool() ? "true" : "false";
        case value_kind::null: return "null";
        case value_kind::undefined: return "undefined";
        default: fail(fmt::format("unsupported map key of kind {}", kind_name(k.kind())));
    }
}

class parser {
public:
    explicit parser(std::span<const std::uint8_t> in) noexcept : in_(in) {}

    value run() {
        value v = item(0);
        if (pos_ != in_.size()) fail("trailing bytes");
        return v;
    }

private:
    std::size_t remaining() const noexcept { return in_.size() - pos_; }

    token next() {
        if (pos_ >= in_.size()) fail("truncated input");
        const std::uint8_t* at = in_.data() + pos_;
        token t;
        const cbor_decoder_result r = cbor_stream_decode(at, remaining(), &callbacks, &t);
        switch (r.status) {
            case CBOR_DECODER_FINISHED: pos_ += r.read; break;
            case CBOR_DECODER_NEDATA: fail("truncated input");
            case CBOR_DECODER_ERROR:
                // libcbor 0.8 refuses the one-byte-head tags 6..20 (c6..d4) as "unassigned", yet
                // they are well-formed CBOR and must decode as unknown tags: handle them here.
                if (*at >= 0xC6 && *at <= 0xD4) {
                    t.type = tk::tag;
                    t.arg = *at - 0xC0u;
                    pos_ += 1;
                    break;
                }
                fail(fmt::format("reserved or unsupported initial byte 0x{:02x}", *at));
        }
        // libcbor widens the half to float itself; decode the two bytes by hand so subnormals,
        // infinities and NaN are exactly IEEE 754 binary16 regardless of the library version.
        if (t.type == tk::f16) t.real = half_to_double(static_cast<std::uint16_t>((at[1] << 8) | at[2]));
        return t;
    }

    static void enter(std::size_t depth) {
        if (depth >= max_depth) fail("nesting deeper than 128 levels");
    }

    value item(std::size_t depth) { return from(next(), depth); }

    value from(const token& t, std::size_t depth) {
        switch (t.type) {
            case tk::uint:
                if (!t.wide) return value(static_cast<std::int64_t>(t.arg));
                if (t.arg > static_cast<std::uint64_t>(INT64_MAX)) fail("64-bit integer out of range");
                return bigint{static_cast<std::int64_t>(t.arg)};
            case tk::negint:
                if (!t.wide) return value(-1 - static_cast<std::int64_t>(t.arg));
                if (t.arg > static_cast<std::uint64_t>(INT64_MAX)) fail("64-bit integer out of range");
                return bigint{-1 - static_cast<std::int64_t>(t.arg)};
            case tk::bytes: return bytes(t.data, t.data + t.arg);
            case tk::bytes_indef: {
                bytes out;
                for (token c = next(); c.type != tk::brk; c = next()) {
                    if (c.type != tk::bytes) fail("indefinite byte string chunk is not a byte string");
                    out.insert(out.end(), c.data, c.data + c.arg);
                }
                return out;
            }
            case tk::text: return text_chunk(t);
            case tk::text_indef: {
                std::string out;
                for (token c = next(); c.type != tk::brk; c = next()) {
                    if (c.type != tk::text) fail("indefinite text string chunk is not a text string");
                    out += text_chunk(c);  // RFC 8949: every chunk is valid UTF-8 on its own
                }
                return out;
            }
            case tk::array: {
                enter(depth);
                // Every element takes at least one byte: refuse absurd counts before allocating.
                if (t.arg > remaining()) fail("truncated input");
                array out;
                out.reserve(static_cast<std::size_t>(t.arg));
                for (std::uint64_t i = 0; i < t.arg; ++i) out.push_back(item(depth + 1));
                return out;
            }
            case tk::array_indef: {
                enter(depth);
                array out;
                for (token c = next(); c.type != tk::brk; c = next()) out.push_back(from(c, depth + 1));
                return out;
            }
            case tk::map: {
                enter(depth);
                if (t.arg > remaining() / 2) fail("truncated input");
                object out;
                out.reserve(static_cast<std::size_t>(t.arg));
                for (std::uint64_t i = 0; i < t.arg; ++i) member(out, next(), depth + 1);
                return out;
            }
            case tk::map_indef: {
                enter(depth);
                object out;
                for (token c = next(); c.type != tk::brk; c = next()) member(out, c, depth + 1);
                return out;
            }
            case tk::tag: enter(depth); return tagged(t.arg, depth + 1);
            case tk::f16:
            case tk::real: return from_double(t.real);
            case tk::null: return rivetkit::null;
            case tk::undefined: return rivetkit::undefined;
            case tk::boolean: return t.flag;
            case tk::brk: fail("unexpected break");
        }
        fail("unknown token");
    }

    static std::string text_chunk(const token& t) {
        std::string s(reinterpret_cast<const char*>(t.data), static_cast<std::size_t>(t.arg));
        if (!is_valid_utf8(s)) fail("invalid UTF-8 in text string");
        return s;
    }

    void member(object& out, const token& key_token, std::size_t depth) {
        std::string key = key_string(from(key_token, depth));
        out.insert_or_assign(key, item(depth));
    }

    value tagged(std::uint64_t tag, std::size_t depth) {
        value inner = item(depth);
        switch (tag) {
            case 1:  // epoch-based date: cbor-x makes a Date; we keep the seconds
                if (!inner.is_numeric()) fail("tag 1 (date) on a non-number");
                return value(inner.as_double());
            case 2:
            case 3: return bignum(tag == 3, inner);
            case 258:  // Set
                if (!inner.is_array()) fail("tag 258 (set) on a non-array");
                return inner;
            case 259:  // Map: its keys were already stringified like any map's
                if (!inner.is_object()) fail("tag 259 (map) on a non-map");
                return inner;
            default:
                if (tag >= 64 && tag <= 87) {  // RFC 8746 typed arrays: keep the raw bytes
                    if (!inner.is_binary()) fail(fmt::format("tag {} (typed array) on a non-byte-string", tag));
                }
                return inner;
        }
    }

    static value bignum(bool negative, const value& inner) {
        if (!inner.is_binary()) fail("bignum tag on a non-byte-string");
        std::uint64_t magnitude = 0;
        std::size_t significant = 0;
        for (std::uint8_t b : inner.as_binary()) {
            if (significant == 0 && b == 0) continue;  // leading zeros are allowed
            if (++significant > 8) fail("bignum out of 64-bit range");
            magnitude = (magnitude << 8) | b;
        }
        if (magnitude > static_cast<std::uint64_t>(INT64_MAX)) fail("bignum out of 64-bit range");
        const auto m = static_cast<std::int64_t>(magnitude);
        return bigint{negative ? -1 - m : m};
    }

    std::span<const std::uint8_t> in_;
    std::size_t pos_ = 0;
};

}  // namespace

void encode(const value& v, bytes& out) { encode_into(v, out); }

bytes encode(const value& v) {
    bytes out;
    out.reserve(64);  // most values are small: one allocation instead of a doubling series
    encode_into(v, out);
    return out;
}

value decode(std::span<const std::uint8_t> in) { return parser(in).run(); }

}  // namespace rivetkit::cbor
