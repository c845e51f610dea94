#pragma once
// Small HTTP helpers for the routers: URL decoding, query strings, header values.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rivetkit/http.hpp"

namespace rivetkit::detail {

/// decodeURIComponent: %XX sequences to bytes; nullopt on a malformed escape or when the
/// result is not valid UTF-8 (JavaScript throws URIError there).
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view s);
/// encodeURIComponent: everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ) is %XX-escaped.
[[nodiscard]] std::string percent_encode(std::string_view s);

struct query_param {
    std::string name;
    std::string value;
};
/// Parses `a=1&b=x%20y` as URLSearchParams does ('+' is a space; malformed escapes are kept
/// literally). Order and repeats are kept.
[[nodiscard]] std::vector<query_param> parse_query(std::string_view query);
/// The first value of `name`, if present.
[[nodiscard]] const std::string* find_param(const std::vector<query_param>& params, std::string_view name) noexcept;

/// Header bytes as a browser's fetch sends them are Latin-1: each byte is one code point.
[[nodiscard]] std::string latin1_to_utf8(std::string_view s);

/// Splits `s` on `sep`, trimming spaces and tabs around each item; empty items are kept.
[[nodiscard]] std::vector<std::string> split_trimmed(std::string_view s, char sep);

[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;

/// Removes every header named `name` (case-insensitive).
void erase_header(http_headers& headers, std::string_view name);

}  // namespace rivetkit::detail
