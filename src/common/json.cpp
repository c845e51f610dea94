#include "common/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base64.hpp"
#include "rivetkit/error.hpp"

namespace rivetkit::json {
namespace {

constexpr double max_safe_integer = 9007199254740992.0;  // 2^53

[[noreturn]] void fail(std::string_view what) {
    throw errors::malformed_message("json: " + std::string(what));
}

// A JSON number means a JS number, so it is typed the way the value model types JS numbers:
// integral with |v| <= 2^53 (JS cannot tell 3.0 from 3) -> integer, anything else -> number.
// Beyond 2^53 we keep the double, even for an integer literal: that is what a JS peer meant
// (JSON.stringify(2**60) is "1152921504606847000"), and it re-encodes as the same plain number
// instead of turning into a $BigInt.
value from_double(double d) {
    if (std::trunc(d) == d && std::fabs(d) <= max_safe_integer) return value(static_cast<std::int64_t>(d));
    return value(d);
}

value from_integer(std::int64_t i) {
    constexpr std::int64_t limit = std::int64_t{1} << 53;
    if (i >= -limit && i <= limit) return value(i);
    return value(static_cast<double>(i));
}

value from_unsigned(std::uint64_t u) {
    if (u <= (std::uint64_t{1} << 53)) return value(u);
    return value(static_cast<double>(u));
}

bool fits_plain_integer(std::int64_t i) {
    constexpr std::int64_t limit = std::int64_t{1} << 53;
    return i >= -limit && i <= limit;
}


void write_tagged(std::string& out, std::string_view tag, std::string_view payload) {
    out += "[\"";
    out += tag;
    out += "\",";
    append_string(out, payload);
    out += ']';
}

void write(std::string& out, const value& v) {
    switch (v.kind()) {
        case value_kind::undefined:  // only reached for array elements and the root
        case value_kind::null: out += "null"; break;
        case value_kind::boolean: out += v.as_bool() ? "true" : "false"; break;
        case value_kind::integer: {
            const std::int64_t i = v.as_int();
            if (fits_plain_integer(i)) {
                out += std::to_string(i);
            } else {
                write_tagged(out, "$BigInt", std::to_string(i));
            }
            break;
        }
        case value_kind::number: {
            const double d = v.as_double();
            out += std::isfinite(d) ? number_to_string(d) : "null";
            break;
        }
        case value_kind::bigint: write_tagged(out, "$BigInt", std::to_string(v.as_int())); break;
        case value_kind::string: append_string(out, v.as_string()); break;
        case value_kind::binary: write_tagged(out, "$Uint8Array", base64_encode(v.as_binary())); break;
        case value_kind::array: {
            const auto& a = v.as_array();
            out += '[';
            if (a.size() == 2 && a[0].is_string() && a[0].as_string().starts_with('$')) {
                // The replacer's escape, so the reviver can tell user data from its own tags.
                append_string(out, "$" + a[0].as_string());
                out += ',';
                write(out, a[1]);
            } else {
                for (std::size_t i = 0; i < a.size(); ++i) {
                    if (i > 0) out += ',';
                    write(out, a[i]);
                }
            }
            out += ']';
            break;
        }
        case value_kind::object: {
            out += '{';
            bool first = true;
            for (const auto& [k, member] : v.as_object()) {
                if (member.is_undefined()) continue;
                if (!first) out += ',';
                first = false;
                append_string(out, k);
                out += ':';
                write(out, member);
            }
            out += '}';
            break;
        }
    }
}

value revive_bigint(const value& payload) {
    // BigInt(x) also takes an integral number (an integer literal above 2^53 decodes as one).
    if (payload.is_integer()) return bigint{payload.as_int()};
    if (payload.is_number()) {
        const double d = payload.as_double();
        if (std::trunc(d) != d) fail("invalid $BigInt payload");
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) fail("$BigInt out of 64-bit range");
        return bigint{static_cast<std::int64_t>(d)};
    }
    if (!payload.is_string()) fail("invalid $BigInt payload");
    const std::string& s = payload.as_string();
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc::result_out_of_range) fail("$BigInt out of 64-bit range");
    if (ec != std::errc{} || end != s.data() + s.size()) fail("invalid $BigInt payload");
    return bigint{n};
}

// The reviver of jsonParseCompat, applied to each array once its elements are revived.
value revive(array a) {
    if (a.size() != 2 || !a[0].is_string() || !a[0].as_string().starts_with('$')) return a;
    const std::string& head = a[0].as_string();
    if (head == "$BigInt") return revive_bigint(a[1]);
    if (head == "$Uint8Array" || head == "$ArrayBuffer") {
        if (!a[1].is_string()) fail("invalid " + head + " payload");
        auto decoded = base64_decode(a[1].as_string());
        if (!decoded) fail("invalid base64 in " + head);
        return std::move(*decoded);
    }
    // rivetkit 2.3.x clients also tag undefined and Sets (client-protocol.md §7).
    if (head == "$Undefined") return value{};
    if (head == "$Set") {
        if (!a[1].is_array()) fail("invalid $Set payload");
        return std::move(a[1]);
    }
    if (head.starts_with("$$")) {
        a[0] = head.substr(1);
        return a;
    }
    fail("Unknown JSON encoding type: " + head);
}

// SAX consumer building a value directly: no intermediate nlohmann tree, integers kept exact,
// and the reviver runs bottom-up as each array closes. nlohmann's parser is iterative, so depth
// is bounded here rather than by the stack.
class builder {
public:
    using json_t = nlohmann::json;

    bool null() { return add(rivetkit::null); }
    bool boolean(bool b) { return add(b); }
    bool number_integer(json_t::number_integer_t i) { return add(from_integer(i)); }
    bool number_unsigned(json_t::number_unsigned_t u) { return add(from_unsigned(u)); }
    bool number_float(json_t::number_float_t d, const json_t::string_t&) { return add(from_double(d)); }
    bool string(json_t::string_t& s) { return add(std::move(s)); }
    bool binary(json_t::binary_t&) { fail("unexpected binary"); }
    bool start_object(std::size_t) { return open(false); }
    bool key(json_t::string_t& k) {
        stack_.back().key = std::move(k);
        return true;
    }
    bool end_object() {
        value v = std::move(stack_.back().obj);
        stack_.pop_back();
        return add(std::move(v));
    }
    bool start_array(std::size_t) { return open(true); }
    bool end_array() {
        value v = revive(std::move(stack_.back().arr));
        stack_.pop_back();
        return add(std::move(v));
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
        // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
        std::string_view what = e.what();
        if (const auto p = what.find("] "); p != std::string_view::npos) what.remove_prefix(p + 2);
        fail(what);
    }

    value take() { return std::move(root_); }

private:
    struct frame {
        bool is_array;
        array arr;
        object obj;
        std::string key;
    };

    bool open(bool is_array) {
        if (stack_.size() >= max_depth) fail("nesting deeper than 128 levels");
        stack_.push_back(frame{is_array, {}, {}, {}});
        return true;
    }

    bool add(value v) {
        if (stack_.empty()) {
            root_ = std::move(v);
        } else if (frame& top = stack_.back(); top.is_array) {
            top.arr.push_back(std::move(v));
        } else {
            top.obj.insert_or_assign(top.key, std::move(v));  // a repeated key keeps its first position, as in JS
        }
        return true;
    }

    std::vector<frame> stack_;
    value root_;
};

}  // namespace

void append_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xF];
                } else {
                    out += ch;  // non-ASCII passes through as UTF-8, like JSON.stringify
                }
        }
    }
    out += '"';
}

std::string number_to_string(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    if (d == 0) return "0";
    std::string out;
    if (d < 0) {
        out += '-';
        d = -d;
    }
    // Shortest round-trip digits in the form "D[.DDD]e±XX"; then lay them out as ECMA-262
    // Number::toString does with k digits and decimal exponent n.
    char buf[40];
    const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    const std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
    const std::size_t e = sci.find('e');
    std::string digits(1, sci[0]);
    if (e > 1) digits.append(sci.substr(2, e - 2));
    const int exp10 = std::atoi(std::string(sci.substr(e + 1)).c_str());
    const int k = static_cast<int>(digits.size());
    const int n = exp10 + 1;
    if (k <= n && n <= 21) {
        out += digits;
        out.append(static_cast<std::size_t>(n - k), '0');
    } else if (0 < n && n <= 21) {
        out.append(digits, 0, static_cast<std::size_t>(n));
        out += '.';
        out.append(digits, static_cast<std::size_t>(n));
    } else if (-6 < n && n <= 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-n), '0');
        out += digits;
    } else {
        out += digits[0];
        if (k > 1) {
            out += '.';
            out.append(digits, 1);
        }
        out += n - 1 >= 0 ? "e+" : "e-";
        out += std::to_string(std::abs(n - 1));
    }
    return out;
}

std::string encode(const value& v) {
    std::string out;
    write(out, v);
    return out;
}

value decode(std::string_view text) {
    // nlohmann's lexer takes a NUL byte for the end of input, which would let "1\0garbage"
    // through. A raw NUL is invalid anywhere in JSON, so refuse it up front.
    if (text.find('\0') != std::string_view::npos) fail("NUL byte in input");
    builder b;
    nlohmann::json::sax_parse(text.begin(), text.end(), &b);
    return b.take();
}

nlohmann::json to_plain_json(const value& v) {
    switch (v.kind()) {
        case value_kind::undefined:
        case value_kind::null: return nullptr;
        case value_kind::boolean: return v.as_bool();
        case value_kind::integer:
        case value_kind::bigint: return v.as_int();
        case value_kind::number: {
            const double d = v.as_double();
            if (!std::isfinite(d)) return nullptr;
            return d;
        }
        case value_kind::string: return v.as_string();
        case value_kind::binary: return base64_encode(v.as_binary());
        case value_kind::array: {
            auto out = nlohmann::json::array();
            for (const auto& x : v.as_array()) out.push_back(to_plain_json(x));
            return out;
        }
        case value_kind::object: {
            auto out = nlohmann::json::object();
            for (const auto& [k, x] : v.as_object()) {
                if (!x.is_undefined()) out[k] = to_plain_json(x);
            }
            return out;
        }
    }
    return nullptr;
}

value from_plain_json(const nlohmann::json& j) {
    using t = nlohmann::json::value_t;
    switch (j.type()) {
        case t::null: return rivetkit::null;
        case t::boolean: return j.get<bool>();
        case t::number_integer: return from_integer(j.get<std::int64_t>());
        case t::number_unsigned: return from_unsigned(j.get<std::uint64_t>());
        case t::number_float: return from_double(j.get<double>());
        case t::string: return j.get<std::string>();
        case t::binary: return bytes(j.get_binary().begin(), j.get_binary().end());
        case t::array: {
            array out;
            out.reserve(j.size());
            for (const auto& x : j) out.push_back(from_plain_json(x));
            return out;
        }
        case t::object: {
            object out;
            out.reserve(j.size());
            for (const auto& [k, x] : j.items()) out.insert_or_assign(k, from_plain_json(x));
            return out;
        }
        case t::discarded: return {};
    }
    return {};
}

}  // namespace rivetkit::json
