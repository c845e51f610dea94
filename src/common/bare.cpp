#include "common/bare.hpp"

#include "common/utf8.hpp"
#include "rivetkit/error.hpp"

namespace rivetkit::bare {
namespace {
[[noreturn]] void fail(const char* what) { throw errors::malformed_message(std::string("bare: ") + what); }
}  // namespace

void writer::uint(std::uint64_t v) {
    while (v >= 0x80) {
        buf_.push_back(static_cast<std::uint8_t>(v | 0x80));
        v >>= 7;
    }
    buf_.push_back(static_cast<std::uint8_t>(v));
}

void writer::str(std::string_view s) {
    uint(s.size());
    buf_.insert(buf_.end(), s.begin(), s.end());
}

void writer::data(std::span<const std::uint8_t> d) {
    uint(d.size());
    buf_.insert(buf_.end(), d.begin(), d.end());
}

void writer::put_le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t reader::uint() {
    std::uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
        if (pos_ >= in_.size()) fail("unexpected end of input");
        const std::uint8_t b = in_[pos_++];
        // The 10th group holds bit 63 only.
        if (i == 9 && b > 1) fail("uint overflows 64 bits");
        v |= std::uint64_t{b & 0x7Fu} << (7 * i);
        if ((b & 0x80) == 0) {
            // A final 0x00 group after other groups is a redundant (non-canonical) encoding.
            if (b == 0 && i > 0) fail("non-canonical uint");
            return v;
        }
    }
    fail("uint longer than 10 bytes");
}

std::uint8_t reader::u8() { return take(1)[0]; }

bool reader::boolean() {
    const std::uint8_t b = u8();
    if (b > 1) fail("invalid bool");
    return b == 1;
}

std::string reader::str() {
    const auto s = take(uint());
    std::string out(s.begin(), s.end());
    if (!is_valid_utf8(out)) fail("invalid UTF-8 in str");
    return out;
}

bytes reader::data() {
    const auto d = take(uint());
    return bytes(d.begin(), d.end());
}

bytes reader::fixed(std::size_t n) {
    const auto d = take(n);
    return bytes(d.begin(), d.end());
}

bool reader::optional_tag() {
    const std::uint8_t b = u8();
    if (b > 1) fail("invalid optional tag");
    return b == 1;
}

void reader::expect_end() const {
    if (remaining() != 0) fail("remaining bytes");
}

std::uint64_t reader::get_le(int n) {
    const auto d = take(static_cast<std::uint64_t>(n));
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= std::uint64_t{d[static_cast<std::size_t>(i)]} << (8 * i);
    return v;
}

std::span<const std::uint8_t> reader::take(std::uint64_t n) {
    // Compare against what is left before touching anything: lengths come from the wire.
    if (n > remaining()) fail("unexpected end of input");
    const auto out = in_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return out;
}

bytes with_version(std::uint16_t version, const bytes& body) {
    bytes out;
    out.reserve(body.size() + 2);
    out.push_back(static_cast<std::uint8_t>(version & 0xFF));
    out.push_back(static_cast<std::uint8_t>(version >> 8));
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

std::pair<std::uint16_t, std::span<const std::uint8_t>> split_version(std::span<const std::uint8_t> in) {
    if (in.size() < 2) fail("missing version prefix");
    return {static_cast<std::uint16_t>(in[0] | (in[1] << 8)), in.subspan(2)};
}

}  // namespace rivetkit::bare
