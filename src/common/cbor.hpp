#pragma once
// CBOR exactly as cbor-x@1.6 (the reference's codec) writes it, and a tolerant but strict-where-
// it-matters decoder (client-protocol.md §3.3).
//
// Encoding, byte for byte what cbor-x emits for the corresponding JS value:
//   undefined f7, null f6, false f4, true f5;
//   integer in [-2^32, 2^32-1]      -> shortest major 0/1 head;
//   integer outside, |v| <= 2^53    -> float64 (fb), as cbor-x does for such JS numbers;
//   integer beyond 2^53             -> 8-byte int 1b/3b, which a JS peer reads as a BigInt
//                                      (a JS number could not hold it exactly);
//   number: integral and in [-2^32, 2^32-1] -> like the integer (-0.0 -> 00); otherwise fb,
//           NaN as the canonical 7ff8000000000000;
//   bigint  -> always 8-byte 1b/3b (this is how envelope ids travel, §3.5);
//   binary  -> tag 64 (d8 40) + byte string; strings/arrays: shortest head;
//   object  -> map with the 16-bit head b9 nnnn even when small (cbor-x's preallocated head),
//              keys as text strings in insertion order; above 65535 members a 32-bit head
//              ba (cbor-x would write a corrupt wrapped 16-bit count there).
// Strings are written as they are, so they must be valid UTF-8 (all decoded strings are).
// Note: a JS object lists integer-like keys ("1", "2") first in ascending order; we keep our
// insertion order, which only differs for such keys.
//
// Decoding (throws errors::malformed_message("cbor: ...") on any failure):
//   shortest ints -> integer; 1b/3b -> bigint (cbor-x reads those as BigInt), 1b above INT64_MAX
//   is an error; floats (f16/f32/f64) -> integer when integral and |v| <= 2^53, else number;
//   byte strings, tag 64 and typed-array tags 65..87 -> binary (raw bytes); tag 2/3 bignums ->
//   bigint when they fit int64; tag 1 (date) -> number (epoch seconds); tag 258 (set) -> array;
//   tag 259 (map) -> object; other tags -> the tagged item. Map keys: strings as they are;
//   integers, bigints, floats (JS toString), booleans, null and undefined are stringified as
//   cbor-x does; any other key type is an error. A repeated key keeps its first position and
//   takes the last value. Rejects trailing bytes, truncation, nesting deeper than 128, invalid
//   UTF-8 and simple values other than false/true/null/undefined.

#include <cstdint>
#include <span>

#include "rivetkit/value.hpp"

namespace rivetkit::cbor {

inline constexpr std::size_t max_depth = 128;

/// Appends the encoding of `v` to `out`.
void encode(const value& v, bytes& out);
[[nodiscard]] bytes encode(const value& v);
/// Decodes exactly one CBOR item spanning all of `in`.
[[nodiscard]] value decode(std::span<const std::uint8_t> in);

}  // namespace rivetkit::cbor
