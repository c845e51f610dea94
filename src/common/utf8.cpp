#include "common/utf8.hpp"

#include <cstdint>
#include <cstring>
#include <string>

namespace rivetkit {

bool is_valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* const end = p + s.size();
    while (p < end) {
        // Most wire strings are ASCII: skip 8 bytes at a time while no byte has its high bit set.
        while (end - p >= 8) {
            std::uint64_t word;
            std::memcpy(&word, p, sizeof word);
            if ((word & 0x8080808080808080ULL) != 0) break;
            p += 8;
        }
        if (p == end) break;
        const unsigned char lead = *p;
        if (lead < 0x80) {
            ++p;
            continue;
        }
        // Table 3-7 of the Unicode standard: the second byte's range depends on the lead byte,
        // which is what excludes overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4).
        std::size_t tail = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) {
            tail = 1;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            tail = 2;
            if (lead == 0xE0) lo = 0xA0;
            if (lead == 0xED) hi = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            tail = 3;
            if (lead == 0xF0) lo = 0x90;
            if (lead == 0xF4) hi = 0x8F;
        } else {
            return false;  // stray continuation byte, C0/C1 overlong lead, or F5..FF
        }
        if (static_cast<std::size_t>(end - p) <= tail) return false;
        if (p[1] < lo || p[1] > hi) return false;
        for (std::size_t i = 2; i <= tail; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
        }
        p += tail + 1;
    }
    return true;
}

std::string to_valid_utf8(std::string_view s) {
    if (is_valid_utf8(s)) return std::string(s);
    std::string out;
    out.reserve(s.size() + 8);
    std::size_t i = 0;
    while (i < s.size()) {
        // Take the longest prefix (1 to 4 bytes) that is a whole valid character.
        std::size_t n = 0;
        for (std::size_t len = 1; len <= 4 && i + len <= s.size(); ++len) {
            if (is_valid_utf8(s.substr(i, len))) {
                n = len;
                break;
            }
        }
        if (n == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER for one bad byte
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

}  // namespace rivetkit
