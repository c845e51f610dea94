#include "rivetkit/key.hpp"

namespace rivetkit {

namespace {
// Marks "no parts" because an empty string could not be told apart from one empty part.
constexpr std::string_view empty_key = "/";
constexpr char separator = '/';
constexpr char escape = '\\';
}  // namespace

std::string serialize_key(const actor_key& key) {
    if (key.empty()) return std::string(empty_key);

    std::string out;
    for (std::size_t i = 0; i < key.size(); ++i) {
        if (i != 0) out += separator;
        const std::string& part = key[i];
        if (part.empty()) {
            out += "\\0";
            continue;
        }
        // Byte-wise is exact for UTF-8: '\' and '/' never occur inside a multi-byte sequence.
        for (char c : part) {
            if (c == escape || c == separator) out += escape;
            out += c;
        }
    }
    return out;
}

actor_key deserialize_key(std::string_view text) {
    if (text == empty_key) return {};

    actor_key parts;
    std::string current;
    bool escaping = false;
    // "\0" marks the part as empty; the JS parser lets the marker win over any other content
    // of the part, so we keep collecting and decide when the part ends.
    bool empty_marker = false;

    auto finish_part = [&] {
        parts.push_back(empty_marker ? std::string() : std::move(current));
        current.clear();
        empty_marker = false;
    };

    for (char c : text) {
        if (escaping) {
            if (c == '0')
                empty_marker = true;
            else
                current += c;
            escaping = false;
        } else if (c == escape) {
            escaping = true;
        } else if (c == separator) {
            finish_part();
        } else {
            current += c;
        }
    }

    if (escaping) {
        // A dangling backslash is literal, and (as in JS) it overrides a pending empty marker.
        current += escape;
        parts.push_back(std::move(current));
    } else if (empty_marker) {
        parts.emplace_back();
    } else if (!current.empty() || !parts.empty()) {
        // A trailing empty part only exists after a separator; "" alone is the empty key.
        parts.push_back(std::move(current));
    }
    return parts;
}

}  // namespace rivetkit
