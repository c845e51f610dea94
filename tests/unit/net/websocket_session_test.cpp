// End-to-end tests of websocket_session over loopback TCP: a server session against a client
// session, or either against a raw socket that writes hand-made frames.

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include "net/stream.hpp"
#include "net/websocket_frame.hpp"
#include "net/websocket_session.hpp"

using namespace rivetkit;
using namespace rivetkit::net;
using namespace std::chrono_literals;
using asio::ip::tcp;
using role = websocket_session::role;

namespace {

constexpr auto wait_limit = 3s;  // a safety net only; every wait ends on an event
constexpr ws_mask_key test_key{0x11, 0x22, 0x33, 0x44};

std::string frame(ws_opcode op, std::string_view payload, bool fin = true, bool masked = true) {
    std::string out;
    append_ws_frame(out, op, payload, fin, masked ? std::optional(test_key) : std::nullopt);
    return out;
}

/// Collects what a websocket's handlers see.
struct recorder {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<websocket_message> messages;
    std::optional<std::pair<std::uint16_t, std::string>> closed;
    int close_calls = 0;

    void attach(websocket& ws) {
        ws.on_message([this](const websocket_message& m) {
            std::lock_guard lock(mutex);
            messages.push_back(m);
            cv.notify_all();
        });
        ws.on_close([this](std::uint16_t code, const std::string& reason) {
            std::lock_guard lock(mutex);
            closed.emplace(code, reason);
            ++close_calls;
            cv.notify_all();
        });
    }
    bool wait_messages(std::size_t n) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, wait_limit, [&] { return messages.size() >= n; });
    }
    std::pair<std::uint16_t, std::string> wait_closed() {
        std::unique_lock lock(mutex);
        if (!cv.wait_for(lock, wait_limit, [&] { return closed.has_value(); })) return {0, "<not closed>"};
        return *closed;
    }
    std::vector<websocket_message> snapshot() {
        std::lock_guard lock(mutex);
        return messages;
    }
    int closes() {
        std::lock_guard lock(mutex);
        return close_calls;
    }
};

struct event_result {
    frame_parser::event ev;
    std::string data;
    std::uint16_t code = 0;
};

/// A peer driven by the test thread on its own io_context, writing and reading raw frames.
struct raw_peer {
    asio::io_context io;
    tcp::socket sock{io};
    frame_parser parser;
    std::string pending;

    explicit raw_peer(bool is_client) : parser(!is_client, 1 << 24) {}

    void write(const std::string& bytes) { asio::write(sock, asio::buffer(bytes)); }

    std::pair<std::error_code, std::size_t> read_some(std::span<char> buf) {
        std::optional<std::pair<std::error_code, std::size_t>> res;
        sock.async_read_some(asio::buffer(buf.data(), buf.size()),
                             [&res](std::error_code ec, std::size_t n) { res.emplace(ec, n); });
        io.restart();
        io.run_for(wait_limit);
        if (!res) {
            sock.cancel();
            io.restart();
            io.run();
        }
        return *res;
    }

    /// The next frame event from the peer; nullopt if the stream ends first.
    std::optional<event_result> next() {
        std::array<char, 4096> buf{};
        for (;;) {
            if (!pending.empty() && !parser.stopped()) {
                std::span<std::uint8_t> in(reinterpret_cast<std::uint8_t*>(pending.data()), pending.size());
                const auto ev = parser.parse(in);
                pending.erase(0, pending.size() - in.size());
                if (ev != frame_parser::event::need_more) {
                    event_result r{ev, {}, 0};
                    if (ev == frame_parser::event::message) r.data = parser.message();
                    if (ev == frame_parser::event::ping || ev == frame_parser::event::pong) {
                        r.data = std::string(parser.control_payload());
                    }
                    if (ev == frame_parser::event::close) {
                        r.data = std::string(parser.close_reason());
                        r.code = parser.close_code();
                    }
                    if (ev == frame_parser::event::error) r.code = parser.error_code();
                    return r;
                }
            }
            if (parser.stopped()) return std::nullopt;
            auto [ec, n] = read_some(buf);
            if (ec) return std::nullopt;
            pending.append(buf.data(), n);
        }
    }

    /// True when the peer ends the stream (orderly or not) within the wait limit.
    bool wait_end() {
        std::array<char, 4096> buf{};
        for (;;) {
            auto [ec, n] = read_some(buf);
            (void)n;
            if (ec == asio::error::operation_aborted) return false;  // timed out
            if (ec) return true;
        }
    }
};

/// An io_context run by background threads, a loopback acceptor, and the sessions of one test.
/// Its destructor stops the threads before anything the handlers use goes away.
struct harness {
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)};
    std::vector<std::thread> threads;
    recorder server_rec;
    recorder client_rec;
    std::shared_ptr<websocket_session> server;
    std::shared_ptr<websocket_session> client;

    explicit harness(int thread_count = 1) {
        for (int i = 0; i < thread_count; ++i) threads.emplace_back([this] { io.run(); });
    }
    ~harness() {
        work.reset();
        io.stop();
        for (auto& t : threads) t.join();
    }

    std::shared_ptr<websocket_session> open(tcp::socket s, role r, recorder& rec, websocket_limits limits = {},
                                            std::string initial = {}) {
        auto ws = websocket_session::create(make_tcp_stream(std::move(s)), r, std::move(initial), limits, "");
        rec.attach(*ws);
        ws->start();
        return ws;
    }

    /// A server session and a client session connected to each other.
    void open_pair(websocket_limits server_limits = {}, websocket_limits client_limits = {}) {
        tcp::socket c(io);
        c.connect(acceptor.local_endpoint());
        tcp::socket s = acceptor.accept();
        server = open(std::move(s), role::server, server_rec, server_limits);
        client = open(std::move(c), role::client, client_rec, client_limits);
    }

    /// A server session facing a raw client.
    void open_server(raw_peer& raw, websocket_limits limits = {}, std::string initial = {}) {
        raw.sock.connect(acceptor.local_endpoint());
        tcp::socket s = acceptor.accept();
        server = open(std::move(s), role::server, server_rec, limits, std::move(initial));
    }

    /// A client session facing a raw server.
    void open_client(raw_peer& raw, websocket_limits limits = {}) {
        tcp::socket c(io);
        c.connect(acceptor.local_endpoint());
        acceptor.accept(raw.sock);
        client = open(std::move(c), role::client, client_rec, limits);
    }
};

std::span<const std::uint8_t> as_bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

websocket_limits short_close(websocket_limits l = {}) {
    l.close_timeout = 150ms;
    return l;
}

}  // namespace

TEST_CASE("websocket session: text and binary messages both ways", "[websocket]") {
    harness h;
    h.open_pair();
    const std::string big(200000, 'B');  // a 64-bit length, read in many pieces
    const std::string bin("\x00\x01\xfe\xff", 4);
    h.client->send("hello");
    h.client->send_binary(as_bytes(bin));
    h.client->send(big);
    h.client->send("");
    h.server->send("world");
    h.server->send_binary(as_bytes(big));
    REQUIRE(h.server_rec.wait_messages(4));
    REQUIRE(h.client_rec.wait_messages(2));
    auto s = h.server_rec.snapshot();
    CHECK(s[0].data == "hello");
    CHECK_FALSE(s[0].binary);
    CHECK(s[1].data == bin);
    CHECK(s[1].binary);
    CHECK(s[2].data == big);
    CHECK(s[3].data.empty());
    auto c = h.client_rec.snapshot();
    CHECK(c[0].data == "world");
    CHECK_FALSE(c[0].binary);
    CHECK(c[1].data == big);
    CHECK(c[1].binary);
    CHECK(h.server->is_open());
    CHECK(h.client->is_open());

    h.client->close(1000, "done");
    CHECK(h.server_rec.wait_closed() == std::pair<std::uint16_t, std::string>{1000, "done"});
    CHECK(h.client_rec.wait_closed() == std::pair<std::uint16_t, std::string>{1000, "done"});
    CHECK_FALSE(h.client->is_open());
    CHECK_FALSE(h.server->is_open());
}

TEST_CASE("websocket session: close codes and reasons in both directions", "[websocket]") {
    SECTION("the server closes") {
        harness h;
        h.open_pair();
        h.server->close(4001, "server says bye");
        CHECK(h.client_rec.wait_closed() == std::pair<std::uint16_t, std::string>{4001, "server says bye"});
        CHECK(h.server_rec.wait_closed() == std::pair<std::uint16_t, std::string>{4001, "server says bye"});
    }
    SECTION("the client closes; sends after close are dropped") {
        harness h;
        h.open_pair();
        h.client->send("before");
        h.client->close(1001, "going away");
        h.client->send("after");  // a silent no-op
        h.client->close(1000, "again");  // only the first close counts
        CHECK(h.server_rec.wait_closed() == std::pair<std::uint16_t, std::string>{1001, "going away"});
        CHECK(h.client_rec.wait_closed() == std::pair<std::uint16_t, std::string>{1001, "going away"});
        auto s = h.server_rec.snapshot();
        REQUIRE(s.size() == 1);
        CHECK(s[0].data == "before");
    }
    SECTION("both close at once: each end sees one close") {
        harness h(2);
        h.open_pair(short_close(), short_close());
        h.client->close(3001, "c");
        h.server->close(3002, "s");
        // The server sees the client's code; the client sees the server's own code, or the
        // server's echo of 3001 when its close() came after the client's close frame arrived.
        CHECK(h.server_rec.wait_closed().first == 3001);
        const auto client_code = h.client_rec.wait_closed().first;
        CHECK((client_code == 3002 || client_code == 3001));
    }
    SECTION("a close frame without a code: 1005, answered with 1000") {
        harness h;
        raw_peer raw(true);
        h.open_server(raw);
        raw.write(frame(ws_opcode::close, ""));
        auto reply = raw.next();
        REQUIRE(reply);
        CHECK(reply->ev == frame_parser::event::close);
        CHECK(reply->code == 1000);
        CHECK(raw.wait_end());  // the server drops TCP first
        CHECK(h.server_rec.wait_closed() == std::pair<std::uint16_t, std::string>{1005, ""});
    }
    SECTION("no answer to our close within close_timeout: 1006") {
        harness h;
        raw_peer raw(true);
        h.open_server(raw, short_close());
        h.server->close(1000, "bye");
        auto c = raw.next();
        REQUIRE(c);
        CHECK(c->ev == frame_parser::event::close);
        CHECK(c->code == 1000);
        CHECK(c->data == "bye");
        CHECK(h.server_rec.wait_closed().first == 1006);
        CHECK(raw.wait_end());
    }
}

TEST_CASE("websocket session: fragments, pings and pongs", "[websocket]") {
    harness h;
    raw_peer raw(true);
    h.open_server(raw);

    // A ping between the fragments of a message is answered at once.
    raw.write(frame(ws_opcode::text, "Hel", false) + frame(ws_opcode::ping, "p1"));
    auto pong = raw.next();
    REQUIRE(pong);
    CHECK(pong->ev == frame_parser::event::pong);
    CHECK(pong->data == "p1");
    raw.write(frame(ws_opcode::continuation, "lo", false));
    // Byte by byte: the session reassembles across reads.
    const std::string rest = frame(ws_opcode::pong, "unsolicited") + frame(ws_opcode::continuation, " world") +
                             frame(ws_opcode::binary, "b1", false) + frame(ws_opcode::continuation, "b2");
    for (char ch : rest) raw.write(std::string(1, ch));
    REQUIRE(h.server_rec.wait_messages(2));
    auto s = h.server_rec.snapshot();
    CHECK(s[0].data == "Hello world");
    CHECK_FALSE(s[0].binary);
    CHECK(s[1].data == "b1b2");
    CHECK(s[1].binary);

    // Pings from the session; the server never masks.
    h.server->ping("hb");
    auto ping = raw.next();
    REQUIRE(ping);
    CHECK(ping->ev == frame_parser::event::ping);
    CHECK(ping->data == "hb");
    raw.write(frame(ws_opcode::pong, "hb"));

    raw.write(frame(ws_opcode::close, make_ws_close_payload(4000, "done")));
    auto reply = raw.next();
    REQUIRE(reply);
    CHECK(reply->ev == frame_parser::event::close);
    CHECK(reply->code == 4000);
    CHECK(reply->data == "done");
    CHECK(raw.wait_end());
    CHECK(h.server_rec.wait_closed() == std::pair<std::uint16_t, std::string>{4000, "done"});
    CHECK(h.server_rec.closes() == 1);
}

TEST_CASE("websocket session: protocol violations close with the right code", "[websocket]") {
    SECTION("invalid UTF-8 in text: the client sees 1007") {
        harness h;
        h.open_pair();
        h.client->send("ok");
        h.client->send("bad \xff\xfe");
        CHECK(h.client_rec.wait_closed().first == 1007);
        CHECK(h.server_rec.wait_closed().first == 1007);
        auto s = h.server_rec.snapshot();
        REQUIRE(s.size() == 1);
        CHECK(s[0].data == "ok");
        CHECK(h.client_rec.closes() == 1);
    }
    SECTION("an unmasked frame from a client: 1002") {
        harness h;
        raw_peer raw(true);
        h.open_server(raw);
        raw.write(frame(ws_opcode::text, "naked", true, false));
        auto c = raw.next();
        REQUIRE(c);
        CHECK(c->ev == frame_parser::event::close);
        CHECK(c->code == 1002);
        CHECK(raw.wait_end());
        CHECK(h.server_rec.wait_closed().first == 1002);
        CHECK(h.server_rec.snapshot().empty());
    }
    SECTION("a masked frame from a server: the client closes with 1002") {
        harness h;
        raw_peer raw(false);
        h.open_client(raw);
        raw.write(frame(ws_opcode::text, "masked", true, true));
        auto c = raw.next();
        REQUIRE(c);
        CHECK(c->ev == frame_parser::event::close);
        CHECK(c->code == 1002);
        CHECK(h.client_rec.wait_closed().first == 1002);
    }
    SECTION("a message over the limit: 1009") {
        harness h;
        websocket_limits small;
        small.max_message_bytes = 1024;
        h.open_pair(small);
        h.client->send(std::string(1024, 'a'));
        h.client->send(std::string(1025, 'b'));
        CHECK(h.client_rec.wait_closed().first == 1009);
        CHECK(h.server_rec.wait_closed().first == 1009);
        auto s = h.server_rec.snapshot();
        REQUIRE(s.size() == 1);
        CHECK(s[0].data.size() == 1024);
    }
}

TEST_CASE("websocket session: the TCP connection drops without a close frame: 1006", "[websocket]") {
    SECTION("the client goes away") {
        harness h;
        raw_peer raw(true);
        h.open_server(raw);
        raw.write(frame(ws_opcode::text, "hi"));
        REQUIRE(h.server_rec.wait_messages(1));
        raw.sock.close();
        CHECK(h.server_rec.wait_closed() == std::pair<std::uint16_t, std::string>{1006, ""});
        CHECK_FALSE(h.server->is_open());
        h.server->send("into the void");  // no effect, no crash
    }
    SECTION("the server goes away") {
        harness h;
        raw_peer raw(false);
        h.open_client(raw);
        raw.write(frame(ws_opcode::text, "hi", true, false));
        REQUIRE(h.client_rec.wait_messages(1));
        raw.sock.close();
        CHECK(h.client_rec.wait_closed().first == 1006);
    }
}

TEST_CASE("websocket session: a peer that does not read: 1008, memory bounded", "[websocket]") {
    harness h;
    raw_peer raw(true);
    raw.sock.open(tcp::v4());
    raw.sock.set_option(asio::socket_base::receive_buffer_size(8192));
    websocket_limits limits = short_close();
    limits.max_send_queue_bytes = 256 * 1024;
    raw.sock.connect(h.acceptor.local_endpoint());
    tcp::socket s = h.acceptor.accept();
    s.set_option(asio::socket_base::send_buffer_size(8192));
    h.server = h.open(std::move(s), role::server, h.server_rec, limits);

    const std::string chunk(16 * 1024, 'x');
    std::size_t most_queued = 0;
    int sent = 0;
    for (; sent < 4000 && h.server->is_open(); ++sent) {
        h.server->send_binary(as_bytes(chunk));
        most_queued = std::max(most_queued, h.server->queued_bytes());
    }
    // is_open() turns false on the session's strand, so how many of the 4000 sends happen
    // first depends on scheduling; what must hold is that the queue never grows past its bound.
    CHECK(most_queued <= limits.max_send_queue_bytes);
    CHECK(h.server_rec.wait_closed() == std::pair<std::uint16_t, std::string>{1008, "send queue full"});
    // The close frame cannot get through either; the close timeout ends the connection.
    raw.sock.close();
}

TEST_CASE("websocket session: sends from several threads keep each thread's order", "[websocket]") {
    harness h(2);
    h.open_pair();
    constexpr int per_thread = 300;
    std::vector<std::thread> senders;
    for (int t = 0; t < 3; ++t) {
        senders.emplace_back([&h, t] {
            for (int i = 0; i < per_thread; ++i) h.client->send(std::to_string(t) + ":" + std::to_string(i));
        });
    }
    // The server answers on its own strand while those arrive.
    for (int i = 0; i < 50; ++i) h.server->send("s" + std::to_string(i));
    for (auto& s : senders) s.join();
    REQUIRE(h.server_rec.wait_messages(3 * per_thread));
    REQUIRE(h.client_rec.wait_messages(50));
    std::map<int, int> next;
    for (const auto& m : h.server_rec.snapshot()) {
        const auto colon = m.data.find(':');
        const int t = std::stoi(m.data.substr(0, colon));
        const int i = std::stoi(m.data.substr(colon + 1));
        CHECK(i == next[t]);
        next[t] = i + 1;
    }
    auto c = h.client_rec.snapshot();
    for (int i = 0; i < 50; ++i) CHECK(c[static_cast<std::size_t>(i)].data == "s" + std::to_string(i));
    h.server->close();
    CHECK(h.client_rec.wait_closed().first == 1000);
    CHECK(h.server_rec.wait_closed().first == 1000);
}

TEST_CASE("websocket session: every frame sent before close() goes out before the close frame", "[websocket]") {
    harness h(2);
    h.open_pair();
    constexpr int count = 2000;
    // From another thread than the strands, in one burst: the frames are gathered and taken by
    // the strand together, and the close that follows must not overtake any of them.
    std::thread sender([&h] {
        for (int i = 0; i < count; ++i) h.server->send(std::to_string(i));
        h.server->close(4000, "done");
        h.server->send("after close");  // dropped: the session stopped accepting sends
    });
    sender.join();
    CHECK(h.client_rec.wait_closed() == std::pair<std::uint16_t, std::string>{4000, "done"});
    auto got = h.client_rec.snapshot();
    REQUIRE(got.size() == static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) CHECK(got[static_cast<std::size_t>(i)].data == std::to_string(i));
    CHECK(h.server_rec.wait_closed().first == 4000);
    CHECK(h.server->queued_bytes() == 0);
}

TEST_CASE("websocket session: bytes read with the handshake, handlers set late", "[websocket]") {
    harness h;
    raw_peer raw(true);
    raw.sock.connect(h.acceptor.local_endpoint());
    tcp::socket s = h.acceptor.accept();
    const std::string second = frame(ws_opcode::binary, "second");
    const std::string initial = frame(ws_opcode::text, "first") + second.substr(0, 3);
    h.server = websocket_session::create(make_tcp_stream(std::move(s)), role::server, initial, {}, "chat");
    CHECK(h.server->protocol() == "chat");
    h.server->start();  // no handler yet: messages wait in the socket's backlog
    raw.write(second.substr(3) + frame(ws_opcode::text, "third"));
    raw.write(frame(ws_opcode::close, make_ws_close_payload(1000, "")));
    auto reply = raw.next();
    REQUIRE(reply);
    CHECK(reply->ev == frame_parser::event::close);
    h.server_rec.attach(*h.server);
    REQUIRE(h.server_rec.wait_messages(3));
    auto m = h.server_rec.snapshot();
    CHECK(m[0].data == "first");
    CHECK(m[1].data == "second");
    CHECK(m[1].binary);
    CHECK(m[2].data == "third");
    CHECK(h.server_rec.wait_closed().first == 1000);
}

TEST_CASE("websocket session: handlers that capture the session, send and close from a callback", "[websocket]") {
    harness h;
    tcp::socket c(h.io);
    c.connect(h.acceptor.local_endpoint());
    tcp::socket s = h.acceptor.accept();
    auto server = websocket_session::create(make_tcp_stream(std::move(s)), role::server, {}, {}, "");
    std::atomic<int> seen_after_quit{0};
    std::atomic<bool> quit{false};
    // The usual shape of user code: the handler holds the socket; closing breaks the cycle (the
    // leak checker of the sanitizer build would report it otherwise).
    server->on_message([server, &seen_after_quit, &quit](const websocket_message& m) {
        if (quit) ++seen_after_quit;
        if (m.data == "quit") {
            quit = true;
            server->send("closing");
            server->close(4100, "asked");
            server->send("never sent");
            return;
        }
        server->send("echo:" + m.data);
    });
    server->start();
    server.reset();
    h.client = h.open(std::move(c), role::client, h.client_rec);
    h.client->send("a");
    h.client->send("quit");
    h.client->send("b");
    CHECK(h.client_rec.wait_closed() == std::pair<std::uint16_t, std::string>{4100, "asked"});
    auto m = h.client_rec.snapshot();
    REQUIRE(m.size() == 2);
    CHECK(m[0].data == "echo:a");
    CHECK(m[1].data == "closing");
    CHECK(seen_after_quit == 0);
}
