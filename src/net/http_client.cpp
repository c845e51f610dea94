#include "net/http_client.hpp"

// GCC 12 at -O2 reports asio's awaitable frames (allocated and freed by asio's own operator
// new/delete pair) as mismatched in some coroutines here: a known false positive (router.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <strings.h>

#include <array>
#include <functional>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "net/http_parser.hpp"
#include "net/websocket_handshake.hpp"
#include "rivetkit/error.hpp"

namespace rivetkit::net {

// ---- URLs -------------------------------------------------------------------------------------

std::string url::origin() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return std::string(tls ? "https://" : "http://") + h + ":" + std::to_string(port);
}

std::string url::host_header() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
    return h;
}

std::string url::target(std::string_view path) const {
    std::string joined = base_path;
    if (path.empty() || path.front() != '/') joined.push_back('/');
    joined.append(path);
    // Collapse runs of '/' in the path part (not in the query).
    std::string out;
    out.reserve(joined.size());
    bool in_query = false;
    for (char c : joined) {
        if (c == '?') in_query = true;
        if (!in_query && c == '/' && !out.empty() && out.back() == '/') continue;
        out.push_back(c);
    }
    if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
    return out;
}

std::optional<url> parse_url(std::string_view text, std::string* why) {
    auto fail = [&](std::string reason) -> std::optional<url> {
        if (why) *why = std::move(reason);
        return std::nullopt;
    };
    url u;
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) return fail("no scheme (expected http:// or https://)");
    std::string scheme(text.substr(0, scheme_end));
    for (auto& c : scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (scheme == "http" || scheme == "ws") {
        u.tls = false;
        u.port = 80;
    } else if (scheme == "https" || scheme == "wss") {
        u.tls = true;
        u.port = 443;
    } else {
        return fail("unsupported scheme \"" + scheme + "\"");
    }
    std::string_view rest = text.substr(scheme_end + 3);
    if (rest.find_first_of("?#") != std::string_view::npos) return fail("a query or fragment is not allowed");
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (authority.find('@') != std::string_view::npos) return fail("user information is not allowed");
    if (authority.empty()) return fail("no host");
    std::string_view port_text;
    if (authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return fail("unterminated IPv6 address");
        u.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fail("garbage after the IPv6 address");
            port_text = after.substr(1);
        }
    } else {
        const auto colon = authority.find(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (u.host.empty()) return fail("no host");
    if (!port_text.empty()) {
        unsigned long p = 0;
        for (char c : port_text) {
            if (c < '0' || c > '9') return fail("invalid port");
            p = p * 10 + static_cast<unsigned long>(c - '0');
            if (p > 65535) return fail("invalid port");
        }
        if (p == 0) return fail("invalid port");
        u.port = static_cast<std::uint16_t>(p);
    }
    std::string base(path);
    while (!base.empty() && base.back() == '/') base.pop_back();
    u.base_path = std::move(base);
    return u;
}

std::string percent_encode_component(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '_' || c == '.' || c == '~';
        if (unreserved) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

// ---- the client -----------------------------------------------------------------------------

namespace {

constexpr auto as_result = asio::experimental::as_tuple(asio::use_awaitable);
using clock_type = std::chrono::steady_clock;

[[noreturn]] void fail(std::string code, std::string message) {
    throw rivetkit::error("client", std::move(code), std::move(message), {}, true);
}

/// A timer that runs an action (closing what the operation waits on) when it expires. Lives
/// in a coroutine frame on a strand; the timer's handler runs on the same strand.
class deadline {
public:
    deadline(const asio::any_io_executor& ex, std::chrono::milliseconds after) : shared_(std::make_shared<shared>()) {
        if (after.count() <= 0) return;
        timer_ = std::make_unique<asio::steady_timer>(ex);
        timer_->expires_after(after);
        timer_->async_wait([s = shared_](const std::error_code& ec) {
            if (ec) return;
            s->expired = true;
            if (s->action) s->action();
        });
    }
    ~deadline() {
        shared_->action = nullptr;
        if (timer_) timer_->cancel();
    }
    deadline(const deadline&) = delete;
    deadline& operator=(const deadline&) = delete;

    /// What to do on expiry (replaces the previous action; runs at once if already expired).
    void on_expiry(std::function<void()> action) {
        shared_->action = std::move(action);
        if (shared_->expired && shared_->action) shared_->action();
    }
    [[nodiscard]] bool expired() const noexcept { return shared_->expired; }

private:
    struct shared {
        bool expired = false;
        std::function<void()> action;
    };
    std::shared_ptr<shared> shared_;
    std::unique_ptr<asio::steady_timer> timer_;
};

// Actions for deadlines, built outside coroutine bodies (the GCC 12 rule).
std::function<void()> closer(asio::ip::tcp::resolver* r, asio::ip::tcp::socket* s) {
    return [r, s] {
        r->cancel();
        std::error_code ignored;
        s->close(ignored);
    };
}
std::function<void()> closer(byte_stream* s) {
    return [s] { s->close(); };
}

std::string head_bytes(const url& u, std::string_view method, std::string_view target, const http_headers& headers,
                       std::size_t body_size, bool send_length, std::string_view user_agent) {
    std::string out;
    out.reserve(256);
    out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
    out.append("Host: ").append(u.host_header()).append("\r\n");
    bool has_agent = false;
    for (const auto& [n, v] : headers) {
        // No CR/LF may reach the wire from a header (request smuggling).
        if (n.find_first_of("\r\n:") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) {
            fail("invalid_header", "header \"" + n + "\" contains a forbidden character");
        }
        if (n.size() == 10 && strncasecmp(n.c_str(), "user-agent", 10) == 0) has_agent = true;
        out.append(n).append(": ").append(v).append("\r\n");
    }
    if (!has_agent && !user_agent.empty()) out.append("User-Agent: ").append(user_agent).append("\r\n");
    if (send_length) out.append("Content-Length: ").append(std::to_string(body_size)).append("\r\n");
    out.append("\r\n");
    return out;
}

bool informational(int status) { return status >= 100 && status < 200 && status != 101; }

/// Reads until `p` completes a (non-1xx) message. `pending` holds unparsed bytes before and
/// after; `received` becomes true once any byte arrived.
task<std::error_code> read_message(byte_stream& s, http_parser& p, std::string& pending, bool& received) {
    std::array<char, 16 * 1024> chunk{};
    bool feed_again = false;
    for (;;) {
        while (!pending.empty() || feed_again) {
            feed_again = false;
            const auto r = p.feed(pending);
            pending.erase(0, r.consumed);
            if (r.what == http_parser::event::message_complete) {
                if (informational(p.status())) continue;
                co_return std::error_code{};
            }
            if (r.what == http_parser::event::error) co_return std::make_error_code(std::errc::protocol_error);
            if (r.what == http_parser::event::headers_complete) {
                feed_again = true;  // a body-less message completes without more input
                continue;
            }
            break;  // need_more: everything was consumed
        }
        auto buf = asio::buffer(chunk);
        auto [ec, n] = co_await s.read_some(buf);
        if (ec) {
            if (ec == asio::error::eof) {
                const auto r = p.finish();
                if (r.what == http_parser::event::message_complete) co_return std::error_code{};
            }
            co_return ec;
        }
        received = true;
        pending.append(chunk.data(), n);
    }
}

http_response take_response(http_parser& p) {
    http_response r;
    r.status = p.status();
    r.headers = std::move(p.headers());
    r.body = std::move(p.body());
    return r;
}

}  // namespace

struct http_client::pooled {
    std::unique_ptr<byte_stream> stream;
    clock_type::time_point idle_since;
};

struct http_client::state {
    asio::any_io_executor ex;
    http_client_options opts;
    std::mutex mutex;
    std::map<std::string, std::vector<pooled>> idle;
    std::shared_ptr<tls_client_context> tls;

    std::unique_ptr<byte_stream> take_idle(const std::string& origin) {
        std::lock_guard lock(mutex);
        auto it = idle.find(origin);
        if (it == idle.end()) return nullptr;
        const auto now = clock_type::now();
        while (!it->second.empty()) {
            pooled p = std::move(it->second.back());
            it->second.pop_back();
            if (now - p.idle_since <= opts.idle_keep) return std::move(p.stream);
            p.stream->close();
        }
        return nullptr;
    }

    void put_idle(const std::string& origin, std::unique_ptr<byte_stream> s) {
        std::lock_guard lock(mutex);
        auto& list = idle[origin];
        if (list.size() >= opts.max_idle_per_origin) {
            s->close();
            return;
        }
        list.push_back(pooled{std::move(s), clock_type::now()});
    }

    std::shared_ptr<tls_client_context> tls_context() {
        std::lock_guard lock(mutex);
        if (!tls) {
            try {
                tls = tls_client_context::create(opts.tls);
            } catch (const std::exception& e) {
                fail("tls_configuration", e.what());
            }
        }
        return tls;
    }
};

namespace {

/// A new connection to `u` (TCP, then TLS for https). `guard` bounds it as a whole.
task<std::unique_ptr<byte_stream>> dial(std::shared_ptr<http_client::state> st, url u, deadline& guard) {
    auto ex = co_await asio::this_coro::executor;
    // However dial ends, `guard` no longer points at its locals.
    struct forget {
        deadline& d;
        ~forget() { d.on_expiry(nullptr); }
    } forget_on_exit{guard};
    deadline connect_guard(ex, st->opts.connect_timeout);
    asio::ip::tcp::resolver resolver(ex);
    asio::ip::tcp::socket socket(ex);
    guard.on_expiry(closer(&resolver, &socket));
    connect_guard.on_expiry(closer(&resolver, &socket));
    const std::string port = std::to_string(u.port);
    auto [rec, results] = co_await resolver.async_resolve(u.host, port, as_result);
    if (guard.expired() || connect_guard.expired()) fail("timeout", "timed out resolving " + u.host);
    if (rec) fail("connection_failed", "cannot resolve " + u.host + ": " + rec.message());
    auto [cec, ep] = co_await asio::async_connect(socket, results, as_result);
    (void)ep;
    if (guard.expired() || connect_guard.expired()) fail("timeout", "timed out connecting to " + u.origin());
    if (cec) fail("connection_failed", "cannot connect to " + u.origin() + ": " + cec.message());
    if (!u.tls) {
        guard.on_expiry(nullptr);
        co_return make_tcp_stream(std::move(socket));
    }
    auto ctx = st->tls_context();
    auto tls = make_tls_stream(std::move(socket), std::move(ctx), u.host);
    guard.on_expiry(closer(tls.get()));
    connect_guard.on_expiry(closer(tls.get()));
    auto [hec, detail] = co_await tls->handshake();
    if (guard.expired() || connect_guard.expired()) fail("timeout", "timed out in the TLS handshake with " + u.origin());
    if (hec) fail("connection_failed", "TLS handshake with " + u.origin() + " failed: " + detail);
    guard.on_expiry(nullptr);
    co_return std::unique_ptr<byte_stream>(std::move(tls));
}

task<http_response> do_request(std::shared_ptr<http_client::state> st, url u, std::string method, std::string target,
                               http_headers headers, std::string body, std::chrono::milliseconds timeout) {
    auto ex = co_await asio::this_coro::executor;
    deadline guard(ex, timeout);
    const std::string origin = u.origin();
    const bool head = method == "HEAD";
    const bool send_length = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
    const std::string request_head = head_bytes(u, method, target, headers, body.size(), send_length, st->opts.user_agent);
    for (int attempt = 0;; ++attempt) {
        std::unique_ptr<byte_stream> stream = attempt == 0 ? st->take_idle(origin) : nullptr;
        const bool reused = stream != nullptr;
        if (!stream) {
            auto dialing = dial(st, u, guard);
            stream = co_await std::move(dialing);
        }
        guard.on_expiry(closer(stream.get()));
        std::string out = request_head;
        out.append(body);
        auto wbuf = asio::buffer(out);
        const auto wec = co_await stream->write(wbuf);
        if (guard.expired()) fail("timeout", method + " " + target + " timed out");
        if (wec) {
            if (reused) continue;  // the server closed the idle connection
            fail("connection_lost", "sending to " + origin + " failed: " + wec.message());
        }
        http_parser::options popts;
        popts.max_body_bytes = st->opts.max_response_bytes;
        http_parser parser(http_parser::kind::response, popts);
        if (head) parser.skip_body_of_next_message();
        std::string pending;
        bool received = false;
        const auto rec = co_await read_message(*stream, parser, pending, received);
        guard.on_expiry(nullptr);
        if (guard.expired()) fail("timeout", method + " " + target + " timed out");
        if (rec) {
            if (reused && !received) continue;
            if (rec == std::errc::protocol_error) {
                fail("malformed_response", "the response from " + origin + " is not valid HTTP: " +
                                               std::string(parser.error_reason()));
            }
            fail("connection_lost", "the connection to " + origin + " ended before the response: " + rec.message());
        }
        const bool keep = parser.keep_alive() && pending.empty() && !parser.upgrade();
        http_response r = take_response(parser);
        if (keep) {
            st->put_idle(origin, std::move(stream));
        } else {
            stream->close();
        }
        co_return r;
    }
}

task<http_client::websocket_result> do_open_websocket(std::shared_ptr<http_client::state> st, url u,
                                                      std::string target, http_headers headers,
                                                      std::vector<std::string> protocols, websocket_limits limits,
                                                      std::chrono::milliseconds timeout) {
    auto ex = co_await asio::this_coro::executor;
    deadline guard(ex, timeout);
    auto dialing = dial(st, u, guard);
    std::unique_ptr<byte_stream> stream = co_await std::move(dialing);
    guard.on_expiry(closer(stream.get()));
    const std::string key = make_websocket_key();
    http_headers all = websocket_request_headers(key, protocols);
    for (auto& h : headers) all.push_back(std::move(h));
    std::string out = head_bytes(u, "GET", target, all, 0, false, st->opts.user_agent);
    auto wbuf = asio::buffer(out);
    const auto wec = co_await stream->write(wbuf);
    if (guard.expired()) fail("timeout", "the WebSocket handshake with " + u.origin() + " timed out");
    if (wec) fail("connection_lost", "sending the WebSocket handshake failed: " + wec.message());
    http_parser::options popts;
    popts.max_body_bytes = st->opts.max_response_bytes;
    http_parser parser(http_parser::kind::response, popts);
    std::string pending;
    bool received = false;
    const auto rec = co_await read_message(*stream, parser, pending, received);
    guard.on_expiry(nullptr);
    if (guard.expired()) fail("timeout", "the WebSocket handshake with " + u.origin() + " timed out");
    if (rec) {
        if (rec == std::errc::protocol_error) {
            fail("malformed_response", "the WebSocket handshake answer is not valid HTTP: " +
                                           std::string(parser.error_reason()));
        }
        fail("connection_lost", "the connection ended during the WebSocket handshake: " + rec.message());
    }
    http_client::websocket_result result;
    const int status = parser.status();
    if (status != 101) {
        result.response = take_response(parser);
        stream->close();
        co_return result;
    }
    auto problem = check_websocket_accept(status, parser.headers(), key, protocols);
    result.response = take_response(parser);
    if (problem) {
        result.problem = *problem;
        stream->close();
        co_return result;
    }
    const std::string* selected = result.response.header("sec-websocket-protocol");
    result.socket = websocket_session::create(std::move(stream), websocket_session::role::client, std::move(pending),
                                              limits, selected ? *selected : std::string());
    co_return result;
}

}  // namespace

http_client::http_client(asio::any_io_executor executor, http_client_options options)
    : state_(std::make_shared<state>()) {
    state_->ex = std::move(executor);
    state_->opts = std::move(options);
}

http_client::~http_client() { close_idle(); }

void http_client::close_idle() {
    std::map<std::string, std::vector<pooled>> idle;
    {
        std::lock_guard lock(state_->mutex);
        idle.swap(state_->idle);
    }
    for (auto& [origin, list] : idle) {
        for (auto& p : list) p.stream->close();
    }
}

task<http_response> http_client::request(url u, std::string method, std::string target, http_headers headers,
                                         std::string body, std::chrono::milliseconds timeout) {
    auto strand = asio::make_strand(state_->ex);
    auto work = do_request(state_, std::move(u), std::move(method), std::move(target), std::move(headers),
                           std::move(body), timeout);
    auto op = asio::co_spawn(strand, std::move(work), asio::use_awaitable);
    co_return co_await std::move(op);
}

task<http_client::websocket_result> http_client::open_websocket(url u, std::string target, http_headers headers,
                                                                std::vector<std::string> protocols,
                                                                websocket_limits limits,
                                                                std::chrono::milliseconds timeout) {
    auto strand = asio::make_strand(state_->ex);
    auto work = do_open_websocket(state_, std::move(u), std::move(target), std::move(headers), std::move(protocols),
                                  limits, timeout);
    auto op = asio::co_spawn(strand, std::move(work), asio::use_awaitable);
    co_return co_await std::move(op);
}

}  // namespace rivetkit::net
