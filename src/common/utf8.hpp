#pragma once
// Strict UTF-8 validation, shared by the decoders (CBOR text strings, BARE str).

#include <string>
#include <string_view>

namespace rivetkit {

/// True when `s` is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates
/// (U+D800..U+DFFF), nothing above U+10FFFF. This is what `TextDecoder({fatal: true})` accepts.
[[nodiscard]] bool is_valid_utf8(std::string_view s) noexcept;

/// `s` with every byte that is not part of a valid character replaced by U+FFFD, for text that
/// must be UTF-8 (error messages quoting client input).
[[nodiscard]] std::string to_valid_utf8(std::string_view s);

}  // namespace rivetkit
