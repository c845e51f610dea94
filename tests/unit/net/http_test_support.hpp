#pragma once
// Helpers for the HTTP server tests: a server on an io_context run by background threads, and
// a blocking raw-socket client whose reads give up after a guard timeout (a failure, never a
// way to wait for something).

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "net/http_server.hpp"
#include "net/server_handler.hpp"
#include "net/sse.hpp"

namespace http_test {

using namespace std::chrono_literals;
using rivetkit::http_request;
using rivetkit::http_response;
using rivetkit::task;
using rivetkit::net::reply;
using rivetkit::net::upgrade_reply;

/// The guard on every blocking read: a test that waits this long has failed.
inline constexpr auto guard = 5s;

/// A handler whose behaviour each test sets: `on_request` answers synchronously (default: an
/// echo of method, path, query and body); `on_request_async` and `on_upgrade` answer as
/// coroutines.
class test_handler final : public rivetkit::net::server_handler {
public:
    std::function<reply(const http_request&)> on_request;
    std::function<task<reply>(http_request)> on_request_async;
    std::function<task<upgrade_reply>(http_request)> on_upgrade;

    task<reply> handle(http_request request) override {
        if (on_request_async) {
            auto pending = on_request_async(std::move(request));
            co_return co_await std::move(pending);
        }
        if (on_request) co_return on_request(request);
        co_return echo(request);
    }

    task<upgrade_reply> upgrade(http_request request) override {
        if (on_upgrade) {
            auto pending = on_upgrade(std::move(request));
            co_return co_await std::move(pending);
        }
        upgrade_reply r;
        r.reject = http_response::text("no websockets here", 403);
        co_return r;
    }

    static reply echo(const http_request& r) {
        reply out;
        out.response = http_response::text(r.method + " " + r.path + (r.query.empty() ? "" : "?" + r.query) +
                                           (r.body.empty() ? "" : " " + r.body));
        return out;
    }
};

/// An http_server on 127.0.0.1 (ephemeral port) served by `threads` background threads.
class server_fixture {
public:
    explicit server_fixture(rivetkit::net::http_server_options opts = {}, int threads = 2)
        : handler(std::make_shared<test_handler>()), work_(io.get_executor()) {
        opts.host = "127.0.0.1";
        opts.port = 0;
        server = std::make_unique<rivetkit::net::http_server>(io.get_executor(), handler, opts);
        port = server->listen();
        for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io.run(); });
    }

    ~server_fixture() {
        server->close();
        std::promise<void> drained;
        auto done = drained.get_future();
        server->on_drained([&drained] { drained.set_value(); });
        const bool ok = done.wait_for(guard) == std::future_status::ready;
        server.reset();
        work_.reset();
        io.stop();
        for (auto& t : threads_) t.join();
        CHECK(ok);  // every connection ended after close()
    }

    asio::io_context io;
    std::shared_ptr<test_handler> handler;
    std::unique_ptr<rivetkit::net::http_server> server;
    std::uint16_t port = 0;

private:
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::vector<std::thread> threads_;
};

struct response {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    [[nodiscard]] const std::string* header(std::string_view name) const {
        return rivetkit::find_header(headers, name);
    }
};

/// A blocking client on a raw socket.
class client {
public:
    explicit client(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("socket failed");
        timeval tv{static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(guard).count()), 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            const int e = errno;
            ::close(fd_);
            fd_ = -1;
            throw std::system_error(e, std::generic_category(), "connect failed");
        }
    }
    ~client() { close(); }
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    void send(std::string_view bytes) {
        while (!bytes.empty()) {
            const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) throw std::runtime_error("send failed");
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    /// Reads more into the buffer; false on end of stream (or reset). A guard timeout fails.
    bool fill() {
        char tmp[16384];
        const auto n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            FAIL("client read timed out (guard)");
        }
        if (n <= 0) return false;
        buffer_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }

    /// Exactly `n` bytes (fails if the stream ends first).
    std::string read_exactly(std::size_t n) {
        while (buffer_.size() < n) {
            if (!fill()) FAIL("connection closed after " << buffer_.size() << " of " << n << " bytes");
        }
        std::string out = buffer_.substr(0, n);
        buffer_.erase(0, n);
        return out;
    }

    /// Everything up to and including `delimiter`.
    std::string read_until(std::string_view delimiter) {
        std::size_t pos;
        while ((pos = buffer_.find(delimiter)) == std::string::npos) {
            if (!fill()) FAIL("connection closed before " << delimiter << "; got: " << buffer_);
        }
        std::string out = buffer_.substr(0, pos + delimiter.size());
        buffer_.erase(0, pos + delimiter.size());
        return out;
    }

    /// Every byte until the server closes.
    std::string read_to_end() {
        while (fill()) {
        }
        return std::exchange(buffer_, {});
    }

    /// True if the server closed the connection with nothing more to read.
    bool closed_by_peer() { return read_to_end().empty(); }

    /// One response; its body by Content-Length (none for HEAD), or to the end of the stream.
    response read_response(bool head_request = false) {
        const std::string head = read_until("\r\n\r\n");
        response r;
        std::string_view h = head;
        const auto line_end = h.find("\r\n");
        const auto status_line = h.substr(0, line_end);
        REQUIRE(status_line.substr(0, 9) == "HTTP/1.1 ");
        r.status = std::stoi(std::string(status_line.substr(9, 3)));
        h.remove_prefix(line_end + 2);
        while (h.size() > 2) {
            const auto end = h.find("\r\n");
            const auto line = h.substr(0, end);
            const auto colon = line.find(':');
            REQUIRE(colon != std::string_view::npos);
            auto value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
            h.remove_prefix(end + 2);
        }
        if (head_request || r.status == 204 || r.status == 304 || r.status < 200) return r;
        if (const auto* len = r.header("content-length")) {
            r.body = read_exactly(static_cast<std::size_t>(std::stoul(*len)));
        } else {
            r.body = read_to_end();
        }
        return r;
    }

    /// Sends `request` and reads the response.
    response roundtrip(std::string_view request, bool head_request = false) {
        send(request);
        return read_response(head_request);
    }

    [[nodiscard]] std::string& buffered() { return buffer_; }
    [[nodiscard]] int fd() const { return fd_; }

private:
    int fd_ = -1;
    std::string buffer_;
};

inline std::string get(std::string_view target, std::string_view extra_headers = {}) {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) + "\r\n";
}

}  // namespace http_test
