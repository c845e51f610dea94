#pragma once
// An HTTP/1.1 and WebSocket client over TCP or TLS: what the remote client transport uses.
//
//   http_client c(executor, options);
//   http_response r = co_await c.request(url, "POST", "/path?q", headers, body, 30s);
//   auto ws = co_await c.open_websocket(url, "/path", headers, {"rivet"}, limits, 10s);
//
// Requests reuse idle keep-alive connections per origin (scheme, host, port); a request that
// fails on a reused connection before any response byte arrived (the server closed it while
// idle) is sent again once on a fresh connection. Responses are read whole (Content-Length,
// chunked, or to the end of the stream). Network failures throw rivetkit::error with group
// "client": connection_failed (DNS, connect, TLS), timeout, connection_lost (the connection
// ended mid-response) and malformed_response (not HTTP). Any HTTP status is returned as it is.
// Every member may be called from any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "net/stream.hpp"
#include "net/websocket_session.hpp"
#include "rivetkit/http.hpp"
#include "rivetkit/task.hpp"

namespace rivetkit::net {

/// An http(s):// (or ws(s)://) URL split for the client.
struct url {
    bool tls = false;
    std::string host;  // without brackets for IPv6
    std::uint16_t port = 80;
    /// The path prefix, "" or "/a/b" (no trailing '/').
    std::string base_path;

    /// "http://host:port" (the pool key).
    [[nodiscard]] std::string origin() const;
    /// The Host header: host, plus ":port" when not the scheme's default.
    [[nodiscard]] std::string host_header() const;
    /// base_path + path, with runs of '/' collapsed (the reference's combineUrlPath); `path`
    /// may carry a query.
    [[nodiscard]] std::string target(std::string_view path) const;
};

/// Parses "http://host[:port][/path]" (https, ws, wss too; userinfo, query and fragment are
/// refused). nullopt with the reason in `why` when it is not such a URL.
[[nodiscard]] std::optional<url> parse_url(std::string_view text, std::string* why = nullptr);

/// Percent-encodes everything but RFC 3986 unreserved characters (encodeURIComponent, except
/// that !'()* are encoded too; decoders accept both).
[[nodiscard]] std::string percent_encode_component(std::string_view s);

struct http_client_options {
    std::chrono::milliseconds connect_timeout{10'000};
    /// Idle connections older than this are not reused (Node's server closes them after 5 s).
    std::chrono::milliseconds idle_keep{4'000};
    std::size_t max_idle_per_origin = 8;
    std::size_t max_response_bytes = 64u << 20;
    tls_client_options tls;
    std::string user_agent = "rivetkit-cpp";
};

class http_client {
public:
    http_client(asio::any_io_executor executor, http_client_options options);
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    /// Sends one request and reads the whole response. `target` is the request target (path and
    /// query). Host, Content-Length and User-Agent are added. `timeout` bounds the whole exchange
    /// (0: none). The work runs on the client's executor.
    task<http_response> request(url u, std::string method, std::string target, http_headers headers,
                                std::string body, std::chrono::milliseconds timeout);

    struct websocket_result {
        /// The open socket (not started), or null when the server refused the upgrade.
        std::shared_ptr<websocket_session> socket;
        /// The handshake response (the refusal's status and body).
        http_response response;
        /// Why the handshake failed when the status was 101 but the answer was invalid.
        std::string problem;
    };
    /// Opens a WebSocket on a fresh connection, offering `protocols`.
    task<websocket_result> open_websocket(url u, std::string target, http_headers headers,
                                          std::vector<std::string> protocols, websocket_limits limits,
                                          std::chrono::milliseconds timeout);

    /// Drops every idle connection.
    void close_idle();

    struct pooled;
    struct state;

private:
    std::shared_ptr<state> state_;
};

}  // namespace rivetkit::net
