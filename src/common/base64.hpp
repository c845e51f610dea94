#pragma once
// Base64 (RFC 4648). The standard alphabet with padding is what RivetKit uses for binary inside
// JSON ("$Uint8Array") and for CBOR inputs in REST bodies; the URL-safe unpadded form is used
// in query strings (rvt-input) and tokens.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "rivetkit/value.hpp"

namespace rivetkit {

/// Standard alphabet, padded with '='.
[[nodiscard]] std::string base64_encode(std::span<const std::uint8_t> data);
/// Standard alphabet; padding is optional but, when present, must be correct. Rejects
/// characters outside the alphabet (whitespace included) and impossible lengths. Unused low
/// bits of the last character are ignored, as `atob` does.
[[nodiscard]] std::optional<bytes> base64_decode(std::string_view text);

/// URL-safe alphabet ('-', '_'), no padding.
[[nodiscard]] std::string base64url_encode(std::span<const std::uint8_t> data);
/// URL-safe alphabet; accepts the input with or without padding.
[[nodiscard]] std::optional<bytes> base64url_decode(std::string_view text);

}  // namespace rivetkit
