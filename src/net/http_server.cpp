#include "net/http_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <ctime>
#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "net/http_parser.hpp"
#include "net/sse.hpp"
#include "net/stream.hpp"
#include "net/strand.hpp"
#include "net/websocket_handshake.hpp"
#include "net/websocket_session.hpp"

namespace rivetkit::net {

namespace http_detail {

using clock_type = std::chrono::steady_clock;

// Completion token: errors come back as values. A named constant, so no temporary token sits
// inside a co_await expression (the GCC 12 rule).
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

constexpr std::size_t read_buffer_size = 16 * 1024;
constexpr std::string_view no_body{};
// How long a closing connection keeps reading (and dropping) what the client still sends, so
// that our last response is not destroyed by a reset.
constexpr std::chrono::milliseconds max_linger{2000};

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
               return lower(x) == lower(y);
           });
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
bool lists_token(std::string_view value, std::string_view token) noexcept {
    while (!value.empty()) {
        const auto comma = value.find(',');
        if (iequals(trim(value.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

// (A loop rather than find_first_of("\r\n"), which calls memchr once per character.)
bool has_line_break(std::string_view s) noexcept {
    return std::any_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n'; });
}

void append_number(std::string& out, std::uint64_t n) {
    std::array<char, 24> buf{};
    const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), n);
    out.append(buf.data(), res.ptr);
}

void append_status_line(std::string& out, int status) {
    out.append("HTTP/1.1 ");
    append_number(out, static_cast<std::uint64_t>(status));
    out.push_back(' ');
    out.append(http_reason_phrase(status));
    out.append("\r\n");
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

class connection;

/// What connections share: the handler, the options, the registry of open connections.
class server_core : public std::enable_shared_from_this<server_core> {
public:
    server_core(asio::any_io_executor ex, std::shared_ptr<server_handler> h, http_server_options o, logger l)
        : executor(std::move(ex)),
          accept_strand(asio::make_strand(executor)),
          acceptor(accept_strand),
          handler(std::move(h)),
          opts(std::move(o)),
          log(std::move(l)) {}

    std::uint16_t listen();
    void close();
    void on_drained(std::function<void()> fn);

    [[nodiscard]] bool closing() const noexcept { return closing_.load(std::memory_order_acquire); }
    [[nodiscard]] std::size_t count() const noexcept { return count_.load(std::memory_order_acquire); }
    [[nodiscard]] asio::ip::tcp::endpoint endpoint() const {
        std::lock_guard lock(mutex_);
        return endpoint_;
    }

    /// A connection (or a WebSocket's stream) went away.
    void release_connection();
    void unregister(std::list<std::weak_ptr<connection>>::iterator pos);
    /// False when the server is closing: the caller closes the socket itself.
    bool add_websocket(const std::shared_ptr<websocket_session>& s);

    asio::any_io_executor executor;
    asio::strand<asio::any_io_executor> accept_strand;
    asio::ip::tcp::acceptor acceptor;
    std::shared_ptr<server_handler> handler;
    http_server_options opts;
    logger log;

private:
    task<void> accept_loop(std::shared_ptr<server_core> self);
    /// Registers a freshly accepted socket as a connection; nullptr when refused.
    std::shared_ptr<connection> admit(asio::ip::tcp::socket& socket);

    mutable std::mutex mutex_;
    std::atomic<bool> closing_{false};
    std::atomic<std::size_t> count_{0};
    bool listening_ = false;
    asio::ip::tcp::endpoint endpoint_;
    std::list<std::weak_ptr<connection>> connections_;
    std::vector<std::weak_ptr<websocket_session>> websockets_;
    std::size_t websockets_pruned_at_ = 16;
    std::vector<std::function<void()>> drained_;
};

/// The stream handed to a WebSocket session: counts as an open connection of the server until
/// it is closed or dropped.
class counted_stream final : public byte_stream {
public:
    counted_stream(std::unique_ptr<byte_stream> inner, std::shared_ptr<server_core> server)
        : inner_(std::move(inner)), server_(std::move(server)) {}
    ~counted_stream() override { release(); }
    counted_stream(const counted_stream&) = delete;
    counted_stream& operator=(const counted_stream&) = delete;

    asio::any_io_executor get_executor() override { return inner_->get_executor(); }
    task<std::pair<std::error_code, std::size_t>> read_some(asio::mutable_buffer buf) override {
        return inner_->read_some(buf);
    }
    task<std::error_code> write(asio::const_buffer buf) override { return inner_->write(buf); }
    std::size_t try_write(asio::const_buffer buf) noexcept override { return inner_->try_write(buf); }
    void shutdown_send() noexcept override { inner_->shutdown_send(); }
    void close() noexcept override {
        inner_->close();
        release();
    }

private:
    void release() noexcept {
        if (!released_.exchange(true)) server_->release_connection();
    }

    std::unique_ptr<byte_stream> inner_;
    std::shared_ptr<server_core> server_;
    std::atomic<bool> released_{false};
};

/// One accepted TCP connection: reads requests one at a time, answers them, and ends by
/// closing, streaming events until the stream ends, or handing the socket to a WebSocket.
class connection final : public std::enable_shared_from_this<connection>, public sse_sink {
public:
    connection(std::shared_ptr<server_core> server, asio::ip::tcp::socket socket)
        : server_(std::move(server)),
          opts_(server_->opts),
          socket_(std::move(socket)),
          timer_(socket_.get_executor()),
          parser_(http_parser::kind::request,
                  http_parser::options{opts_.max_header_bytes, opts_.max_body_bytes, true}),
          in_(read_buffer_size),
          tick_(std::max<clock_type::duration>(std::min({opts_.header_timeout, opts_.body_timeout, opts_.idle_timeout}),
                                               std::chrono::milliseconds(1))) {}

    void set_registry_position(std::list<std::weak_ptr<connection>>::iterator pos) { position_ = pos; }

    void start() {
        auto self = shared_from_this();
        asio::co_spawn(socket_.get_executor(), run(std::move(self)), asio::detached);
    }

    /// The server is closing (any thread).
    void server_closing() {
        asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_server_closing(); });
    }

    // sse_sink (the stream's coroutine, on this connection's strand)
    task<bool> write(std::string_view bytes) override;
    [[nodiscard]] bool closed() const noexcept override { return stream_closed_.load(std::memory_order_acquire); }
    task<void> wait_closed() override;

private:
    enum class phase { idle, head, body, handling, streaming, closing };
    enum class io_result { ok, eof, error, timeout };

    task<void> run(std::shared_ptr<connection> self);
    task<bool> read_request();
    task<io_result> fill();
    task<bool> check_expectation();
    task<bool> respond();
    task<bool> write_response(const http_response& res, bool head_request, bool keep_alive, bool http10);
    task<bool> write_error(int status, std::string_view text);
    task<bool> stream_events(reply& rep, bool head_request);
    task<bool> upgrade(http_request req, bool keep_alive, bool http10);
    task<bool> write_out(std::string_view body);
    task<void> shut_down();
    void finish();

    void set_deadline(clock_type::duration d);
    void disarm() noexcept { deadline_ = clock_type::time_point::max(); }
    void wait_timer();
    void on_timer(std::error_code ec);
    void on_server_closing();
    void watch_peer();
    void on_peer_read(std::error_code ec);
    void close_stream() noexcept;
    void append_date();

    std::shared_ptr<server_core> server_;
    const http_server_options& opts_;
    asio::ip::tcp::socket socket_;
    asio::steady_timer timer_;
    std::optional<asio::steady_timer> closed_signal_;  // event streams: wakes wait_closed()
    http_parser parser_;
    std::vector<char> in_;
    std::size_t rpos_ = 0;
    std::size_t wpos_ = 0;
    std::string out_;
    std::list<std::weak_ptr<connection>>::iterator position_;
    const clock_type::duration tick_;

    clock_type::time_point deadline_ = clock_type::time_point::max();
    phase phase_ = phase::idle;
    bool timer_waiting_ = false;
    bool timed_out_ = false;
    bool closing_ = false;  // the server is closing
    bool stopped_ = false;
    bool handed_off_ = false;
    bool linger_ = false;   // the client may still be sending: drain before closing
    bool first_request_ = true;
    std::atomic<bool> stream_closed_{false};

    std::time_t date_second_ = 0;
    std::array<char, 32> date_{};
    std::size_t date_size_ = 0;
};

// --- timers --------------------------------------------------------------------------------

// One timer per connection. Its waits never reach further than `tick_` (the shortest of the
// timeouts), so a new deadline, being at least that far away, never needs the timer moved
// earlier: keep-alive traffic costs no timer operation per request, only a wake-up per tick.
void connection::set_deadline(clock_type::duration d) {
    deadline_ = clock_type::now() + d;
    if (!timer_waiting_) {
        timer_.expires_at(std::min(deadline_, clock_type::now() + tick_));
        wait_timer();
    } else if (deadline_ < timer_.expiry()) {
        timer_.expires_at(deadline_);  // the pending wait completes as aborted and re-waits
    }
}

void connection::wait_timer() {
    timer_waiting_ = true;
    timer_.async_wait([self = shared_from_this()](std::error_code ec) { self->on_timer(ec); });
}

void connection::on_timer(std::error_code) {
    timer_waiting_ = false;
    if (stopped_ || deadline_ == clock_type::time_point::max()) return;
    const auto now = clock_type::now();
    if (now >= deadline_) {
        timed_out_ = true;
        std::error_code ignored;
        socket_.cancel(ignored);
        return;
    }
    timer_.expires_at(std::min(deadline_, now + tick_));
    wait_timer();
}

void connection::on_server_closing() {
    closing_ = true;
    if (stopped_) return;
    std::error_code ignored;
    if (phase_ == phase::idle && rpos_ == wpos_) {
        socket_.cancel(ignored);  // waiting for a next request that will not be served
    } else if (phase_ == phase::streaming) {
        close_stream();
        socket_.cancel(ignored);
    }
}

// --- the request loop ----------------------------------------------------------------------

task<void> connection::run(std::shared_ptr<connection> self) {
    (void)self;  // keeps the connection alive while it runs
    try {
        set_deadline(opts_.header_timeout);
        for (;;) {
            if (!co_await read_request()) break;
            if (!co_await respond()) break;
        }
        co_await shut_down();
    } catch (const std::exception& e) {
        server_->log.debug("http connection failed", {{"error", e.what()}});
        std::error_code ignored;
        socket_.close(ignored);
    }
    finish();
}

task<connection::io_result> connection::fill() {
    if (rpos_ == wpos_) rpos_ = wpos_ = 0;
    if (wpos_ == in_.size()) {
        // Only while a pause leaves bytes unconsumed, which never needs more input; kept safe.
        std::copy(in_.begin() + static_cast<std::ptrdiff_t>(rpos_), in_.begin() + static_cast<std::ptrdiff_t>(wpos_),
                  in_.begin());
        wpos_ -= rpos_;
        rpos_ = 0;
    }
    auto buf = asio::buffer(in_.data() + wpos_, in_.size() - wpos_);
    auto [ec, n] = co_await socket_.async_read_some(buf, use_nothrow);
    if (timed_out_) {
        server_->log.debug("http connection timed out",
                           {{"waiting_for", phase_ == phase::idle ? "request" : phase_ == phase::head ? "head" : "body"}});
        co_return io_result::timeout;
    }
    if (ec) {
        if (ec == asio::error::eof) co_return io_result::eof;
        if (ec != asio::error::operation_aborted) {
            server_->log.debug("http read failed", {{"error", ec.message()}});
        }
        co_return io_result::error;
    }
    wpos_ += n;
    co_return io_result::ok;
}

task<bool> connection::read_request() {
    bool feed_again = false;  // after the head, the parser may complete the message without input
    for (;;) {
        if (rpos_ == wpos_ && !feed_again) {
            if (phase_ == phase::idle && closing_) co_return false;
            const auto got = co_await fill();
            if (got != io_result::ok) {
                if (got == io_result::timeout && (phase_ == phase::head || phase_ == phase::body)) {
                    co_await write_error(408, "request timeout");
                } else if (got == io_result::eof && phase_ != phase::idle) {
                    server_->log.debug("http client closed mid-request");
                }
                co_return false;
            }
        }
        if (phase_ == phase::idle) {
            phase_ = phase::head;
            // The first request's head is timed from the accept; later ones from their first byte.
            if (!first_request_) set_deadline(opts_.header_timeout);
        }
        const std::string_view input(in_.data() + rpos_, wpos_ - rpos_);
        const auto r = parser_.feed(input);
        rpos_ += r.consumed;
        feed_again = false;
        switch (r.what) {
            case http_parser::event::need_more:
                break;
            case http_parser::event::headers_complete:
                phase_ = phase::body;
                set_deadline(opts_.body_timeout);
                if (!co_await check_expectation()) co_return false;
                feed_again = true;
                break;
            case http_parser::event::message_complete:
                first_request_ = false;
                phase_ = phase::handling;
                disarm();
                co_return true;
            case http_parser::event::error: {
                server_->log.debug("http request rejected", {{"reason", parser_.error_reason()}});
                switch (parser_.error()) {
                    case http_parse_error::header_too_large:
                        co_await write_error(431, "request header fields too large");
                        break;
                    case http_parse_error::body_too_large:
                        co_await write_error(413, "payload too large");
                        break;
                    default:
                        co_await write_error(400, "bad request");
                        break;
                }
                co_return false;
            }
        }
    }
}

task<bool> connection::check_expectation() {
    const std::string* expect = find_header(parser_.headers(), "expect");
    // HTTP/1.0 clients cannot expect anything (RFC 7231 5.1.1).
    if (expect == nullptr || (parser_.http_major() == 1 && parser_.http_minor() == 0)) co_return true;
    if (!iequals(trim(*expect), "100-continue")) {
        co_await write_error(417, "expectation failed");
        co_return false;
    }
    if (!parser_.has_body() || rpos_ != wpos_) co_return true;  // nothing to wait for, or it is coming
    out_.assign("HTTP/1.1 100 Continue\r\n\r\n");
    if (!co_await write_out(no_body)) co_return false;
    set_deadline(opts_.body_timeout);
    co_return true;
}

task<bool> connection::respond() {
    const std::string_view method = parser_.method();
    const bool head_request = method == "HEAD";
    const bool http10 = parser_.http_major() == 1 && parser_.http_minor() == 0;
    // After CONNECT the client speaks another protocol: never parse on.
    const bool keep_alive = parser_.keep_alive() && method != "CONNECT";
    http_request req = parser_.take_request();

    if (is_websocket_upgrade(req)) {
        auto upgrading = upgrade(std::move(req), keep_alive, http10);
        co_return co_await std::move(upgrading);
    }

    reply rep;
    bool failed = false;
    try {
        auto pending = server_->handler->handle(std::move(req));
        rep = co_await std::move(pending);
    } catch (const std::exception& e) {
        server_->log.error("http handler failed", {{"error", e.what()}});
        failed = true;
    } catch (...) {
        server_->log.error("http handler failed", {{"error", "unknown exception"}});
        failed = true;
    }
    if (failed) {
        rep = reply{};
        rep.response = http_response::text("internal error", 500);
    }
    if (rep.stream) co_return co_await stream_events(rep, head_request);
    co_return co_await write_response(rep.response, head_request, keep_alive, http10);
}

void connection::append_date() {
    static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t now = std::time(nullptr);
    if (now != date_second_ || date_size_ == 0) {
        std::tm tm{};
        gmtime_r(&now, &tm);
        const auto text = fmt::format_to_n(date_.data(), date_.size(), "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
                                           days[static_cast<std::size_t>(tm.tm_wday % 7)], tm.tm_mday,
                                           months[static_cast<std::size_t>(tm.tm_mon % 12)], tm.tm_year + 1900,
                                           tm.tm_hour, tm.tm_min, tm.tm_sec);
        date_size_ = std::min(text.size, date_.size());
        date_second_ = now;
    }
    out_.append("Date: ");
    out_.append(date_.data(), date_size_);
    out_.append("\r\n");
}

task<bool> connection::write_response(const http_response& res, bool head_request, bool keep_alive, bool http10) {
    const int status = (res.status >= 200 && res.status <= 999) ? res.status : 500;
    bool close_after = !keep_alive || closing_;
    const std::string* declared_length = nullptr;
    out_.clear();
    append_status_line(out_, status);
    for (const auto& [name, value] : res.headers) {
        if (iequals(name, "content-length")) {
            declared_length = &value;
            continue;
        }
        if (iequals(name, "connection")) {
            if (lists_token(value, "close")) close_after = true;
            continue;
        }
        if (iequals(name, "transfer-encoding") || has_line_break(name) || has_line_break(value)) continue;
        append_header(out_, name, value);
    }
    append_date();
    const bool bodiless_status = status == 204 || status == 304;
    if (!bodiless_status) {
        out_.append("Content-Length: ");
        if (head_request && res.body.empty() && declared_length != nullptr && !has_line_break(*declared_length)) {
            out_.append(trim(*declared_length));  // what a GET would answer
        } else {
            append_number(out_, res.body.size());
        }
        out_.append("\r\n");
    }
    if (close_after) {
        out_.append("Connection: close\r\n");
    } else if (http10) {
        out_.append("Connection: keep-alive\r\n");
    }
    out_.append("\r\n");
    const std::string_view body = (head_request || bodiless_status) ? std::string_view{} : std::string_view{res.body};
    if (!co_await write_out(body)) co_return false;
    if (close_after) {
        linger_ = rpos_ != wpos_;
        co_return false;
    }
    phase_ = phase::idle;
    set_deadline(opts_.idle_timeout);
    co_return true;
}

task<bool> connection::write_error(int status, std::string_view text) {
    out_.clear();
    append_status_line(out_, status);
    append_date();
    out_.append("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    append_number(out_, text.size());
    out_.append("\r\nConnection: close\r\n\r\n");
    linger_ = !timed_out_;
    co_return co_await write_out(text);
}

// Writes out_ then `body` in one gathered write, bounded by body_timeout.
task<bool> connection::write_out(std::string_view body) {
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(out_), asio::buffer(body.data(), body.size())};
    set_deadline(opts_.body_timeout);
    auto [ec, n] = co_await asio::async_write(socket_, buffers, use_nothrow);
    (void)n;
    disarm();
    if (ec || timed_out_) {
        if (ec != asio::error::operation_aborted) {
            server_->log.debug("http write failed", {{"error", ec ? ec.message() : std::string("timeout")}});
        }
        co_return false;
    }
    co_return true;
}

task<void> connection::shut_down() {
    phase_ = phase::closing;
    if (!socket_.is_open()) co_return;
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    if (linger_ && !timed_out_) {
        set_deadline(std::min<clock_type::duration>(opts_.header_timeout, max_linger));
        for (;;) {
            auto buf = asio::buffer(in_);
            auto [ec, n] = co_await socket_.async_read_some(buf, use_nothrow);
            (void)n;
            if (ec || timed_out_) break;
        }
    }
    socket_.close(ignored);
}

void connection::finish() {
    stopped_ = true;
    phase_ = phase::closing;
    timer_.cancel();
    close_stream();
    server_->unregister(position_);
    if (!handed_off_) server_->release_connection();
}

// --- event streams -------------------------------------------------------------------------

task<bool> connection::stream_events(reply& rep, bool head_request) {
    const http_response& res = rep.response;
    const int status = (res.status >= 200 && res.status <= 999) ? res.status : 200;
    bool has_type = false;
    bool has_cache = false;
    out_.clear();
    append_status_line(out_, status);
    for (const auto& [name, value] : res.headers) {
        if (iequals(name, "content-length") || iequals(name, "connection") || iequals(name, "transfer-encoding") ||
            has_line_break(name) || has_line_break(value)) {
            continue;
        }
        has_type = has_type || iequals(name, "content-type");
        has_cache = has_cache || iequals(name, "cache-control");
        append_header(out_, name, value);
    }
    if (!has_type) out_.append("Content-Type: text/event-stream\r\n");
    if (!has_cache) out_.append("Cache-Control: no-cache\r\n");
    append_date();
    // The body ends with the connection.
    out_.append("Connection: close\r\n\r\n");
    if (!co_await write_out(no_body) || head_request) co_return false;

    phase_ = phase::streaming;
    closed_signal_.emplace(socket_.get_executor(), asio::steady_timer::time_point::max());
    if (closing_) close_stream();
    watch_peer();
    sse_writer writer(*this);
    try {
        auto body = rep.stream(writer);
        co_await std::move(body);
    } catch (const std::exception& e) {
        server_->log.error("event stream failed", {{"error", e.what()}});
    } catch (...) {
        server_->log.error("event stream failed", {{"error", "unknown exception"}});
    }
    close_stream();
    co_return false;
}

// Reads (and drops) whatever the client sends while events stream, to notice it leaving.
void connection::watch_peer() {
    rpos_ = wpos_ = 0;
    socket_.async_read_some(asio::buffer(in_),
                            [self = shared_from_this()](std::error_code ec, std::size_t) { self->on_peer_read(ec); });
}

void connection::on_peer_read(std::error_code ec) {
    if (ec) {
        close_stream();
        return;
    }
    if (!stream_closed_.load(std::memory_order_acquire)) watch_peer();
}

void connection::close_stream() noexcept {
    if (stream_closed_.exchange(true, std::memory_order_acq_rel)) return;
    if (closed_signal_) closed_signal_->cancel();
}

task<bool> connection::write(std::string_view bytes) {
    if (closed()) co_return false;
    auto buf = asio::buffer(bytes.data(), bytes.size());
    set_deadline(opts_.body_timeout);
    auto [ec, n] = co_await asio::async_write(socket_, buf, use_nothrow);
    (void)n;
    disarm();
    if (ec || timed_out_) {
        if (ec != asio::error::operation_aborted) {
            server_->log.debug("event stream write failed", {{"error", ec ? ec.message() : std::string("timeout")}});
        }
        close_stream();
        co_return false;
    }
    co_return true;
}

task<void> connection::wait_closed() {
    while (!closed() && closed_signal_) {
        auto [ec] = co_await closed_signal_->async_wait(use_nothrow);
        (void)ec;
    }
}

// --- WebSocket upgrade ---------------------------------------------------------------------

task<bool> connection::upgrade(http_request req, bool keep_alive, bool http10) {
    if (auto problem = check_websocket_upgrade(req)) {
        const auto res = http_response::text(std::move(*problem), 400);
        co_return co_await write_response(res, false, keep_alive, http10);
    }
    const std::string accept = websocket_accept_key(*req.header("sec-websocket-key"));

    upgrade_reply decision;
    bool failed = false;
    try {
        auto pending = server_->handler->upgrade(std::move(req));
        decision = co_await std::move(pending);
    } catch (const std::exception& e) {
        server_->log.error("websocket upgrade handler failed", {{"error", e.what()}});
        failed = true;
    } catch (...) {
        server_->log.error("websocket upgrade handler failed", {{"error", "unknown exception"}});
        failed = true;
    }
    if (failed) {
        const auto res = http_response::text("internal error", 500);
        co_return co_await write_response(res, false, keep_alive, http10);
    }
    if (decision.reject) co_return co_await write_response(*decision.reject, false, keep_alive, http10);
    if (closing_) {
        const auto res = http_response::text("server shutting down", 503);
        co_return co_await write_response(res, false, false, http10);
    }

    out_.clear();
    out_.append("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    append_header(out_, "Sec-WebSocket-Accept", accept);
    if (!decision.protocol.empty() && !has_line_break(decision.protocol)) {
        append_header(out_, "Sec-WebSocket-Protocol", decision.protocol);
    }
    for (const auto& [name, value] : decision.headers) {
        if (iequals(name, "upgrade") || iequals(name, "connection") || iequals(name, "sec-websocket-accept") ||
            iequals(name, "sec-websocket-protocol") || iequals(name, "content-length") ||
            iequals(name, "transfer-encoding") || has_line_break(name) || has_line_break(value)) {
            continue;
        }
        append_header(out_, name, value);
    }
    out_.append("\r\n");
    if (!co_await write_out(no_body)) co_return false;

    // The socket now belongs to the WebSocket; it keeps counting as a connection of the server.
    stopped_ = true;
    timer_.cancel();
    std::string leftover(in_.data() + rpos_, wpos_ - rpos_);
    rpos_ = wpos_ = 0;
    websocket_limits limits = opts_.websocket;
    if (decision.max_message_bytes != 0) limits.max_message_bytes = decision.max_message_bytes;
    handed_off_ = true;
    auto stream = std::make_unique<counted_stream>(make_tcp_stream(std::move(socket_)), server_);
    auto session = websocket_session::create(std::move(stream), websocket_session::role::server, std::move(leftover),
                                             limits, std::move(decision.protocol));
    const bool admitted = server_->add_websocket(session);
    if (decision.on_open) {
        try {
            decision.on_open(session);
        } catch (const std::exception& e) {
            server_->log.error("websocket on_open failed", {{"error", e.what()}});
            session->close(1011, "internal error");
        } catch (...) {
            server_->log.error("websocket on_open failed", {{"error", "unknown exception"}});
            session->close(1011, "internal error");
        }
    }
    session->start();
    if (!admitted) session->close(1001, "server shutting down");
    co_return false;
}

// --- the server ----------------------------------------------------------------------------

std::uint16_t server_core::listen() {
    std::lock_guard lock(mutex_);
    if (closing()) throw std::logic_error("http_server::listen: the server is closed");
    if (listening_) throw std::logic_error("http_server::listen: already listening");
    std::error_code ec;
    asio::ip::tcp::endpoint ep;
    const auto address = asio::ip::make_address(opts.host, ec);
    if (!ec) {
        ep = asio::ip::tcp::endpoint(address, opts.port);
    } else {
        ec.clear();
        asio::ip::tcp::resolver resolver(executor);
        const auto results = resolver.resolve(opts.host, std::to_string(opts.port), ec);
        if (!ec) {
            if (results.empty()) {
                ec = asio::error::host_not_found;
            } else {
                ep = results.begin()->endpoint();
            }
        }
    }
    if (!ec) acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) endpoint_ = acceptor.local_endpoint(ec);
    if (ec) {
        std::error_code ignored;
        acceptor.close(ignored);
        throw std::system_error(ec, fmt::format("cannot listen on {}:{}", opts.host, opts.port));
    }
    listening_ = true;
    asio::co_spawn(accept_strand, accept_loop(shared_from_this()), asio::detached);
    return endpoint_.port();
}

task<void> server_core::accept_loop(std::shared_ptr<server_core> self) {
    for (;;) {
        asio::ip::tcp::socket socket(
            compact_strand(opts.connection_executor ? opts.connection_executor() : executor));
        auto [ec] = co_await acceptor.async_accept(socket, use_nothrow);
        if (closing()) break;
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
            log.debug("http accept failed", {{"error", ec.message()}});
            // Out of descriptors or memory: give connections a moment to go away.
            asio::steady_timer pause(accept_strand, std::chrono::milliseconds(50));
            auto [wait_ec] = co_await pause.async_wait(use_nothrow);
            (void)wait_ec;
            continue;
        }
        std::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        if (auto conn = admit(socket)) conn->start();
    }
    (void)self;
}

std::shared_ptr<connection> server_core::admit(asio::ip::tcp::socket& socket) {
    std::lock_guard lock(mutex_);
    if (closing() || count_.load(std::memory_order_relaxed) >= opts.max_connections) {
        if (!closing()) log.debug("http connection refused: too many connections");
        std::error_code ignored;
        socket.close(ignored);
        return nullptr;
    }
    auto conn = std::make_shared<connection>(shared_from_this(), std::move(socket));
    connections_.push_front(conn);
    conn->set_registry_position(connections_.begin());
    count_.fetch_add(1, std::memory_order_acq_rel);
    return conn;
}

void server_core::unregister(std::list<std::weak_ptr<connection>>::iterator pos) {
    std::lock_guard lock(mutex_);
    connections_.erase(pos);
}

void server_core::release_connection() {
    std::vector<std::function<void()>> fire;
    {
        std::lock_guard lock(mutex_);
        if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1 && closing()) fire.swap(drained_);
    }
    for (auto& fn : fire) asio::post(executor, std::move(fn));
}

bool server_core::add_websocket(const std::shared_ptr<websocket_session>& s) {
    std::lock_guard lock(mutex_);
    if (closing()) return false;
    if (websockets_.size() >= websockets_pruned_at_) {
        std::erase_if(websockets_, [](const std::weak_ptr<websocket_session>& w) { return w.expired(); });
        websockets_pruned_at_ = std::max<std::size_t>(16, websockets_.size() * 2);
    }
    websockets_.push_back(s);
    return true;
}

void server_core::close() {
    std::vector<std::shared_ptr<connection>> connections;
    std::vector<std::shared_ptr<websocket_session>> websockets;
    std::vector<std::function<void()>> fire;
    {
        std::lock_guard lock(mutex_);
        if (closing_.exchange(true, std::memory_order_acq_rel)) return;
        for (auto& w : connections_) {
            if (auto c = w.lock()) connections.push_back(std::move(c));
        }
        for (auto& w : websockets_) {
            if (auto s = w.lock()) websockets.push_back(std::move(s));
        }
        websockets_.clear();
        if (count_.load(std::memory_order_acquire) == 0) fire.swap(drained_);
    }
    asio::post(accept_strand, [self = shared_from_this()] {
        std::error_code ignored;
        self->acceptor.close(ignored);
    });
    for (auto& c : connections) c->server_closing();
    for (auto& s : websockets) s->close(1001, "server shutting down");
    for (auto& fn : fire) asio::post(executor, std::move(fn));
}

void server_core::on_drained(std::function<void()> fn) {
    {
        std::lock_guard lock(mutex_);
        if (!closing() || count_.load(std::memory_order_acquire) != 0) {
            drained_.push_back(std::move(fn));
            return;
        }
    }
    asio::post(executor, std::move(fn));
}

}  // namespace http_detail

struct http_server::impl : http_detail::server_core {
    using server_core::server_core;
};

http_server::http_server(asio::any_io_executor ex, std::shared_ptr<server_handler> handler, http_server_options opts,
                         logger log)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(handler), std::move(opts), std::move(log))) {}

http_server::~http_server() { impl_->close(); }

std::uint16_t http_server::listen() { return impl_->listen(); }

void http_server::close() { impl_->close(); }

std::size_t http_server::connection_count() const { return impl_->count(); }

asio::ip::tcp::endpoint http_server::local_endpoint() const { return impl_->endpoint(); }

void http_server::on_drained(std::function<void()> fn) { impl_->on_drained(std::move(fn)); }

}  // namespace rivetkit::net
