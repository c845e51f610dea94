#pragma once
// Helpers for the remote client tests: the server they talk to (our registry in process, or the
// TypeScript reference server as a process), the test actors, thread-safe recorders to await callbacks (a condition variable with a
// deadline, never a sleep), and environment/encoding helpers.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/http_server.hpp>
#include <rivetkit/rivetkit.hpp>

#include "server_process.hpp"
#include "waiting.hpp"

namespace client_test {

using namespace std::chrono_literals;


struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

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
        .action<"echoArgs">([](auto&, rivetkit::value a, std::string b) { return rivetkit::array{a, rivetkit::value(b)}; })
        .action<"noop">([](auto&) {})
        .action<"getParams">([](auto& c) { return c.conn().raw_params(); })
        .action<"getInput">([](auto& c) { return c.input(); })
        .action<"emit">([](auto& c, std::string name, rivetkit::value payload) { c.broadcast(name, payload); })
        .action<"sendToMe">([](auto& c, std::string name) { c.conn().send(name, std::int64_t{1}); })
        .action<"kickMe">([](auto& c) { c.conn().disconnect("kicked"); })
        .action<"throwUser">([](auto&) -> std::int64_t {
            throw rivetkit::user_error("bad thing", "my_code", rivetkit::object{{"a", std::int64_t{1}}});
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
            const std::string* extra = req.header("x-extra");
            o["xExtra"] = extra ? nlohmann::json(*extra) : nlohmann::json(nullptr);
            const std::string* token = req.header("x-rivet-token");
            o["xRivetToken"] = token ? nlohmann::json(*token) : nlohmann::json(nullptr);
            const auto p = member(c.conn().raw_params(), "token");
            o["paramToken"] = p.is_string() ? nlohmann::json(p.as_string()) : nlohmann::json(nullptr);
            auto res = rivetkit::http_response::json(o.dump(), 201);
            res.headers.emplace_back("x-actor", "counter");
            return res;
        })
        .on_websocket([](auto& c, std::shared_ptr<rivetkit::websocket> ws) {
            std::string where = c.request() ? c.request()->path + "?" + c.request()->query : std::string("?");
            const auto p = member(c.conn().raw_params(), "token");
            ws->send("hello " + where + (p.is_string() ? " token=" + p.as_string() : std::string()));
            ws->on_message([ws](const rivetkit::websocket_message& m) {
                if (m.binary) {
                    ws->send_binary(std::span(reinterpret_cast<const std::uint8_t*>(m.data.data()), m.data.size()));
                } else if (m.data == "close") {
                    ws->close(4000, "asked");
                } else {
                    ws->send("echo:" + m.data);
                }
            });
        });

/// An actor without on_request / on_websocket.
inline const auto plain_actor = rivetkit::actor<rivetkit::value, rivetkit::value, rivetkit::value, rivetkit::value,
                                                rivetkit::value>()
                                    .action<"ping">([](auto&) { return std::string("pong"); });

inline rivetkit::registry make_registry() {
    rivetkit::registry_config cfg;
    cfg.driver = rivetkit::drivers::memory();
    cfg.threads = 2;
    return rivetkit::setup({{"counter", counter_actor}, {"plain", plain_actor}}, std::move(cfg));
}

/// The server a test talks to: by default a registry on the memory driver served in process on
/// 127.0.0.1 at an ephemeral port. With RIVETKIT_CLIENT_TEST_REFERENCE set, the TypeScript
/// reference server (rivetkit@2.0.33, tests/interop/reference_server) hosting the same actors,
/// as a fresh process with its own data directory: the same tests then check that our client
/// interoperates with the reference, not merely with our own server.
class served_registry {
public:
    explicit served_registry(std::string base_path = "/") {
        if (against_reference()) {
            data_ = std::make_unique<temp_dir>("rivetkit-client-reference");
            std::map<std::string, std::string> env{{"RIVETKIT_DATA_PATH", data_->path.string()}};
            if (base_path != "/") env["BASE_PATH"] = base_path;
            process_ = std::make_unique<server_process>(std::vector<std::string>{"node", reference_server_script()},
                                                        std::move(env));
            port = process_->port;
            return;
        }
        registry_.emplace(make_registry());
        ::unsetenv("HOST");
        ::unsetenv("PORT");
        registry_->start();
        rivetkit::server_options o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.base_path = std::move(base_path);
        port = registry_->listen(o);
    }
    ~served_registry() {
        if (registry_) registry_->stop();
    }
    served_registry(const served_registry&) = delete;
    served_registry& operator=(const served_registry&) = delete;

    [[nodiscard]] std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port); }

    std::uint16_t port = 0;

private:
    std::optional<rivetkit::registry> registry_;
    std::unique_ptr<temp_dir> data_;
    std::unique_ptr<server_process> process_;
};

inline rivetkit::client_encoding parse_encoding(std::string_view name) {
    if (name == "json") return rivetkit::client_encoding::json;
    if (name == "cbor") return rivetkit::client_encoding::cbor;
    return rivetkit::client_encoding::bare;
}

/// Client options for `endpoint` in `encoding`, with the environment out of the way.
inline rivetkit::client_options options_for(const std::string& endpoint, std::string_view encoding = "bare") {
    rivetkit::client_options o;
    o.endpoint = endpoint;
    o.encoding = parse_encoding(encoding);
    o.namespace_name = "default";
    o.runner_name = "default";
    // Fast reconnects in tests; the schedule itself is checked elsewhere.
    o.reconnect.initial_delay = 50ms;
    o.reconnect.max_delay = 500ms;
    return o;
}

/// Sets (or unsets, with nullopt) an environment variable for a scope.
class scoped_env {
public:
    scoped_env(std::string name, std::optional<std::string> v) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = old;
        if (v) {
            ::setenv(name_.c_str(), v->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    ~scoped_env() {
        if (old_) {
            ::setenv(name_.c_str(), old_->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

/// Polls `pred` until it holds (fails after the guard); for state without a callback.
template <class P>
void poll_until(P pred, std::chrono::milliseconds timeout = guard) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) FAIL("condition not reached in time");
        std::this_thread::sleep_for(5ms);
    }
}

}  // namespace client_test
