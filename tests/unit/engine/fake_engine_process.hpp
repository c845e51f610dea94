#pragma once
// The fake Rivet Engine (tests/engine/fake_engine, Node) as a child process for the engine
// driver's unit tests, driven through its /__fake HTTP control API, plus an io_context thread the
// code under test runs on. Starts the process the way the client tests start their servers
// (client/server_process.hpp: PORT=0, "listening on N").

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include "client/server_process.hpp"
#include "net/http_client.hpp"
#include "rivetkit/task.hpp"

namespace engine_test {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// An io_context running on its own thread for the length of a test.
class io_thread {
public:
    io_thread() : guard_(io.get_executor()), thread_([this] { io.run(); }) {}
    ~io_thread() {
        guard_.reset();
        io.stop();
        thread_.join();
    }
    io_thread(const io_thread&) = delete;
    io_thread& operator=(const io_thread&) = delete;

    /// Runs `t` on the io thread and waits for it (at most `limit`).
    template <class T>
    T run(rivetkit::task<T> t, std::chrono::milliseconds limit = 20s) {
        auto fut = asio::co_spawn(io, std::move(t), asio::use_future);
        if (fut.wait_for(limit) != std::future_status::ready) FAIL("a task did not finish in time");
        return fut.get();
    }

    asio::io_context io;

private:
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    std::thread thread_;
};

/// Whether node is configured; installs the fake's npm packages once per test process.
inline bool fake_engine_available() {
    static const bool ok = [] {
        const std::string node = RIVETKIT_TEST_NODE;
        if (node.empty()) return false;
        const std::string cmd = std::string("bash '") + RIVETKIT_TEST_NPM_INSTALL + "' '" +
                                RIVETKIT_TEST_FAKE_ENGINE_DIR + "' 1>&2";
        return std::system(cmd.c_str()) == 0;
    }();
    return ok;
}

/// Skips the current test case (with a warning) when the fake engine cannot run.
#define ENGINE_TEST_REQUIRE_FAKE()                                                                      \
    do {                                                                                                \
        if (!::engine_test::fake_engine_available()) {                                                  \
            WARN("node (or the fake engine's npm packages) is unavailable: skipping this engine test"); \
            return;                                                                                     \
        }                                                                                               \
    } while (false)

/// A fresh fake engine on an ephemeral port. `options` are FAKE_ENGINE_* variables.
class fake_engine {
public:
    fake_engine(io_thread& io, std::map<std::string, std::string> options)
        : io_(io),
          process_({RIVETKIT_TEST_NODE, std::string(RIVETKIT_TEST_FAKE_ENGINE_DIR) + "/fake_engine.mjs"},
                   std::move(options)),
          http_(io.io.get_executor(), rivetkit::net::http_client_options{}) {}

    [[nodiscard]] std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(process_.port); }

    /// One HTTP request to the fake (gateway, REST), answered as it is.
    rivetkit::http_response raw(const std::string& method, const std::string& target) {
        auto u = rivetkit::net::parse_url(endpoint());
        REQUIRE(u);
        auto req = http_.request(*u, method, target, {}, {}, 30s);
        return io_.run(std::move(req), 35s);
    }

    /// One control API call; the parsed answer. Fails the test on a status other than `expect`.
    json call(const std::string& method, const std::string& target, const json& body = nullptr, int expect = 200) {
        auto u = rivetkit::net::parse_url(endpoint());
        REQUIRE(u);
        rivetkit::http_headers headers;
        std::string payload;
        if (!body.is_null()) {
            headers.emplace_back("content-type", "application/json");
            payload = body.dump();
        }
        auto req = http_.request(*u, method, target, std::move(headers), std::move(payload), 30s);
        const rivetkit::http_response r = io_.run(std::move(req), 35s);
        INFO(method << " " << target << " -> " << r.status << " " << r.body);
        REQUIRE(r.status == expect);
        return r.body.empty() ? json(nullptr) : json::parse(r.body);
    }

    /// Waits (in the fake) for a logged message matching `filter` ({dir, tag, runnerId, actorId,
    /// kind, since}).
    json wait_message(json filter, int timeout_ms = 10000) {
        filter["timeoutMs"] = timeout_ms;
        return call("POST", "/__fake/wait/message", filter)["message"];
    }

    /// The message log, filtered by a query string ("dir=fromRunner&tag=ToServerInit").
    json messages(const std::string& query = "") {
        return call("GET", "/__fake/messages" + (query.empty() ? "" : "?" + query))["messages"];
    }

    json runner(const std::string& id) { return call("GET", "/__fake/runners/" + id)["runner"]; }

    json create_actor(const json& body) { return call("POST", "/__fake/actors", body)["actor"]; }

private:
    io_thread& io_;
    client_test::server_process process_;
    rivetkit::net::http_client http_;
};

}  // namespace engine_test
