#include "router/http_util.hpp"

#include <algorithm>
#include <cstdint>

#include "common/utf8.hpp"

namespace rivetkit::detail {

namespace {
int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// Decodes %XX escapes (and '+' when `plus_is_space`); malformed escapes fail or stay literal.
std::optional<std::string> decode(std::string_view s, bool plus_is_space, bool strict) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                if (strict) return std::nullopt;
                out.push_back(c);
                continue;
            }
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}
}  // namespace

std::optional<std::string> percent_decode(std::string_view s) {
    auto out = decode(s, false, true);
    if (!out || !is_valid_utf8(*out)) return std::nullopt;
    return out;
}

std::string percent_encode(std::string_view s) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                     c == '_' || c == '.' || c == '!' || c == '~' || c == '*' || c == '\'' || c == '(' || c == ')';
        if (plain) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 15]);
        }
    }
    return out;
}

std::vector<query_param> parse_query(std::string_view query) {
    std::vector<query_param> out;
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (part.empty()) continue;
        auto eq = part.find('=');
        std::string_view name = part.substr(0, eq);
        std::string_view val = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
        out.push_back(query_param{*decode(name, true, false), *decode(val, true, false)});
    }
    return out;
}

const std::string* find_param(const std::vector<query_param>& params, std::string_view name) noexcept {
    for (const auto& p : params) {
        if (p.name == name) return &p.value;
    }
    return nullptr;
}

std::string latin1_to_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x80) {
            out.push_back(ch);
        } else {
            out.push_back(static_cast<char>(0xC0 | (c >> 6)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    }
    return out;
}

std::vector<std::string> split_trimmed(std::string_view s, char sep) {
    std::vector<std::string> out;
    for (;;) {
        auto pos = s.find(sep);
        std::string_view item = s.substr(0, pos);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        out.emplace_back(item);
        if (pos == std::string_view::npos) break;
        s.remove_prefix(pos + 1);
    }
    return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lx = static_cast<unsigned char>(x >= 'A' && x <= 'Z' ? x + 32 : x);
               auto ly = static_cast<unsigned char>(y >= 'A' && y <= 'Z' ? y + 32 : y);
               return lx == ly;
           });
}

void erase_header(http_headers& headers, std::string_view name) {
    std::erase_if(headers, [&](const auto& h) { return iequals(h.first, name); });
}

}  // namespace rivetkit::detail
