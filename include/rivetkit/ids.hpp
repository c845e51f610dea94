#pragma once
// Identifiers: random ids, digests, and the file-system driver's deterministic actor id.

#include <cstddef>
#include <string>
#include <string_view>

#include "rivetkit/key.hpp"

namespace rivetkit {

/// A random RFC 4122 version-4 UUID, lowercase, e.g. "1b4e28ba-2fa1-41d2-883f-0016d3cca427".
/// Drawn from OpenSSL's CSPRNG because some ids (connection tokens) are secrets.
/// Throws std::runtime_error if the CSPRNG fails (it only does when it cannot be seeded).
[[nodiscard]] std::string random_uuid();

/// `n` characters drawn uniformly from [0-9A-Za-z] (CSPRNG, no modulo bias).
[[nodiscard]] std::string random_alphanumeric(std::size_t n);

/// Lowercase hex SHA-256 of the bytes of `data`.
[[nodiscard]] std::string sha256_hex(std::string_view data);

/// The file-system driver's actor id: the first 16 hex chars of the SHA-256 of the JavaScript
/// `JSON.stringify([name, key])`. Deterministic, so recreating name+key finds the same data
/// directory, and equal to the JS driver's id so existing data directories stay readable.
/// Strings are taken as UTF-8 and hashed as they are (JS would see the same bytes).
[[nodiscard]] std::string file_system_actor_id(std::string_view name, const actor_key& key);

}  // namespace rivetkit
