#pragma once
// Helpers for the served-registry tests: a registry on the memory driver served on an ephemeral
// port, blocking raw-socket clients (HTTP/1.1 and WebSocket, written by hand on asio's sync API;
// every read is guarded by poll() with a timeout, which fails the test, never waits for
// something), and the test actors.

#include <catch2/catch.hpp>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>
#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

#include "net/websocket_frame.hpp"
#include "net/websocket_handshake.hpp"
#include "protocol/client_protocol.hpp"

namespace server_test {

using namespace std::chrono_literals;
using rivetkit::http_headers;
namespace protocol = rivetkit::protocol;
namespace net = rivetkit::net;

/// The guard on every blocking read: a test that waits this long has failed.
inline constexpr auto guard = 10s;

// ---- test actors --------------------------------------------------------------------------

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

/// The value of an object member, or undefined.
inline rivetkit::value member(const rivetkit::value& v, std::string_view name) {
    if (!v.is_object()) return {};
    const auto* m = v.as_object().find(name);
    return m ? *m : rivetkit::value{};
}

inline const auto counter_actor =
    rivetkit::actor<counter_state, rivetkit::value, rivetkit::value, rivetkit::value, rivetkit::value>()
        .action<"increment">([](auto& c, std::int64_t by) {
            c.state().count += by;
            c.broadcast("newCount", c.state().count);
            return c.state().count;
        })
        .action<"getCount">([](auto& c) { return std::as_const(c).state().count; })
        .action<"echo">([](auto&, rivetkit::value v) { return v; })
        .action<"getParams">([](auto& c) { return c.conn().raw_params(); })
        .action<"getInput">([](auto& c) { return c.input(); })
        .action<"sendToMe">([](auto& c, std::string name) { c.conn().send(name, std::int64_t{1}); })
        .action<"sendTo">([](auto& c, std::string target_id, std::string message) {
            for (const auto& conn : c.conns()) {
                if (conn.id() != target_id) continue;
                conn.send("direct", message);
                return true;
            }
            return false;
        })
        .action<"throwUser">([](auto&) -> std::int64_t {
            throw rivetkit::user_error("bad", "my_code", rivetkit::object{{"a", std::int64_t{1}}});
        })
        .action<"throwInternal">([](auto&) -> std::int64_t { throw std::runtime_error("secret detail"); })
        .on_before_connect([](auto&, const rivetkit::value& params) {
            if (member(params, "reject").is_bool() && member(params, "reject").as_bool()) {
                throw rivetkit::user_error("not allowed", "forbidden");
            }
        })
        .on_request([](auto& c, const rivetkit::http_request& req) {
            nlohmann::json o;
            o["method"] = req.method;
            o["path"] = req.path;
            o["query"] = req.query;
            o["body"] = req.body;
            const std::string* h = req.header("x-test");
            o["xTest"] = h ? nlohmann::json(*h) : nlohmann::json(nullptr);
            o["hasTarget"] = req.header("x-rivet-target") != nullptr;
            o["hasActor"] = req.header("x-rivet-actor") != nullptr;
            const auto token = member(c.conn().raw_params(), "token");
            o["token"] = token.is_string() ? nlohmann::json(token.as_string()) : nlohmann::json(nullptr);
            auto res = rivetkit::http_response::json(o.dump(), 201);
            res.headers.emplace_back("x-actor", "counter");
            return res;
        })
        .on_websocket([](auto& c, std::shared_ptr<rivetkit::websocket> ws) {
            std::string where = c.request() ? c.request()->path + "?" + c.request()->query : std::string("?");
            ws->send("hello " + where);
            ws->on_message([ws](const rivetkit::websocket_message& m) {
                if (m.binary) {
                    ws->send_binary(std::span(reinterpret_cast<const std::uint8_t*>(m.data.data()), m.data.size()));
                } else {
                    ws->send("echo:" + m.data);
                }
            });
        });

/// An actor without on_request / on_websocket.
inline const auto plain_actor = rivetkit::actor<rivetkit::value, rivetkit::value, rivetkit::value, rivetkit::value,
                                                rivetkit::value>()
                                    .action<"ping">([](auto&) { return std::string("pong"); });

// ---- HTTP -----------------------------------------------------------------------------------

struct response {
    int status = 0;
    http_headers headers;
    std::string body;
    bool chunked = false;

    [[nodiscard]] const std::string* header(std::string_view name) const { return rivetkit::find_header(headers, name); }
    [[nodiscard]] std::string header_or(std::string_view name, std::string fallback = "<absent>") const {
        const auto* h = header(name);
        return h ? *h : fallback;
    }
    [[nodiscard]] nlohmann::json json() const {
        auto j = nlohmann::json::parse(body, nullptr, false);
        INFO("body: " << body);
        REQUIRE_FALSE(j.is_discarded());
        return j;
    }
};

/// A blocking TCP client on asio's sync API; reads are guarded with poll().
class tcp_client {
public:
    explicit tcp_client(std::uint16_t port) : socket_(io_) {
        asio::ip::tcp::endpoint ep(asio::ip::address_v4::loopback(), port);
        socket_.connect(ep);
        socket_.set_option(asio::ip::tcp::no_delay(true));
    }

    void send(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes.data(), bytes.size())); }

    /// Like fill(), but a timeout is a false return, not a failure (for destructors).
    bool try_fill(std::chrono::milliseconds timeout) noexcept {
        pollfd p{socket_.native_handle(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
        char tmp[16384];
        std::error_code ec;
        const std::size_t n = socket_.read_some(asio::buffer(tmp), ec);
        if (ec || n == 0) return false;
        try {
            buffer_.append(tmp, n);
        } catch (...) {
            return false;
        }
        return true;
    }

    /// Reads more into the buffer; false at the end of the stream (or a reset). Fails the test
    /// when nothing arrives within the guard.
    bool fill() {
        pollfd p{socket_.native_handle(), POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(guard).count()));
        if (ready == 0) FAIL("read timed out (guard); buffered: " << buffer_);
        char tmp[16384];
        std::error_code ec;
        const std::size_t n = socket_.read_some(asio::buffer(tmp), ec);
        if (ec || n == 0) return false;
        buffer_.append(tmp, n);
        return true;
    }

    std::string read_exactly(std::size_t n) {
        while (buffer_.size() < n) {
            if (!fill()) FAIL("connection closed after " << buffer_.size() << " of " << n << " bytes");
        }
        std::string out = buffer_.substr(0, n);
        buffer_.erase(0, n);
        return out;
    }

    std::string read_until(std::string_view delimiter) {
        std::size_t pos = 0;
        while ((pos = buffer_.find(delimiter)) == std::string::npos) {
            if (!fill()) FAIL("connection closed before the delimiter; got: " << buffer_);
        }
        std::string out = buffer_.substr(0, pos + delimiter.size());
        buffer_.erase(0, pos + delimiter.size());
        return out;
    }

    std::string read_to_end() {
        while (fill()) {
        }
        return std::exchange(buffer_, {});
    }

    /// One response: its body by Content-Length, chunked, or to the end of the stream.
    response read_response(bool head_request = false) {
        const std::string head = read_until("\r\n\r\n");
        response r;
        std::string_view h = head;
        const auto line_end = h.find("\r\n");
        const auto status_line = h.substr(0, line_end);
        INFO("status line: " << status_line);
        REQUIRE(status_line.substr(0, 9) == "HTTP/1.1 ");
        r.status = std::stoi(std::string(status_line.substr(9, 3)));
        h.remove_prefix(line_end + 2);
        while (h.size() > 2) {
            const auto end = h.find("\r\n");
            const auto line = h.substr(0, end);
            const auto colon = line.find(':');
            REQUIRE(colon != std::string_view::npos);
            auto value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
            r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
            h.remove_prefix(end + 2);
        }
        if (head_request || r.status == 204 || r.status == 304 || r.status < 200) return r;
        if (const auto* te = r.header("transfer-encoding"); te && te->find("chunked") != std::string::npos) {
            r.chunked = true;
            for (;;) {
                const std::string size_line = read_until("\r\n");
                const std::size_t size = std::stoul(size_line, nullptr, 16);
                if (size == 0) {
                    // trailers until an empty line
                    while (read_until("\r\n") != "\r\n") {
                    }
                    break;
                }
                r.body += read_exactly(size);
                REQUIRE(read_exactly(2) == "\r\n");
            }
        } else if (const auto* len = r.header("content-length")) {
            r.body = read_exactly(static_cast<std::size_t>(std::stoul(*len)));
        } else {
            r.body = read_to_end();
        }
        return r;
    }

    response roundtrip(std::string_view request, bool head_request = false) {
        send(request);
        return read_response(head_request);
    }

    /// True when the peer closed (or reset) the connection with nothing more to read.
    bool closed_by_peer() { return read_to_end().empty(); }

    void shutdown_send() {
        std::error_code ignored;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }

    [[nodiscard]] std::string& buffered() { return buffer_; }

    /// True when bytes are already here: buffered, or readable without waiting.
    [[nodiscard]] bool readable_now() {
        if (!buffer_.empty()) return true;
        pollfd p{socket_.native_handle(), POLLIN, 0};
        return ::poll(&p, 1, 0) == 1;
    }

private:
    asio::io_context io_;
    asio::ip::tcp::socket socket_;
    std::string buffer_;
};

/// The bytes of a request: Host added, Content-Length added when there is a body (or for
/// POST/PUT).
inline std::string request_bytes(std::string_view method, std::string_view target, const http_headers& headers = {},
                                 std::string_view body = {}) {
    std::string out;
    out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (const auto& [n, v] : headers) out.append(n).append(": ").append(v).append("\r\n");
    if (!body.empty() || method == "POST" || method == "PUT") {
        out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    }
    out.append("\r\n").append(body);
    return out;
}

// ---- WebSocket ------------------------------------------------------------------------------

struct ws_event {
    enum class kind { message, ping, pong, close };
    kind what = kind::message;
    std::string data;
    bool binary = false;
    std::uint16_t code = 0;
    std::string reason;
};

/// A client WebSocket done by hand: the handshake with net/websocket_handshake.hpp, frames with
/// net/websocket_frame.hpp (masked, as a client must).
class ws_client {
public:
    /// Sends the handshake (followed by `after_handshake` in the same write) and reads the
    /// answer. `opened()` tells whether it was accepted.
    ws_client(std::uint16_t port, std::string_view target, std::vector<std::string> protocols,
              std::string_view after_handshake = {}, const http_headers& extra_headers = {})
        : tcp_(port), key_(net::make_websocket_key()), protocols_(std::move(protocols)) {
        http_headers headers = net::websocket_request_headers(key_, protocols_);
        for (const auto& h : extra_headers) headers.push_back(h);
        std::string req = request_bytes("GET", target, headers);
        req.append(after_handshake);
        tcp_.send(req);
        handshake = tcp_.read_response();
        if (handshake.status == 101) {
            problem = net::check_websocket_accept(handshake.status, handshake.headers, key_, protocols_);
        } else {
            problem = "status " + std::to_string(handshake.status);
        }
    }

    /// Ends an open connection cleanly: our close frame, the server's answer, the end of the
    /// stream. So the server has finished with the socket before the test goes on (or stops the
    /// registry).
    ~ws_client() {
        if (!opened() || closed_) return;
        try {
            send_close(net::ws_close::normal);
            const auto deadline = std::chrono::steady_clock::now() + guard;
            bool got_close = false;
            while (!got_close && std::chrono::steady_clock::now() < deadline) {
                auto& buf = tcp_.buffered();
                std::span<std::uint8_t> input(reinterpret_cast<std::uint8_t*>(buf.data()), buf.size());
                const auto before = input.size();
                const auto ev = parser_.parse(input);
                buf.erase(0, before - input.size());
                if (ev == net::frame_parser::event::close || ev == net::frame_parser::event::error) {
                    got_close = true;
                } else if (ev == net::frame_parser::event::need_more && !tcp_.try_fill(guard)) {
                    break;
                }
            }
            tcp_.buffered().clear();
            while (tcp_.try_fill(guard)) tcp_.buffered().clear();  // until the server closes
        } catch (...) {
            // the server may have closed already
        }
    }
    ws_client(const ws_client&) = delete;
    ws_client& operator=(const ws_client&) = delete;

    [[nodiscard]] bool opened() const { return !problem.has_value(); }

    void send_frame(net::ws_opcode op, std::string_view payload, bool fin = true, bool masked = true) {
        std::string out;
        std::optional<net::ws_mask_key> mask;
        if (masked) mask = next_mask();
        net::append_ws_frame(out, op, payload, fin, mask);
        tcp_.send(out);
    }
    void send_text(std::string_view text) { send_frame(net::ws_opcode::text, text); }
    void send_binary(std::string_view data) { send_frame(net::ws_opcode::binary, data); }
    void send_close(std::uint16_t code, std::string_view reason = {}) {
        const std::string payload = net::make_ws_close_payload(code, reason);
        send_frame(net::ws_opcode::close, payload);
    }
    void send_raw(std::string_view bytes) { tcp_.send(bytes); }

    /// The next frame-level event from the server (fails on a protocol error or when the
    /// connection ends without a close frame).
    ws_event next() {
        for (;;) {
            auto& buf = tcp_.buffered();
            std::span<std::uint8_t> input(reinterpret_cast<std::uint8_t*>(buf.data()), buf.size());
            const auto before = input.size();
            const auto ev = parser_.parse(input);
            buf.erase(0, before - input.size());
            switch (ev) {
                case net::frame_parser::event::need_more:
                    if (!tcp_.fill()) {
                        closed_ = true;
                        FAIL("websocket ended without a close frame");
                    }
                    continue;
                case net::frame_parser::event::message: {
                    ws_event e;
                    e.data = std::move(parser_.message());
                    e.binary = parser_.is_binary();
                    return e;
                }
                case net::frame_parser::event::ping:
                    return ws_event{ws_event::kind::ping, std::string(parser_.control_payload()), false, 0, {}};
                case net::frame_parser::event::pong:
                    return ws_event{ws_event::kind::pong, std::string(parser_.control_payload()), false, 0, {}};
                case net::frame_parser::event::close:
                    closed_ = true;
                    return ws_event{ws_event::kind::close, {}, false, parser_.close_code(),
                                    std::string(parser_.close_reason())};
                case net::frame_parser::event::error:
                    FAIL("server frame violates the protocol: " << parser_.error_reason());
            }
        }
    }

    /// The next data message (pings and pongs skipped); fails on a close.
    ws_event next_message() {
        for (;;) {
            auto e = next();
            if (e.what == ws_event::kind::message) return e;
            if (e.what == ws_event::kind::close) FAIL("closed: " << e.code << " " << e.reason);
        }
    }

    /// Reads until the close frame (data messages before it are dropped) and returns it; then
    /// checks the server ends the TCP connection.
    ws_event expect_close() {
        for (;;) {
            auto e = next();
            if (e.what != ws_event::kind::close) continue;
            // Answer the close as a client does; the server then closes the TCP connection.
            send_close_quietly(e.code);
            CHECK(tcp_.closed_by_peer());
            return e;
        }
    }

    tcp_client& tcp() { return tcp_; }
    /// Leaves the connection as it is: the destructor then just drops the TCP connection.
    void abandon() { closed_ = true; }

    response handshake;
    std::optional<std::string> problem;

private:
    void send_close_quietly(std::uint16_t code) {
        try {
            const std::uint16_t echo = net::is_valid_close_code(code) ? code : net::ws_close::normal;
            send_close(echo);
        } catch (const std::exception&) {
            // the server may already have closed the TCP connection
        }
    }
    net::ws_mask_key next_mask() {
        ++mask_seed_;
        return {static_cast<std::uint8_t>(0x12 + mask_seed_), 0x34, static_cast<std::uint8_t>(0x56 ^ mask_seed_), 0x78};
    }

    tcp_client tcp_;
    std::string key_;
    std::vector<std::string> protocols_;
    net::frame_parser parser_{false, 64u << 20};
    std::uint8_t mask_seed_ = 0;
    bool closed_ = false;  // the server's close frame (or the end of the stream) was seen
};

/// The subprotocols of a RivetKit /connect: rivet, the encoding, optionally params.
inline std::vector<std::string> rivet_protocols(protocol::encoding enc, std::string_view params_pct = {}) {
    std::vector<std::string> p{"rivet", "rivet_encoding." + std::string(protocol::to_string(enc))};
    if (!params_pct.empty()) p.push_back("rivet_conn_params." + std::string(params_pct));
    return p;
}

/// Encodes one client message as the frame the encoding uses (text for json).
inline std::string client_frame(protocol::encoding enc, const protocol::to_server& msg, std::uint8_t mask_byte = 0x5a) {
    const std::string payload = protocol::encode_to_server(enc, msg);
    std::string out;
    net::append_ws_frame(out, protocol::uses_text_frames(enc) ? net::ws_opcode::text : net::ws_opcode::binary,
                         payload, true, net::ws_mask_key{mask_byte, 0x01, 0x02, 0x03});
    return out;
}

inline void send_message(ws_client& ws, protocol::encoding enc, const protocol::to_server& msg) {
    ws.send_raw(client_frame(enc, msg));
}

/// The next RivetKit message; checks the frame type matches the encoding.
inline protocol::to_client next_message(ws_client& ws, protocol::encoding enc) {
    auto e = ws.next_message();
    CHECK(e.binary == !protocol::uses_text_frames(enc));
    return protocol::decode_to_client(enc, e.data);
}

inline protocol::to_server action_msg(std::uint64_t id, std::string name, rivetkit::array args = {}) {
    return protocol::action_request{id, std::move(name), std::move(args)};
}

inline protocol::to_server subscribe_msg(std::string event, bool on) {
    return protocol::subscription_request{std::move(event), on};
}

// ---- the served registry ----------------------------------------------------------------------

/// A registry on the memory driver, served on 127.0.0.1 at an ephemeral port.
class served_registry {
public:
    /// `test_mode`: serve the /.test/* endpoints (server_options::test_mode).
    explicit served_registry(bool test_mode = false) : registry_(make_registry()) {
        // HOST and PORT would override the options.
        ::unsetenv("HOST");
        ::unsetenv("PORT");
        registry_.start();
        rivetkit::server_options o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.test_mode = test_mode;
        port = registry_.listen(o);
    }
    ~served_registry() { registry_.stop(); }
    served_registry(const served_registry&) = delete;
    served_registry& operator=(const served_registry&) = delete;

    /// One request on a fresh connection.
    response fetch(std::string_view method, std::string_view target, const http_headers& headers = {},
                   std::string_view body = {}) {
        tcp_client c(port);
        const std::string req = request_bytes(method, target, headers, body);
        return c.roundtrip(req, method == "HEAD");
    }

    /// The server still answers a normal request.
    void expect_alive() {
        const auto r = fetch("GET", "/health");
        CHECK(r.status == 200);
        CHECK(r.body == R"({"status":"ok","runtime":"rivetkit","version":"2.0.33"})");
    }

    /// PUT /actors (get-or-create); the actor id.
    std::string actor_id(std::string_view name, std::string_view key) {
        nlohmann::json body = {{"name", name}, {"key", key}, {"runner_name_selector", "default"},
                               {"crash_policy", "sleep"}};
        const auto r = fetch("PUT", "/actors", {{"Content-Type", "application/json"}}, body.dump());
        INFO(r.body);
        REQUIRE(r.status == 200);
        return r.json()["actor"]["actor_id"].get<std::string>();
    }

    /// POST /gateway/{id}/action/{name} in JSON with `args_json`; the response.
    response call(std::string_view id, std::string_view action, std::string_view args_json = "[]",
                  http_headers headers = {}) {
        const std::string body = "{\"args\":" + std::string(args_json) + "}";
        headers.emplace_back("x-rivet-encoding", "json");
        const std::string target = "/gateway/" + std::string(id) + "/action/" + std::string(action);
        return fetch("POST", target, headers, body);
    }

    std::uint16_t port = 0;

private:
    static rivetkit::registry make_registry() {
        rivetkit::registry_config cfg;
        cfg.driver = rivetkit::drivers::memory();
        cfg.threads = 2;
        return rivetkit::setup({{"counter", counter_actor}, {"plain", plain_actor}}, std::move(cfg));
    }

    rivetkit::registry registry_;
};

/// A JSON error body {group, code, message[, metadata]} with this status.
inline void check_json_error(const response& r, int status, std::string_view group, std::string_view code) {
    INFO("status " << r.status << " body: " << r.body);
    CHECK(r.status == status);
    CHECK(r.header_or("content-type") == "application/json");
    const auto j = r.json();
    CHECK(j.value("group", "") == group);
    CHECK(j.value("code", "") == code);
    CHECK(j.contains("message"));
    CHECK(j["message"].is_string());
}

/// An error body in `enc` with this status.
inline rivetkit::client_error check_error(const response& r, protocol::encoding enc, int status,
                                          std::string_view group, std::string_view code) {
    INFO("status " << r.status << " body: " << r.body);
    CHECK(r.status == status);
    CHECK(r.header_or("content-type") == std::string(protocol::content_type(enc)));
    rivetkit::client_error e;
    try {
        e = protocol::decode_http_error(enc, r.body);
    } catch (const std::exception& ex) {
        FAIL("the error body does not decode: " << ex.what());
    }
    CHECK(e.group == group);
    CHECK(e.code == code);
    return e;
}

/// Descriptors open in this process.
inline std::size_t open_descriptors() {
    std::size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        (void)entry;
        ++n;
    }
    return n;
}

inline std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

inline std::string unhex(std::string_view text) {
    std::string digits;
    for (char c : text) {
        if (c != ' ' && c != '|') digits.push_back(c);
    }
    auto nibble = [](char c) -> int { return c <= '9' ? c - '0' : c - 'a' + 10; };
    std::string out;
    for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
        out.push_back(static_cast<char>(nibble(digits[i]) * 16 + nibble(digits[i + 1])));
    }
    return out;
}

}  // namespace server_test
