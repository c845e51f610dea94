#pragma once
// BARE primitives as written by @bare-ts (the runtime of the reference's generated codecs), and
// the vbare 2-byte version prefix. Schema-specific (de)serialisers are built on these.

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "rivetkit/value.hpp"

namespace rivetkit::bare {

class writer {
public:
    /// Unsigned LEB128 (BARE `uint`), always canonical.
    void uint(std::uint64_t v);
    void u8(std::uint8_t v) { buf_.push_back(v); }
    void u16(std::uint16_t v) { put_le(v, 2); }
    void u32(std::uint32_t v) { put_le(v, 4); }
    void u64(std::uint64_t v) { put_le(v, 8); }
    void i64(std::int64_t v) { put_le(static_cast<std::uint64_t>(v), 8); }
    void boolean(bool b) { buf_.push_back(b ? 1 : 0); }
    /// `uint` byte length + bytes. The caller supplies valid UTF-8.
    void str(std::string_view s);
    /// `uint` length + bytes.
    void data(std::span<const std::uint8_t> d);
    /// Raw bytes, no length (BARE `data[N]`).
    void fixed(std::span<const std::uint8_t> d) {
        // resize + memcpy rather than a range insert: GCC 12 at -O3 reports a false
        // -Warray-bounds in the insert's inlined move of the old bytes.
        const std::size_t at = buf_.size();
        buf_.resize(at + d.size());
        if (!d.empty()) std::memcpy(buf_.data() + at, d.data(), d.size());
    }
    /// The 0/1 presence byte of `optional<T>`; write T after it when present.
    void optional_tag(bool present) { boolean(present); }

    /// Room for `n` more bytes, so a writer that knows its size allocates once.
    void reserve(std::size_t n) { buf_.reserve(buf_.size() + n); }

    [[nodiscard]] bytes take() { return std::exchange(buf_, {}); }
    [[nodiscard]] const bytes& buffer() const noexcept { return buf_; }

private:
    void put_le(std::uint64_t v, int n);
    bytes buf_;
};

/// Reads from a borrowed buffer. Every failure throws errors::malformed_message("bare: ...").
class reader {
public:
    explicit reader(std::span<const std::uint8_t> in) noexcept : in_(in) {}

    /// Canonical LEB128 only (no redundant trailing 0x00 group, at most 10 bytes, fits 64 bits),
    /// as @bare-ts rejects the rest.
    std::uint64_t uint();
    std::uint8_t u8();
    std::uint16_t u16() { return static_cast<std::uint16_t>(get_le(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(get_le(4)); }
    std::uint64_t u64() { return get_le(8); }
    std::int64_t i64() { return static_cast<std::int64_t>(get_le(8)); }
    /// Only 0 and 1 are valid.
    bool boolean();
    /// Strictly validated UTF-8 (`TextDecoder` with `fatal: true`).
    std::string str();
    bytes data();
    bytes fixed(std::size_t n);
    /// The presence byte of `optional<T>` (0 or 1).
    bool optional_tag();

    [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }
    /// Top-level decoders call this: trailing bytes are an error ("remaining bytes").
    void expect_end() const;

private:
    std::uint64_t get_le(int n);
    std::span<const std::uint8_t> take(std::uint64_t n);

    std::span<const std::uint8_t> in_;
    std::size_t pos_ = 0;
};

/// vbare framing: `u16 LE version` + body.
[[nodiscard]] bytes with_version(std::uint16_t version, const bytes& body);
/// Splits the vbare prefix off; throws malformed_message when fewer than 2 bytes. The span
/// borrows from `in`.
[[nodiscard]] std::pair<std::uint16_t, std::span<const std::uint8_t>> split_version(
    std::span<const std::uint8_t> in);

}  // namespace rivetkit::bare
