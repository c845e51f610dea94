#pragma once
// Helpers shared by the codec tests.

#include <catch2/catch.hpp>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "rivetkit/error.hpp"
#include "rivetkit/value.hpp"

namespace codec_test {

/// "b9 0001 61 61 01" -> bytes; spaces and '|' are ignored, `"text"` inserts the text's bytes.
inline rivetkit::bytes hex(std::string_view s) {
    rivetkit::bytes out;
    int nibble = -1;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '"') {
            const std::size_t close = s.find('"', i + 1);
            out.insert(out.end(), s.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                       s.begin() + static_cast<std::ptrdiff_t>(close));
            i = close;
            continue;
        }
        if (!std::isxdigit(static_cast<unsigned char>(c))) continue;
        const int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10;
        if (nibble < 0) {
            nibble = v;
        } else {
            out.push_back(static_cast<std::uint8_t>(nibble * 16 + v));
            nibble = -1;
        }
    }
    return out;
}

inline std::string to_hex(const rivetkit::bytes& b) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t x : b) {
        if (!out.empty()) out += ' ';
        out += digits[x >> 4];
        out += digits[x & 15];
    }
    return out;
}

/// Structural equality where NaN equals NaN and -0.0 differs from 0.0 (stricter than ==).
inline bool same(const rivetkit::value& a, const rivetkit::value& b) {
    using rivetkit::value_kind;
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case value_kind::number: {
            const double x = a.as_double(), y = b.as_double();
            if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
            return x == y && std::signbit(x) == std::signbit(y);
        }
        case value_kind::array: {
            const auto &x = a.as_array(), &y = b.as_array();
            if (x.size() != y.size()) return false;
            for (std::size_t i = 0; i < x.size(); ++i) {
                if (!same(x[i], y[i])) return false;
            }
            return true;
        }
        case value_kind::object: {
            // Order matters too: our codecs preserve insertion order.
            const auto &x = a.as_object(), &y = b.as_object();
            if (x.size() != y.size()) return false;
            auto i = x.begin();
            auto j = y.begin();
            for (; i != x.end(); ++i, ++j) {
                if (i->first != j->first || !same(i->second, j->second)) return false;
            }
            return true;
        }
        default: return a == b;
    }
}

/// Runs `f`, which must throw rivetkit::error message/malformed whose message contains `what`.
template <class F>
void require_malformed(F&& f, std::string_view what) {
    try {
        f();
        FAIL("no error thrown; expected: " << what);
    } catch (const rivetkit::error& e) {
        CHECK(e.group() == "message");
        CHECK(e.code() == "malformed");
        INFO("message: " << e.message());
        CHECK(e.message().find(what) != std::string::npos);
    }
}

}  // namespace codec_test
