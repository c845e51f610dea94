// Reconnection across a server restart: the interop server (file-system driver) runs as a
// separate process, is stopped while a connection is open, actions are called while it is down
// (queued) and a subscription is added; after the server is back on the same port with the
// same data directory, the queued actions complete on the persisted state and events arrive.

#include "client_test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include <asio/ip/tcp.hpp>

using namespace client_test;
using rivetkit::connection_status;
using rivetkit::value;

#ifndef RIVETKIT_TEST_SERVER_BINARY
#error "RIVETKIT_TEST_SERVER_BINARY (the interop server's path) is set by tests/CMakeLists.txt"
#endif

namespace {

/// A port that was free a moment ago on 127.0.0.1.
std::uint16_t free_port() {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    return a.local_endpoint().port();
}

/// The interop server as a child process (PORT, RIVETKIT_DATA_PATH).
class server_process {
public:
    server_process(std::uint16_t port, std::filesystem::path data) : port_(port), data_(std::move(data)) { start(); }
    ~server_process() { stop(); }
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    void start() {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        const std::string port = std::to_string(port_);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::dup2(fds[1], STDOUT_FILENO);
            ::close(fds[0]);
            ::close(fds[1]);
            ::setenv("PORT", port.c_str(), 1);
            ::setenv("HOST", "127.0.0.1", 1);
            ::setenv("RIVETKIT_DATA_PATH", data_.c_str(), 1);
            ::execl(RIVETKIT_TEST_SERVER_BINARY, RIVETKIT_TEST_SERVER_BINARY, static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(fds[1]);
        // Wait for "listening on <port>".
        std::string out;
        const auto end = std::chrono::steady_clock::now() + guard;
        while (out.find("listening on") == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            pollfd p{fds[0], POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) {
                ::close(fds[0]);
                FAIL("the server did not start; output: " << out);
            }
            char buf[256];
            const auto n = ::read(fds[0], buf, sizeof buf);
            if (n <= 0) {
                ::close(fds[0]);
                FAIL("the server exited; output: " << out);
            }
            out.append(buf, static_cast<std::size_t>(n));
        }
        ::close(fds[0]);
    }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        const auto end = std::chrono::steady_clock::now() + guard;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > end) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(10ms);
        }
        pid_ = -1;
    }

private:
    std::uint16_t port_;
    std::filesystem::path data_;
    pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("remote connection: survives a server restart with queued actions and subscriptions",
          "[client][remote][connect][restart]") {
    const std::string enc = GENERATE("bare", "cbor", "json");
    INFO("encoding " << enc);
    const auto data = std::filesystem::temp_directory_path() /
                      ("rivetkit-client-restart-" + std::to_string(::getpid()) + "-" + enc);
    std::filesystem::remove_all(data);
    const std::uint16_t port = free_port();
    server_process server(port, data);

    auto client = rivetkit::create_client(options_for("http://127.0.0.1:" + std::to_string(port), enc));
    auto conn = client.get_or_create("counter", {"restart"}).connect();
    recorder<std::int64_t> counts;
    conn.on("newCount", [&](const rivetkit::array& args) { counts.push(args.at(0).as_int()); });
    recorder<connection_status> statuses;
    conn.on_status([&](connection_status s) { statuses.push(s); });
    conn.wait_connected();
    const std::string first_id = conn.connection_id();
    CHECK(conn.call("increment", 1) == value(1));
    CHECK(counts.wait_for(1) == std::vector<std::int64_t>{1});

    server.stop();
    statuses.wait_until([](const auto& v) { return !v.empty() && v.back() != connection_status::connected; });

    // While the server is down: two actions (queued, in order) and a new subscription.
    recorder<value> others;
    conn.on("other", [&](const rivetkit::array& args) { others.push(args.at(0)); });
    std::vector<value> results;
    asio::io_context io;
    auto a = conn.async_call("increment", 10);
    auto b = conn.async_call("increment", 100);
    auto collect = [](rivetkit::task<value> t, std::vector<value>& out) -> rivetkit::task<void> {
        out.push_back(co_await std::move(t));
    };
    asio::co_spawn(io, collect(std::move(a), results), asio::detached);
    asio::co_spawn(io, collect(std::move(b), results), asio::detached);
    std::thread runner([&] { io.run(); });
    // Still down: nothing can complete.
    CHECK(conn.status() != connection_status::connected);

    server.start();
    runner.join();  // both queued actions completed after the reconnect
    CHECK(results == std::vector<value>{value(11), value(111)});
    CHECK(counts.wait_for(3) == std::vector<std::int64_t>{1, 11, 111});
    CHECK(conn.status() == connection_status::connected);
    CHECK(conn.connection_id() != first_id);

    // Both subscriptions (the old one and the one added while down) are live on the new
    // connection.
    conn.call("emit", "other", "x");
    CHECK(others.wait_for(1) == std::vector<value>{value("x")});
    CHECK(conn.call("increment", 1) == value(112));
    CHECK(counts.wait_for(4).back() == 112);

    conn.dispose();
    client.dispose();
    server.stop();
    std::filesystem::remove_all(data);
}
