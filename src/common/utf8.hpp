#pragma once
// Strict UTF-8 validation, shared by the decoders (CBOR text strings, BARE str).

#include <string_view>

namespace rivetkit {

/// True when `s` is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates
/// (U+D800..U+DFFF), nothing above U+10FFFF. This is what `TextDecoder({fatal: true})` accepts.
[[nodiscard]] bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace rivetkit
