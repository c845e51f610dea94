#include "rivetkit/http.hpp"

#include <algorithm>
#include <cctype>

namespace rivetkit {

const std::string* find_header(const http_headers& headers, std::string_view name) noexcept {
    for (const auto& [k, v] : headers) {
        if (k.size() == name.size() &&
            std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
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
