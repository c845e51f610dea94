// Crash test of the file-system driver's durability (docs/file_system.md): a child process
// serving the `counter` example is killed with SIGKILL at a random moment while clients send
// increments over HTTP; after a restart on the same data directory, the count must equal the
// number of acknowledged increments, plus at most the ones that were in flight.
//
//   rivetkit_crash_test <path of the counter program> [--rounds N] [--seed S] [--clients N]
//
// Environment: RIVETKIT_CRASH_ROUNDS and RIVETKIT_CRASH_SEED (the options win). The seed only
// fixes the kill delays; the interleaving with the server is still up to the scheduler.
//
// Each round: start the server (wait for its "listening" line), read the count and check it
// against what the previous round acknowledged, let N client threads (one keep-alive TCP
// connection each) send `increment(1)` in a loop, kill the server with SIGKILL after a random
// delay, wait for it, and collect what the clients saw. The round's increments are then checked
// at the next start (the last round's after one more start, which then stops with SIGTERM).
//
// Checks, with C the count read at the start of a round and C' the count at the next start:
//   - C + acked <= C' <= C + acked + in_flight (and the same with totals over all rounds);
//   - every acknowledged value n is unique and C < n <= C' (a value acknowledged twice, across
//     rounds too, means an acknowledged increment was lost and its value given out again);
//   - no response other than 200 {"output": n}, no connection lost before the kill, no request
//     left unanswered for 10 s.

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

extern char** environ;

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto server_start_timeout = std::chrono::seconds(30);
constexpr auto server_stop_timeout = std::chrono::seconds(30);
constexpr int response_timeout_seconds = 10;
constexpr std::string_view listening_prefix = "counter server listening on port ";

class test_failure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::string errno_text(int err) { return std::strerror(err); }

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
    return "status " + std::to_string(status);
}

// ---- ports -----------------------------------------------------------------------------------

int make_tcp_socket() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket(): " + errno_text(errno));
    return fd;
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

/// A port nobody listens on right now: bind port 0, read it, close.
std::uint16_t pick_free_port() {
    const int fd = make_tcp_socket();
    sockaddr_in addr = loopback(0);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        ::close(fd);
        throw std::runtime_error("bind(127.0.0.1:0): " + errno_text(err));
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

/// Whether another socket listens on the port (with SO_REUSEADDR, as the server binds, so
/// TIME_WAIT connections of a killed server do not count).
bool port_taken(std::uint16_t port) {
    const int fd = make_tcp_socket();
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr = loopback(port);
    const bool taken = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno == EADDRINUSE;
    ::close(fd);
    return taken;
}

// ---- the server process ----------------------------------------------------------------------

/// The counter program running as a child, its stdout on a pipe. The destructor kills it
/// (SIGKILL) and reaps it if it still runs, so no failure path leaves a process behind.
class server_process {
public:
    struct start_failure : std::runtime_error {
        using std::runtime_error::runtime_error;
    };

    server_process(const std::string& program, const std::string& data_dir, std::uint16_t port) {
        // Everything the child needs is built before fork(): after it, the child only calls
        // async-signal-safe functions (the parent has threads).
        std::vector<std::string> env_strings;
        for (char** e = environ; *e != nullptr; ++e) {
            std::string_view entry(*e);
            if (entry.starts_with("RIVETKIT_DATA_PATH=") || entry.starts_with("PORT=") ||
                entry.starts_with("HOST="))
                continue;
            env_strings.emplace_back(entry);
        }
        env_strings.push_back("RIVETKIT_DATA_PATH=" + data_dir);
        env_strings.push_back("PORT=" + std::to_string(port));
        env_strings.push_back("HOST=127.0.0.1");
        std::vector<char*> envp;
        for (auto& s : env_strings) envp.push_back(s.data());
        envp.push_back(nullptr);
        std::string program_copy = program;
        std::array<char*, 2> argv{program_copy.data(), nullptr};

        std::array<int, 2> fds{};
        if (::pipe2(fds.data(), O_CLOEXEC) != 0) throw std::runtime_error("pipe2(): " + errno_text(errno));
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) {
            const int err = errno;
            ::close(fds[0]);
            ::close(fds[1]);
            throw std::runtime_error("fork(): " + errno_text(err));
        }
        if (pid == 0) {
            // The server dies with the test, even when the test itself is killed (ctest timeout).
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(126);
            ::dup2(fds[1], STDOUT_FILENO);  // the duplicate is not close-on-exec
            ::execve(argv[0], argv.data(), envp.data());
            static constexpr char msg[] = "rivetkit_crash_test: execve of the counter program failed\n";
            [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
            ::_exit(127);
        }
        pid_ = pid;
        out_fd_ = fds[0];
        ::close(fds[1]);
        try {
            wait_listening(port);
        } catch (...) {
            kill_now();
            throw;
        }
    }

    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    ~server_process() { kill_now(); }

    pid_t pid() const { return pid_; }

    /// SIGKILL and reap. Returns the wait status.
    int kill_now() {
        if (pid_ <= 0) return status_;
        ::kill(pid_, SIGKILL);
        reap();
        return status_;
    }

    /// SIGTERM, then wait for the process to exit (its stdout reaching end of file) up to
    /// `server_stop_timeout`; past that, SIGKILL and throw.
    int terminate() {
        if (pid_ <= 0) return status_;
        ::kill(pid_, SIGTERM);
        const auto deadline = clock_type::now() + server_stop_timeout;
        std::string ignored;
        while (read_some(ignored, deadline) > 0) {
        }
        if (clock_type::now() >= deadline) {
            kill_now();
            throw test_failure("the server did not stop within 30 s of SIGTERM");
        }
        reap();
        return status_;
    }

private:
    void reap() {
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        status_ = status;
        pid_ = -1;
        if (out_fd_ >= 0) ::close(out_fd_);
        out_fd_ = -1;
    }

    /// Reads what the child wrote to stdout into `out`, waiting until `deadline`. Returns the
    /// number of bytes read, 0 at end of file, -1 when the deadline passed.
    long read_some(std::string& out, clock_type::time_point deadline) {
        for (;;) {
            const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock_type::now()).count();
            if (left <= 0) return -1;
            pollfd p{out_fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, static_cast<int>(left));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) throw std::runtime_error("poll(): " + errno_text(errno));
            if (r == 0) continue;
            char buf[4096];
            const ssize_t n = ::read(out_fd_, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error("read(server stdout): " + errno_text(errno));
            out.append(buf, static_cast<std::size_t>(n));
            return static_cast<long>(n);
        }
    }

    void wait_listening(std::uint16_t port) {
        const auto deadline = clock_type::now() + server_start_timeout;
        std::string out;
        for (;;) {
            std::size_t line_start = 0;
            for (std::size_t nl; (nl = out.find('\n', line_start)) != std::string::npos; line_start = nl + 1) {
                std::string_view line(out.data() + line_start, nl - line_start);
                if (!line.starts_with(listening_prefix)) continue;
                const std::string announced(line.substr(listening_prefix.size()));
                if (announced != std::to_string(port))
                    throw test_failure("the server listens on port " + announced + ", not on PORT=" +
                                       std::to_string(port));
                return;  // the rest of its output (one more line) stays in the pipe
            }
            const long n = read_some(out, deadline);
            if (n < 0) throw test_failure("the server did not print its listening line within 30 s");
            if (n == 0) {
                reap();
                throw start_failure("the server " + describe_status(status_) +
                                    " before listening; its stdout: \"" + out + "\"");
            }
        }
    }

    pid_t pid_ = -1;
    int out_fd_ = -1;
    int status_ = 0;
};

// ---- HTTP/1.1 over a blocking socket ---------------------------------------------------------

struct http_response {
    int status = 0;
    std::string body;
    bool close = false;
};

/// One keep-alive connection to the server; one request at a time.
class http_connection {
public:
    enum class outcome {
        answered,     // a complete response arrived
        not_sent,     // the connection failed before any byte of the request left
        dropped,      // the request (or part of it) was sent, then the connection failed
        timed_out,    // sent, and no response within `response_timeout_seconds`
    };

    http_connection() = default;
    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;
    ~http_connection() { close(); }

    bool connect(std::uint16_t port) {
        close();
        fd_ = make_tcp_socket();
        sockaddr_in addr = loopback(port);
        int r;
        while ((r = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr)) != 0 && errno == EINTR) {
        }
        if (r != 0) {
            close();
            return false;
        }
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        timeval tv{response_timeout_seconds, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        in_.clear();
        return true;
    }

    bool connected() const { return fd_ >= 0; }

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    outcome exchange(std::string_view method, std::string_view path, std::string_view body,
                     http_response& res, std::string& error) {
        std::string req;
        req.append(method).append(" ").append(path).append(" HTTP/1.1\r\n");
        req.append("Host: 127.0.0.1\r\n");
        req.append("Content-Type: application/json\r\n");
        req.append("x-rivet-encoding: json\r\n");
        req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
        req.append(body);

        std::size_t sent = 0;
        while (sent < req.size()) {
            const ssize_t n = ::send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                error = "send(): " + errno_text(errno);
                close();
                return sent == 0 ? outcome::not_sent : outcome::dropped;
            }
            sent += static_cast<std::size_t>(n);
        }
        return read_response(res, error);
    }

private:
    /// Reads more bytes into in_; false (with `error` set) when the connection failed.
    bool fill(std::string& error, bool& timed_out) {
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
                error = "recv(): " + errno_text(errno);
                return false;
            }
            if (n == 0) {
                error = "connection closed by the server";
                return false;
            }
            in_.append(buf, static_cast<std::size_t>(n));
            return true;
        }
    }

    outcome read_response(http_response& res, std::string& error) {
        bool timed_out = false;
        std::size_t header_end;
        while ((header_end = in_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill(error, timed_out)) {
                close();
                return timed_out ? outcome::timed_out : outcome::dropped;
            }
        }
        const std::string head = in_.substr(0, header_end);
        in_.erase(0, header_end + 4);

        std::istringstream lines(head);
        std::string line;
        std::getline(lines, line);
        if (line.size() < 12 || !line.starts_with("HTTP/1.")) {
            error = "malformed status line: " + line;
            close();
            return outcome::dropped;
        }
        res = {};
        res.status = std::atoi(line.c_str() + 9);
        std::size_t length = 0;
        while (std::getline(lines, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            const auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            std::string name = line.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            if (name == "content-length") length = static_cast<std::size_t>(std::strtoull(value.c_str(), nullptr, 10));
            if (name == "connection" && (value == "close" || value == "Close")) res.close = true;
            if (name == "transfer-encoding") {
                error = "unexpected transfer-encoding: " + value;
                close();
                return outcome::dropped;
            }
        }
        while (in_.size() < length) {
            if (!fill(error, timed_out)) {
                close();
                return timed_out ? outcome::timed_out : outcome::dropped;
            }
        }
        res.body = in_.substr(0, length);
        in_.erase(0, length);
        if (res.close) close();
        return outcome::answered;
    }

    int fd_ = -1;
    std::string in_;
};

/// One request on a fresh connection (for the test's own calls, not the load).
http_response call(std::uint16_t port, std::string_view method, std::string_view path, std::string_view body) {
    http_connection conn;
    if (!conn.connect(port)) throw test_failure("cannot connect to the server: " + errno_text(errno));
    http_response res;
    std::string error;
    const auto out = conn.exchange(method, path, body, res, error);
    if (out != http_connection::outcome::answered)
        throw test_failure(std::string(method) + " " + std::string(path) + " failed: " + error);
    return res;
}

std::string resolve_actor(std::uint16_t port) {
    const auto res = call(port, "PUT", "/actors",
                          R"({"name":"counter","key":"crash","runner_name_selector":"default","crash_policy":"sleep"})");
    const auto j = nlohmann::json::parse(res.body, nullptr, false);
    if (res.status != 200 || j.is_discarded() || !j.contains("actor") || !j["actor"].contains("actor_id") ||
        !j["actor"]["actor_id"].is_string())
        throw test_failure("PUT /actors answered " + std::to_string(res.status) + ": " + res.body);
    return j["actor"]["actor_id"].get<std::string>();
}

/// {"output": n} with status 200, or nullopt.
std::optional<std::int64_t> output_of(const http_response& res) {
    if (res.status != 200) return std::nullopt;
    const auto j = nlohmann::json::parse(res.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("output") || !j["output"].is_number_integer())
        return std::nullopt;
    return j["output"].get<std::int64_t>();
}

std::int64_t read_count(std::uint16_t port, const std::string& actor_id) {
    const auto res = call(port, "POST", "/gateway/" + actor_id + "/action/getCount", R"({"args":[]})");
    const auto n = output_of(res);
    if (!n) throw test_failure("getCount answered " + std::to_string(res.status) + ": " + res.body);
    return *n;
}

// ---- the load --------------------------------------------------------------------------------

/// What the client threads of one round saw.
struct round_result {
    std::mutex mutex;
    std::vector<std::int64_t> acked_values;  // the n of every 200 {"output": n}
    std::int64_t in_flight = 0;              // sent, never answered (or answered with an error)
    std::vector<std::string> problems;       // anything that must not happen before the kill
};

void client_loop(std::uint16_t port, const std::string& path, const std::atomic<bool>& killing,
                 round_result& result) {
    std::vector<std::int64_t> acked;
    std::int64_t in_flight = 0;
    std::vector<std::string> problems;
    http_connection conn;
    for (;;) {
        if (!conn.connected() && !conn.connect(port)) {
            if (!killing.load()) problems.push_back("connect() failed before the kill: " + errno_text(errno));
            break;
        }
        http_response res;
        std::string error;
        const auto out = conn.exchange("POST", path, R"({"args":[1]})", res, error);
        if (out == http_connection::outcome::not_sent) {
            if (!killing.load()) problems.push_back("connection lost before the kill: " + error);
            break;
        }
        if (out != http_connection::outcome::answered) {
            ++in_flight;
            if (out == http_connection::outcome::timed_out)
                problems.push_back("no response within " + std::to_string(response_timeout_seconds) + " s");
            else if (!killing.load())
                problems.push_back("connection lost before the kill: " + error);
            break;
        }
        if (const auto n = output_of(res)) {
            acked.push_back(*n);
        } else {
            // An error reply acknowledges nothing, but the change may still be applied later.
            ++in_flight;
            problems.push_back("increment answered " + std::to_string(res.status) + ": " + res.body);
            break;  // the round fails; one report per client is enough
        }
    }
    std::lock_guard lock(result.mutex);
    result.acked_values.insert(result.acked_values.end(), acked.begin(), acked.end());
    result.in_flight += in_flight;
    result.problems.insert(result.problems.end(), problems.begin(), problems.end());
}

// ---- the test --------------------------------------------------------------------------------

struct options {
    std::string program;
    int rounds = 25;
    int clients = 4;
    std::uint64_t seed = 0;
    bool seed_given = false;
    int min_delay_ms = 30;
    int max_delay_ms = 400;
};

long parse_number(const std::string& text, const char* what) {
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < 0) throw std::invalid_argument(std::string("bad ") + what + ": " + text);
    return v;
}

options parse_options(int argc, char** argv) {
    options o;
    if (const char* r = std::getenv("RIVETKIT_CRASH_ROUNDS"); r != nullptr && *r != '\0')
        o.rounds = static_cast<int>(parse_number(r, "RIVETKIT_CRASH_ROUNDS"));
    if (const char* s = std::getenv("RIVETKIT_CRASH_SEED"); s != nullptr && *s != '\0') {
        o.seed = std::strtoull(s, nullptr, 10);
        o.seed_given = true;
    }
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--rounds") {
            o.rounds = static_cast<int>(parse_number(value(), "--rounds"));
        } else if (arg == "--clients") {
            o.clients = static_cast<int>(parse_number(value(), "--clients"));
        } else if (arg == "--seed") {
            o.seed = std::strtoull(value().c_str(), nullptr, 10);
            o.seed_given = true;
        } else if (o.program.empty() && !arg.starts_with("--")) {
            o.program = arg;
        } else {
            throw std::invalid_argument("unknown argument " + arg);
        }
    }
    if (o.program.empty()) throw std::invalid_argument("the path of the counter program is missing");
    if (o.rounds < 1 || o.clients < 1) throw std::invalid_argument("--rounds and --clients must be at least 1");
    if (!o.seed_given)
        o.seed = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    return o;
}

std::filesystem::path make_temp_dir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/rivetkit-crash-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp(" + pattern + "): " + errno_text(errno));
    return pattern;
}

/// Starts the server; on a port collision (someone else took the port since it was picked),
/// picks another one. Any other start failure fails the test.
std::unique_ptr<server_process> start_server(const options& o, const std::filesystem::path& dir, std::uint16_t& port) {
    for (int attempt = 1;; ++attempt) {
        try {
            return std::make_unique<server_process>(o.program, dir.string(), port);
        } catch (const server_process::start_failure& e) {
            if (attempt >= 5 || !port_taken(port)) throw test_failure(e.what());
            std::cout << "port " << port << " was taken by another process; trying another\n";
            port = pick_free_port();
        }
    }
}

/// The test proper; throws test_failure on a violation.
void run(const options& o, const std::filesystem::path& dir) {
    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<int> delay_dist(o.min_delay_ms, o.max_delay_ms);
    std::uint16_t port = pick_free_port();
    std::cout << "crash test: " << o.rounds << " rounds, " << o.clients << " clients, kill after "
              << o.min_delay_ms << ".." << o.max_delay_ms << " ms, seed " << o.seed
              << " (RIVETKIT_CRASH_SEED=" << o.seed << " repeats the delays)\n"
              << "program " << o.program << "\ndata " << dir.string() << ", port " << port << "\n"
              << std::flush;

    std::int64_t acked_total = 0;
    std::int64_t in_flight_total = 0;
    std::set<std::int64_t> all_acked;  // every value acknowledged so far, over all rounds
    std::int64_t count_before = 0;     // the count read at the start of the round under check
    std::vector<std::int64_t> last_acked;
    std::int64_t last_in_flight = 0;
    int last_delay = 0;
    std::string actor_id;
    const auto test_start = clock_type::now();

    for (int round = 1; round <= o.rounds + 1; ++round) {
        auto server = start_server(o, dir, port);
        const std::string id = resolve_actor(port);
        if (!actor_id.empty() && id != actor_id)
            throw test_failure("the actor id changed across restarts: " + actor_id + " -> " + id);
        actor_id = id;
        const std::int64_t count = read_count(port, actor_id);

        if (round == 1) {
            if (count != 0) throw test_failure("a fresh data directory has count " + std::to_string(count));
        } else {
            // Check the previous round now that the server restarted on its data.
            const std::int64_t acked = static_cast<std::int64_t>(last_acked.size());
            const std::int64_t lo = count_before + acked;
            const std::int64_t hi = lo + last_in_flight;
            std::cout << "round " << (round - 1) << "/" << o.rounds << ": delay " << last_delay << " ms, acked "
                      << acked << ", in flight " << last_in_flight << ", count " << count_before << " -> " << count
                      << " (allowed " << lo << ".." << hi << "; totals: acked " << acked_total << ", in flight "
                      << in_flight_total << ")\n"
                      << std::flush;
            std::ostringstream why;
            if (count < lo)
                why << "LOST ACKNOWLEDGED INCREMENTS: count " << count << " after restart, but " << count_before
                    << " before the round and " << acked << " increments acknowledged in it (" << (lo - count)
                    << " missing)";
            else if (count > hi)
                why << "count " << count << " after restart exceeds " << count_before << " + " << acked
                    << " acknowledged + " << last_in_flight << " in flight";
            else if (count < acked_total || count > acked_total + in_flight_total)
                why << "count " << count << " outside the totals " << acked_total << ".."
                    << (acked_total + in_flight_total);
            for (const auto n : last_acked) {
                if (!why.str().empty()) break;
                if (n <= count_before || n > count)
                    why << "an increment was acknowledged with value " << n << ", outside " << count_before
                        << " < n <= " << count << " (the counts before and after the round)";
            }
            if (!why.str().empty())
                throw test_failure("round " + std::to_string(round - 1) + " (delay " + std::to_string(last_delay) +
                                   " ms): " + why.str());
        }
        count_before = count;
        if (round > o.rounds) {
            const int status = server->terminate();
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                throw test_failure("the server did not stop cleanly on SIGTERM: " + describe_status(status));
            break;
        }

        // Load, then the kill.
        const int delay = delay_dist(rng);
        const std::string path = "/gateway/" + actor_id + "/action/increment";
        round_result result;
        std::atomic<bool> killing{false};
        std::vector<std::thread> clients;
        const auto kill_at = clock_type::now() + milliseconds(delay);
        try {
            for (int i = 0; i < o.clients; ++i)
                clients.emplace_back(client_loop, port, std::cref(path), std::cref(killing), std::ref(result));
        } catch (...) {
            server->kill_now();
            for (auto& t : clients) t.join();
            throw;
        }
        std::this_thread::sleep_until(kill_at);  // the random kill moment is the test's input
        killing = true;
        const int status = server->kill_now();
        for (auto& t : clients) t.join();  // each ends when its connection drops
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            result.problems.push_back("the server was not killed by SIGKILL but " + describe_status(status));
        if (!result.problems.empty()) {
            std::string all;
            for (const auto& p : result.problems) all += "\n  " + p;
            throw test_failure("round " + std::to_string(round) + " (delay " + std::to_string(delay) + " ms):" + all);
        }
        for (const auto n : result.acked_values) {
            if (!all_acked.insert(n).second)
                throw test_failure("round " + std::to_string(round) + ": the value " + std::to_string(n) +
                                   " was acknowledged twice (an acknowledged increment was lost and its value "
                                   "handed out again)");
        }
        last_acked = std::move(result.acked_values);
        last_in_flight = result.in_flight;
        last_delay = delay;
        acked_total += static_cast<std::int64_t>(last_acked.size());
        in_flight_total += last_in_flight;
    }

    const auto elapsed = std::chrono::duration_cast<milliseconds>(clock_type::now() - test_start).count();
    std::cout << "crash test passed: " << o.rounds << " rounds, " << acked_total << " acknowledged increments, "
              << in_flight_total << " in flight at the kills, final count " << count_before << ", " << elapsed
              << " ms\n";
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    try {
        o = parse_options(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "rivetkit_crash_test: " << e.what()
                  << "\nusage: rivetkit_crash_test <counter program> [--rounds N] [--seed S] [--clients N]\n";
        return 2;
    }
    std::filesystem::path dir;
    try {
        dir = make_temp_dir();
        run(o, dir);  // every server it starts is stopped (or killed) and reaped when it returns
    } catch (const std::exception& e) {
        std::cout << std::flush;
        std::cerr << "CRASH TEST FAILED (seed " << o.seed << "): " << e.what() << "\n";
        if (!dir.empty()) std::cerr << "the data directory is kept for inspection: " << dir.string() << "\n";
        return 1;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return 0;
}
