// 10 000 idle TCP connections against a served registry: the server accepts and holds them all
// (each has sent part of a request line, so it keeps parser state for it), forgets them when
// they close, keeps answering, and its memory does not grow from one round to the next.
//
// Both ends of 10 000 connections do not fit in one process's descriptor limit (20 000 here), so
// the client end runs in a forked child. The child uses plain system calls only (no allocation:
// the parent has other threads, whose locks a forked child must not touch) and leaves with
// _exit().

#include "server/server_test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#if defined(__SANITIZE_ADDRESS__)
// From the sanitizer runtime (sanitizer/allocator_interface.h, which GCC 12 does not install):
// drains the quarantine and returns free memory to the system.
extern "C" void __sanitizer_purge_allocator();
#endif

namespace server_test {
namespace {

constexpr int connection_count = 10000;
/// Every this many connections the child makes a full request on a fresh connection: its answer
/// means the server has accepted everything before it (accepts are in order), so the listen
/// backlog never overflows.
constexpr int batch = 500;
constexpr int child_guard_ms = 60000;

struct child_report {
    int stage = 0;       // 1: all connected; 2: all closed; negative: failed at that step
    int error = 0;       // errno of a failure
    int index = 0;       // the connection it happened on
    int unexpected = 0;  // connections that got bytes instead of a plain end of stream
};

// ---- the child (system calls only) ----

int connect_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        ::close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

bool send_all(int fd, const char* data, std::size_t n) {
    while (n > 0) {
        const auto sent = ::send(fd, data, n, MSG_NOSIGNAL);
        if (sent <= 0) return false;
        data += sent;
        n -= static_cast<std::size_t>(sent);
    }
    return true;
}

/// Reads until the end of the stream; the number of bytes read, or -1 (error or guard).
long drain(int fd, char* first, std::size_t first_size) {
    long total = 0;
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, child_guard_ms) != 1) {
            errno = ETIMEDOUT;
            return -1;
        }
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0) return errno == ECONNRESET ? total : -1;
        if (n == 0) return total;
        if (first != nullptr && static_cast<std::size_t>(total) < first_size) {
            const auto k = std::min(first_size - static_cast<std::size_t>(total), static_cast<std::size_t>(n));
            std::memcpy(first + total, buf, k);
        }
        total += n;
    }
}

/// A whole request on a fresh connection, answered 200 and closed by the server.
bool sentinel(std::uint16_t port) {
    static constexpr char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const int fd = connect_to(port);
    if (fd < 0) return false;
    char head[13] = {};
    const bool ok = send_all(fd, req, sizeof req - 1) && drain(fd, head, 12) > 0 &&
                    std::memcmp(head, "HTTP/1.1 200", 12) == 0;
    ::close(fd);
    return ok;
}

[[noreturn]] void child_main(std::uint16_t port, int* fds, int to_parent, int from_parent) {
    child_report r;
    auto report = [&](int stage) {
        r.stage = stage;
        (void)!::write(to_parent, &r, sizeof r);
    };
    auto fail = [&](int stage, int index) {
        r.error = errno;
        r.index = index;
        report(-stage);
        ::_exit(1);
    };
    // Part of a request line: the server has read it and keeps the parser state.
    static constexpr char partial[] = "GET /health HT";
    for (int i = 0; i < connection_count; ++i) {
        fds[i] = connect_to(port);
        if (fds[i] < 0) fail(1, i);
        if (!send_all(fds[i], partial, sizeof partial - 1)) fail(2, i);
        if ((i + 1) % batch == 0 && !sentinel(port)) fail(3, i);
    }
    report(1);
    char go = 0;
    if (::read(from_parent, &go, 1) != 1) fail(4, 0);
    // Close our sending side; the server then ends each connection (no response: the request
    // was never finished).
    for (int i = 0; i < connection_count; ++i) ::shutdown(fds[i], SHUT_WR);
    for (int i = 0; i < connection_count; ++i) {
        const long got = drain(fds[i], nullptr, 0);
        if (got < 0) fail(5, i);
        if (got > 0) ++r.unexpected;
        // Both sides have closed; drop our end without TIME_WAIT, so repeated runs do not use up
        // the ephemeral ports.
        const linger no_linger{1, 0};
        ::setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &no_linger, sizeof no_linger);
        ::close(fds[i]);
    }
    report(2);
    ::_exit(0);
}

// ---- the parent ----

std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t size = 0;
    std::size_t resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// Returns freed memory to the system, so resident memory shows what is still in use.
void release_free_memory() {
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_purge_allocator();  // also empties ASan's quarantine of freed blocks
#endif
    ::malloc_trim(0);
}

bool read_report(int fd, child_report& r) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, child_guard_ms) != 1) return false;
    return ::read(fd, &r, sizeof r) == static_cast<ssize_t>(sizeof r);
}

const char* step_name(int stage) {
    switch (-stage) {
        case 1: return "connect";
        case 2: return "send partial request";
        case 3: return "sentinel request";
        case 4: return "wait for parent";
        case 5: return "read end of stream";
        default: return "?";
    }
}

struct round_result {
    std::size_t accepted = 0;        // server-side descriptors while all were open
    std::size_t resident_open = 0;   // resident memory then
};

/// One round: 10 000 connections opened, held, closed.
round_result run_round(std::uint16_t port, std::size_t fd_baseline, std::vector<int>& fds) {
    int to_parent[2];
    int to_child[2];
    REQUIRE(::pipe2(to_parent, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(to_child, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(to_parent[0]);
        ::close(to_child[1]);
        child_main(port, fds.data(), to_parent[1], to_child[0]);
    }
    ::close(to_parent[1]);
    ::close(to_child[0]);

    round_result out;
    child_report r;
    bool ok = read_report(to_parent[0], r);
    if (ok && r.stage == 1) {
        // The pipes' two ends are ours; everything else new is a connection the server accepted.
        out.accepted = open_descriptors() - fd_baseline - 2;
        out.resident_open = resident_bytes();
        const char go = 1;
        ok = ::write(to_child[1], &go, 1) == 1 && read_report(to_parent[0], r);
    }
    if (!ok) ::kill(pid, SIGKILL);  // our own child, stuck
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(to_parent[0]);
    ::close(to_child[1]);

    INFO("child stage " << r.stage << " (" << (r.stage < 0 ? step_name(r.stage) : "ok") << ") at connection "
                        << r.index << ": " << std::strerror(r.error));
    REQUIRE(ok);
    REQUIRE(r.stage == 2);
    CHECK(WIFEXITED(status));
    CHECK(r.unexpected == 0);
    CHECK(out.accepted >= static_cast<std::size_t>(connection_count));
    CHECK(out.accepted <= static_cast<std::size_t>(connection_count) + 16);

    // Every server-side descriptor goes away (the server closes each right after it sees the end
    // of the stream, which the child waited for).
    const auto deadline = std::chrono::steady_clock::now() + guard;
    std::size_t now_open = open_descriptors();
    while (now_open > fd_baseline && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
        now_open = open_descriptors();
    }
    CHECK(now_open == fd_baseline);
    return out;
}

}  // namespace

TEST_CASE("many connections: 10 000 idle connections, opened and closed twice", "[server][connections]") {
    rlimit lim{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < 10500) {
        WARN("RLIMIT_NOFILE hard limit " << lim.rlim_max << " is below 10 500: skipping the 10 000-connection test");
        return;
    }
    lim.rlim_cur = lim.rlim_max;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lim) == 0);

    served_registry srv;
    // Before any connection: later counts only wait for the server to close what it accepted.
    const std::size_t fd_baseline = open_descriptors();
    srv.expect_alive();
    std::vector<int> fds(connection_count, -1);  // the child's table, allocated before the fork
    release_free_memory();
    const std::size_t resident_start = resident_bytes();

    const auto first = run_round(srv.port, fd_baseline, fds);
    srv.expect_alive();
    release_free_memory();
    const std::size_t resident_after_first = resident_bytes();

    const auto second = run_round(srv.port, fd_baseline, fds);
    srv.expect_alive();
    release_free_memory();
    const std::size_t resident_after_second = resident_bytes();

    constexpr std::size_t mib = 1024 * 1024;
    INFO("resident MiB: start " << resident_start / mib << ", with 10 000 open " << first.resident_open / mib
                                << ", after round 1 " << resident_after_first / mib << ", with 10 000 open again "
                                << second.resident_open / mib << ", after round 2 " << resident_after_second / mib);
    // Nothing accumulates per connection: the second round leaves (almost) nothing behind.
    CHECK(resident_after_second < resident_after_first + 8 * mib);
    // The connections did cost memory while open (the server really held them).
    CHECK(first.resident_open > resident_start + 10 * mib);
}

}  // namespace server_test
