#pragma once
// A RivetKit server as a child process, for the client tests: our interop server
// (tests/interop/server) or the TypeScript reference server (tests/interop/reference_server).
// Both take PORT, HOST, RIVETKIT_DATA_PATH (and BASE_PATH) from the environment and print
// "listening on <port>" on stdout once they accept connections.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace client_test {

class server_process {
public:
    /// Starts `argv` (argv[0] is looked up on PATH) with `env` added to the environment and
    /// waits until it listens. PORT defaults to "0" (the server picks a free port).
    server_process(std::vector<std::string> argv, std::map<std::string, std::string> env)
        : argv_(std::move(argv)), env_(std::move(env)) {
        env_.try_emplace("PORT", "0");
        env_.try_emplace("HOST", "127.0.0.1");
        start();
    }
    ~server_process() { stop(); }
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    /// Starts the server again; after the first start it listens on the same port.
    void start() {
        REQUIRE(pid_ <= 0);
        if (port != 0) env_["PORT"] = std::to_string(port);
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        std::vector<char*> args;
        for (auto& a : argv_) args.push_back(a.data());
        args.push_back(nullptr);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::dup2(fds[1], STDOUT_FILENO);
            ::close(fds[0]);
            ::close(fds[1]);
            // The server must not see a test's client-side settings (RIVET_ENGINE would make the
            // reference server choose its engine driver).
            for (const char* name : {"RIVET_ENGINE", "RIVET_ENDPOINT", "RIVET_TOKEN", "RIVET_NAMESPACE", "RIVET_RUNNER"}) {
                ::unsetenv(name);
            }
            for (const auto& [k, v] : env_) ::setenv(k.c_str(), v.c_str(), 1);
            ::execvp(args[0], args.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        // Wait for the line "listening on <port>".
        std::string out;
        static const std::regex listening("listening on (\\d+)");
        std::smatch m;
        const auto end = std::chrono::steady_clock::now() + startup_timeout;
        while (!std::regex_search(out, m, listening) || out.find('\n', static_cast<std::size_t>(m.position(0))) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            pollfd p{fds[0], POLLIN, 0};
            const int ready = left.count() <= 0 ? 0 : ::poll(&p, 1, static_cast<int>(left.count()));
            if (ready < 0 && errno == EINTR) continue;
            if (ready != 1) {
                const int poll_errno = errno;
                const bool running = ::waitpid(pid_, nullptr, WNOHANG) == 0;
                ::close(fds[0]);
                stop();
                FAIL("the server " << argv_.back() << " did not start within "
                                   << std::chrono::duration_cast<std::chrono::seconds>(startup_timeout).count()
                                   << " s (poll: " << ready << (ready < 0 ? std::string(", ") + std::strerror(poll_errno) : "")
                                   << "; the process " << (running ? "was still running" : "had exited")
                                   << "); output: " << out);
            }
            char buf[256];
            const auto n = ::read(fds[0], buf, sizeof buf);
            if (n <= 0) {
                ::close(fds[0]);
                stop();
                FAIL("the server " << argv_.back() << " exited; output: " << out);
            }
            out.append(buf, static_cast<std::size_t>(n));
        }
        // The read end stays open until stop(), so a later write to stdout cannot fail with
        // EPIPE (the servers print nothing else there; their logs go to stderr).
        stdout_fd_ = fds[0];
        port = static_cast<std::uint16_t>(std::stoi(m[1].str()));
    }

    /// SIGTERM, then SIGKILL after the timeout.
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > end) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        pid_ = -1;
        if (stdout_fd_ >= 0) ::close(stdout_fd_);
        stdout_fd_ = -1;
    }

    std::uint16_t port = 0;
    static constexpr auto startup_timeout = std::chrono::seconds(30);

private:
    std::vector<std::string> argv_;
    std::map<std::string, std::string> env_;
    pid_t pid_ = -1;
    int stdout_fd_ = -1;
};

/// The TypeScript reference server's script when the tests run against it
/// (RIVETKIT_CLIENT_TEST_REFERENCE=<path to server.mjs>), else empty.
inline std::string reference_server_script() {
    const char* s = std::getenv("RIVETKIT_CLIENT_TEST_REFERENCE");
    return s ? s : "";
}
inline bool against_reference() { return !reference_server_script().empty(); }

/// A fresh directory under the system temp dir, removed on destruction.
class temp_dir {
public:
    explicit temp_dir(const std::string& prefix) {
        std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::filesystem::path path;
};

/// The server the restart test stops and starts: ours (the interop server, file-system driver)
/// or the reference (its file-system driver), on a fresh data directory.
inline std::vector<std::string> restartable_server_command() {
    if (against_reference()) return {"node", reference_server_script()};
#ifdef RIVETKIT_TEST_SERVER_BINARY
    return {RIVETKIT_TEST_SERVER_BINARY};
#else
    FAIL("RIVETKIT_TEST_SERVER_BINARY is not set");
    return {};
#endif
}

}  // namespace client_test
