#pragma once
// RivetKit's JSON-compat encoding (client-protocol.md §3.2): JSON.stringify/JSON.parse with
// the replacer/reviver of `jsonStringifyCompat`/`jsonParseCompat`.
//
// Kind rules a caller must know:
//   encode: bigint -> ["$BigInt","<decimal>"]; binary -> ["$Uint8Array","<base64>"];
//           integer prints plainly when |v| <= 2^53, else as ["$BigInt",...] (a JS number
//           could not hold it exactly); number prints like Number.prototype.toString, NaN and
//           Infinity as null; undefined members are dropped, undefined array elements and an
//           undefined root print as null; a user array [ "$x", v ] is escaped to [ "$$x", v ].
//   decode: a JSON number is a JS number: integral with |v| <= 2^53 -> integer ("3", "3.0",
//           "1e3" alike, as JS cannot tell them apart), anything else -> number. Integer
//           literals beyond 2^53 are numbers too (a JS peer wrote a double there, e.g.
//           JSON.stringify(2**60) = "1152921504606847000"), so they re-encode as the same plain
//           number rather than as a $BigInt. Exact 64-bit integers travel as ["$BigInt", ...].
// So a number that happens to be integral comes back as an integer, and undefined inside
// arrays comes back as null. Strings are written as they are and must be valid UTF-8. Unlike
// JSON.parse, decode refuses numbers that overflow a double ("1e400") and raw NUL bytes.

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>

#include "rivetkit/value.hpp"

namespace rivetkit::json {

inline constexpr std::size_t max_depth = 128;

[[nodiscard]] std::string encode(const value& v);

/// Appends `s` as a JSON string literal exactly as JSON.stringify writes it: the two-character
/// escapes for " \ \b \f \n \r \t, \u00xx (lowercase) for other control characters, the rest
/// unchanged (`s` must be UTF-8).
void append_string(std::string& out, std::string_view s);
/// Throws errors::malformed_message("json: ...") on invalid JSON, trailing garbage, nesting
/// deeper than max_depth, an unknown "$..." tag, a bad $BigInt or bad base64.
[[nodiscard]] value decode(std::string_view text);

/// Plain JSON for REST bodies (no $-tagging): binary -> base64 string, bigint -> number,
/// undefined members dropped, undefined elsewhere -> null, NaN/Infinity -> null.
[[nodiscard]] nlohmann::json to_plain_json(const value& v);
/// Numbers typed as in decode(); nlohmann binary -> binary.
[[nodiscard]] value from_plain_json(const nlohmann::json& j);

/// A double as JavaScript's Number.prototype.toString prints it: shortest round-trip digits,
/// "3" not "3.0", "1e+21", "1.5e-7", "-0" as "0", "NaN", "Infinity", "-Infinity".
[[nodiscard]] std::string number_to_string(double d);

}  // namespace rivetkit::json
