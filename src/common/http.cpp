#include "rivetkit/http.hpp"

#include <algorithm>
#include <cctype>

namespace rivetkit {

const std::string* find_header(const http_headers& headers, std::string_view name) noexcept {
    for (const auto& [k, v] : headers) {
        // ASCII case folding: header names are tokens, and std::tolower is a locale call.
        if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
                return (a | 0x20) == (b | 0x20) && (a == b || ((a | 0x20) >= 'a' && (a | 0x20) <= 'z'));
            })) {
            return &v;
        }
    }
    return nullptr;
}

http_response http_response::text(std::string body, int status) {
    return {status, {{"content-type", "text/plain; charset=utf-8"}}, std::move(body)};
}

http_response http_response::json(std::string body, int status) {
    return {status, {{"content-type", "application/json"}}, std::move(body)};
}

}  // namespace rivetkit
