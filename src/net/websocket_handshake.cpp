#include "net/websocket_handshake.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

#include "common/base64.hpp"

namespace rivetkit::net {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// Calls fn(item) for each trimmed, non-empty comma-separated item of every header `name`;
/// stops early when fn returns true. Returns whether it did.
template <class F>
bool any_list_item(const http_headers& headers, std::string_view name, F fn) {
    for (const auto& [k, v] : headers) {
        if (!iequals(k, name)) continue;
        std::string_view rest = v;
        for (;;) {
            const auto comma = rest.find(',');
            const auto item = trim(rest.substr(0, comma));
            if (!item.empty() && fn(item)) return true;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return false;
}

bool has_token(const http_headers& headers, std::string_view name, std::string_view token) {
    return any_list_item(headers, name, [token](std::string_view item) { return iequals(item, token); });
}

}  // namespace

bool is_websocket_upgrade(const http_request& r) {
    return r.method == "GET" && has_token(r.headers, "upgrade", "websocket");
}

std::optional<std::string> check_websocket_upgrade(const http_request& r) {
    if (r.method != "GET") return "a WebSocket handshake must be a GET request";
    if (!has_token(r.headers, "upgrade", "websocket")) return "missing 'Upgrade: websocket'";
    if (!has_token(r.headers, "connection", "upgrade")) return "missing 'Connection: Upgrade'";
    const std::string* version = r.header("sec-websocket-version");
    if (version == nullptr) return "missing Sec-WebSocket-Version";
    if (trim(*version) != "13") return "unsupported Sec-WebSocket-Version (only 13 is supported)";
    const std::string* key = r.header("sec-websocket-key");
    if (key == nullptr) return "missing Sec-WebSocket-Key";
    const auto k = trim(*key);
    const auto decoded = base64_decode(k);
    if (k.size() != 24 || !decoded || decoded->size() != 16) {
        return "Sec-WebSocket-Key must be the base64 encoding of 16 bytes";
    }
    return std::nullopt;
}

std::string websocket_accept_key(std::string_view sec_websocket_key) {
    std::string input;
    input.reserve(sec_websocket_key.size() + websocket_guid.size());
    input.append(trim(sec_websocket_key));
    input.append(websocket_guid);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha1(), nullptr) != 1) {
        throw std::runtime_error("rivetkit: SHA-1 failed");
    }
    return base64_encode(std::span<const std::uint8_t>(digest.data(), length));
}

std::vector<std::string> offered_protocols(const http_request& r) {
    std::vector<std::string> out;
    any_list_item(r.headers, "sec-websocket-protocol", [&out](std::string_view item) {
        out.emplace_back(item);
        return false;
    });
    return out;
}

std::string make_websocket_key() {
    std::array<unsigned char, 16> raw{};
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
        throw std::runtime_error("rivetkit: RAND_bytes failed");
    }
    return base64_encode(raw);
}

http_headers websocket_request_headers(std::string_view key, std::span<const std::string> protocols) {
    http_headers h{
        {"Upgrade", "websocket"},
        {"Connection", "Upgrade"},
        {"Sec-WebSocket-Key", std::string(key)},
        {"Sec-WebSocket-Version", "13"},
    };
    if (!protocols.empty()) {
        std::string joined;
        for (const auto& p : protocols) {
            if (!joined.empty()) joined += ", ";
            joined += p;
        }
        h.emplace_back("Sec-WebSocket-Protocol", std::move(joined));
    }
    return h;
}

std::optional<std::string> check_websocket_accept(int status, const http_headers& headers, std::string_view key,
                                                  std::span<const std::string> protocols) {
    if (status != 101) return "the server did not switch protocols (status " + std::to_string(status) + ")";
    if (!has_token(headers, "upgrade", "websocket")) return "missing 'Upgrade: websocket' in the response";
    if (!has_token(headers, "connection", "upgrade")) return "missing 'Connection: Upgrade' in the response";
    const std::string* accept = find_header(headers, "sec-websocket-accept");
    if (accept == nullptr || trim(*accept) != websocket_accept_key(key)) return "wrong Sec-WebSocket-Accept";
    if (any_list_item(headers, "sec-websocket-extensions", [](std::string_view) { return true; })) {
        return "the server selected an extension that was not offered";
    }
    const std::string* selected = find_header(headers, "sec-websocket-protocol");
    if (selected != nullptr && !trim(*selected).empty()) {
        const auto p = trim(*selected);
        if (std::find(protocols.begin(), protocols.end(), p) == protocols.end()) {
            return "the server selected a subprotocol that was not offered";
        }
    }
    return std::nullopt;
}

}  // namespace rivetkit::net
