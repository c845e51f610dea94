#include "common/base64.hpp"

#include <array>

namespace rivetkit {
namespace {

constexpr std::string_view std_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::uint8_t invalid = 0xFF;

constexpr std::array<std::uint8_t, 256> reverse_table(std::string_view alphabet) {
    std::array<std::uint8_t, 256> t{};
    for (auto& x : t) x = invalid;
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
    }
    return t;
}
constexpr auto std_reverse = reverse_table(std_alphabet);
constexpr auto url_reverse = reverse_table(url_alphabet);

std::string encode(std::span<const std::uint8_t> data, std::string_view alphabet, bool pad) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t n = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        out += alphabet[n & 63];
    }
    const std::size_t rest = data.size() - i;
    if (rest > 0) {
        std::uint32_t n = std::uint32_t{data[i]} << 16;
        if (rest == 2) n |= std::uint32_t{data[i + 1]} << 8;
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        if (rest == 2) out += alphabet[(n >> 6) & 63];
        if (pad) out.append(3 - rest, '=');
    }
    return out;
}

std::optional<bytes> decode(std::string_view text, const std::array<std::uint8_t, 256>& reverse) {
    // Padding, when present, must complete the last quantum exactly ("QQ==" / "QUI=").
    if (!text.empty() && text.back() == '=') {
        if (text.size() % 4 != 0) return std::nullopt;
        text.remove_suffix(1);
        if (!text.empty() && text.back() == '=') text.remove_suffix(1);
    }
    // A single leftover character cannot encode a byte.
    if (text.size() % 4 == 1) return std::nullopt;
    bytes out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char ch : text) {
        const std::uint8_t v = reverse[static_cast<unsigned char>(ch)];
        if (v == invalid) return std::nullopt;  // also rejects '=' in the middle
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

}  // namespace

std::string base64_encode(std::span<const std::uint8_t> data) { return encode(data, std_alphabet, true); }
std::optional<bytes> base64_decode(std::string_view text) { return decode(text, std_reverse); }
std::string base64url_encode(std::span<const std::uint8_t> data) { return encode(data, url_alphabet, false); }
std::optional<bytes> base64url_decode(std::string_view text) { return decode(text, url_reverse); }

}  // namespace rivetkit
