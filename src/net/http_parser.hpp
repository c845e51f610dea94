#pragma once
// An incremental HTTP/1.1 message parser (llhttp underneath) for both ends: requests for the
// server, responses for the client. It stops at two points of every message, after the head and
// after the whole message, so that the caller can act between them (Expect: 100-continue, limits,
// upgrades) and so that bytes after a message stay unconsumed for the next one (pipelining).
//
//   http_parser p(http_parser::kind::request);
//   auto r = p.feed(bytes);          // r.consumed bytes were used; feed the rest later
//   if (r.what == http_parser::event::message_complete) use(p.take_request());
//
// llhttp itself stays out of this header.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "rivetkit/http.hpp"

namespace rivetkit::net {

/// Why a message could not be parsed.
enum class http_parse_error {
    none,
    malformed,         ///< not HTTP/1.x, or a framing error (answer 400)
    header_too_large,  ///< the head exceeds max_header_bytes (431)
    body_too_large,    ///< the body (declared or received) exceeds max_body_bytes (413)
};

class http_parser {
public:
    enum class kind { request, response };

    enum class event {
        need_more,         ///< every byte was consumed; feed more
        headers_complete,  ///< the head is complete (method/status, headers); the body follows
        message_complete,  ///< the message is complete (body included)
        error,             ///< see error(); the parser stays in this state
    };

    struct options {
        std::size_t max_header_bytes = 16 * 1024;
        std::size_t max_body_bytes = 8 << 20;
        /// false: the body is not limited and the caller drains body() itself as it grows
        /// (streamed responses such as text/event-stream).
        bool collect_body = true;
    };

    struct result {
        event what = event::need_more;
        std::size_t consumed = 0;
    };

    explicit http_parser(kind k) : http_parser(k, options{}) {}
    http_parser(kind k, options opts);
    ~http_parser();
    http_parser(const http_parser&) = delete;
    http_parser& operator=(const http_parser&) = delete;

    /// Parses from `data` up to the next event. After headers_complete or message_complete the
    /// next call continues with the rest of the message or the next message (whose start clears
    /// the previous message's head and body). After an upgrade (upgrade() at message_complete)
    /// feeding more continues with HTTP, as when an upgrade is refused.
    [[nodiscard]] result feed(std::string_view data);
    /// The peer closed its sending side: completes a message that is delimited by the end of the
    /// connection (message_complete), or reports a truncated one (error); need_more when no
    /// message was in progress.
    [[nodiscard]] result finish();
    /// Back to the start state, as freshly constructed (limits kept).
    void reset();

    /// For responses: the next message (the response to a HEAD request, for example) has no
    /// body whatever its headers say.
    void skip_body_of_next_message() noexcept { skip_body_ = true; }

    // The current message: valid from headers_complete until the next message starts.
    [[nodiscard]] std::string_view method() const noexcept;  ///< requests: "GET", ...
    [[nodiscard]] const std::string& target() const noexcept { return target_; }  ///< requests
    [[nodiscard]] int status() const noexcept;  ///< responses
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }  ///< responses
    [[nodiscard]] const http_headers& headers() const noexcept { return headers_; }
    [[nodiscard]] http_headers& headers() noexcept { return headers_; }
    /// The body received so far (complete at message_complete).
    [[nodiscard]] std::string& body() noexcept { return body_; }
    [[nodiscard]] int http_major() const noexcept;
    [[nodiscard]] int http_minor() const noexcept;
    /// Whether the connection may carry another message after this one (HTTP/1.1 default,
    /// HTTP/1.0 with keep-alive, no Connection: close).
    [[nodiscard]] bool keep_alive() const noexcept;
    /// The message asks to switch protocols (Connection: upgrade with Upgrade, or CONNECT); the
    /// bytes after it belong to the new protocol.
    [[nodiscard]] bool upgrade() const noexcept;
    /// Content-Length, when the message declared one (and is not chunked).
    [[nodiscard]] std::optional<std::uint64_t> content_length() const noexcept;
    [[nodiscard]] bool chunked() const noexcept;
    /// Whether a body follows the head (declared length > 0, chunked, or delimited by close).
    [[nodiscard]] bool has_body() const noexcept;
    /// Bytes of the current head so far (request/status line and headers, CRLFs included).
    [[nodiscard]] std::size_t header_bytes() const noexcept { return head_bytes_; }

    [[nodiscard]] http_parse_error error() const noexcept { return error_; }
    /// A short description of the error, for logs and 400 bodies.
    [[nodiscard]] std::string_view error_reason() const noexcept { return error_reason_; }

    /// Moves the current request out: path and query split at the first '?' (an absolute-form
    /// target loses its scheme and authority), headers and body moved.
    [[nodiscard]] http_request take_request();

private:
    struct callbacks;
    struct state;

    result fail(http_parse_error e, std::string_view reason, std::size_t consumed);
    void clear_message();

    std::unique_ptr<state> state_;
    kind kind_;
    options opts_;
    bool skip_body_ = false;
    bool head_complete_ = false;
    bool in_message_ = false;
    std::size_t head_bytes_ = 0;
    std::string target_;
    std::string reason_;
    std::string field_;
    std::string value_;
    http_headers headers_;
    std::string body_;
    http_parse_error error_ = http_parse_error::none;
    std::string error_reason_;
};

/// Splits a request target into path and query (without '?'). "*" stays the path; an
/// absolute-form target ("http://host/p?q") keeps only its path and query; an empty path
/// becomes "/".
void split_request_target(std::string_view target, std::string& path, std::string& query);

/// "OK", "Not Found", ...; "Unknown" for codes without a standard phrase.
[[nodiscard]] std::string_view http_reason_phrase(int status) noexcept;

}  // namespace rivetkit::net
