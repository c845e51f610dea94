#pragma once
// Plain HTTP request/response values for raw actor requests (`on_request`) and `fetch()`.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rivetkit {

/// Header names are kept as received; lookups are case-insensitive.
using http_headers = std::vector<std::pair<std::string, std::string>>;

[[nodiscard]] const std::string* find_header(const http_headers& headers, std::string_view name) noexcept;

struct http_request {
    std::string method = "GET";
    /// The path as the actor sees it, starting with '/', without the query (e.g. "/users/1").
    std::string path = "/";
    /// The raw query string without '?', possibly empty.
    std::string query;
    http_headers headers;
    std::string body;

    [[nodiscard]] const std::string* header(std::string_view name) const noexcept {
        return find_header(headers, name);
    }
};

struct http_response {
    int status = 200;
    http_headers headers;
    std::string body;

    [[nodiscard]] const std::string* header(std::string_view name) const noexcept {
        return find_header(headers, name);
    }
    /// A response with a body and content type.
    static http_response text(std::string body, int status = 200);
    static http_response json(std::string body, int status = 200);
};

}  // namespace rivetkit
