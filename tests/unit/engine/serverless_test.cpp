// Serverless mode of the engine driver (engine-protocol.md §6): the registry's server answers
// the engine's GET /start with an event stream (the init packet naming a runner it connected,
// then pings) and GET /metadata; the fake engine's serverless pool opens /start requests when
// actors need a runner, and drains them. Synchronisation is by the fake's wait endpoints,
// client results and the event stream's own bytes; no sleeps.

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include "client/waiting.hpp"
#include "common/base64.hpp"
#include "engine/fake_engine_process.hpp"
#include "engine_host.hpp"
#include "protocol/runner_protocol.hpp"
#include "rivetkit/client.hpp"
#include "rivetkit/drivers/engine.hpp"
#include "rivetkit/registry.hpp"

using namespace engine_test;
using rivetkit::value;

namespace {

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

const auto counter = rivetkit::actor<counter_state>()
                         .action<"increment">([](auto& c, std::int64_t by) { return c.state().count += by; })
                         .action<"getCount">([](auto& c) { return std::as_const(c).state().count; });

rivetkit::driver_factory serverless_driver() {
    rivetkit::engine::runner_connection_options o;
    o.reconnect_initial = 50ms;
    o.reconnect_max = 200ms;
    rivetkit::engine::host_options h;
    h.drain_timeout = 10s;
    h.serverless = true;
    return rivetkit::engine::make_engine_driver(o, h);
}

/// A registry in serverless mode, listening on an ephemeral port.
struct serverless_server {
    serverless_server() {
        rivetkit::registry_config config;
        config.driver = serverless_driver();
        config.threads = 2;
        reg.emplace(rivetkit::setup({{"counter", counter}}, std::move(config)));
        rivetkit::server_options s;
        s.port = 0;
        port = reg->listen(std::move(s));
    }

    [[nodiscard]] std::string url(const std::string& path = "") const {
        return "http://127.0.0.1:" + std::to_string(port) + path;
    }

    /// One request to the registry's server.
    rivetkit::http_response get(io_thread& io, const std::string& target, rivetkit::http_headers headers = {}) {
        rivetkit::net::http_client http(io.io.get_executor(), rivetkit::net::http_client_options{});
        auto u = rivetkit::net::parse_url(url());
        REQUIRE(u);
        auto req = http.request(*u, "GET", target, std::move(headers), {}, 10s);
        return io.run(std::move(req), 15s);
    }

    std::optional<rivetkit::registry> reg;
    std::uint16_t port = 0;
};

/// A GET /start made by hand on a blocking socket, reading the event stream as it comes.
class start_stream {
public:
    start_stream(std::uint16_t port, const rivetkit::http_headers& headers) : socket_(io_) {
        asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
        socket_.connect(ep);
        std::string req = "GET /api/rivet/start HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
        for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
        req += "\r\n";
        asio::write(socket_, asio::buffer(req));
        asio::read_until(socket_, buf_, "\r\n\r\n");
        std::istream in(&buf_);
        std::getline(in, status_line);
        for (std::string line; std::getline(in, line) && line != "\r";) head += line + "\n";
    }

    /// The next event's lines ("event: ping\ndata: "), without the blank line ending it.
    std::string next_event() {
        asio::read_until(socket_, buf_, "\n\n");
        std::istream in(&buf_);
        std::string out;
        for (std::string line; std::getline(in, line) && !line.empty();) out += (out.empty() ? "" : "\n") + line;
        return out;
    }

    /// The engine goes away: the request is aborted.
    void abort() { socket_.close(); }

    std::string status_line;
    std::string head;

private:
    asio::io_context io_;
    asio::ip::tcp::socket socket_;
    asio::streambuf buf_;
};

/// The headers the engine sends with GET /start.
rivetkit::http_headers start_headers(const std::string& endpoint, const std::string& slots,
                                     const std::string& runner_name = "default") {
    return {{"x-rivet-endpoint", endpoint},
            {"x-rivet-total-slots", slots},
            {"x-rivet-runner-name", runner_name},
            {"x-rivet-namespace-name", "default"}};
}

json error_body(const rivetkit::http_response& r) {
    INFO(r.status << " " << r.body);
    return json::parse(r.body);
}

}  // namespace

TEST_CASE("serverless: the pool of the engine starts runners through GET /start and actors run on them",
          "[engine][serverless]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {{"FAKE_ENGINE_PING_INTERVAL_MS", "500"}});
    serverless_server server;
    // The engine's runner config points at the registry; the pool opens a /start request when an
    // actor needs a runner (slotsPerRunner goes out as x-rivet-total-slots).
    fake.call("PUT", "/__fake/serverless/default", {{"url", server.url("/api/rivet")}, {"slotsPerRunner", 7}});

    auto actor = fake.create_actor({{"name", "counter"}, {"key", "s1"}, {"crashPolicy", "sleep"}});
    const std::string id = actor["actorId"];
    auto running = fake.call("POST", "/__fake/wait/actor", {{"actorId", id}, {"state", "running"}, {"timeoutMs", 10000}})["actor"];
    const std::string runner_id = running["runnerId"];

    // The stream's first event named that runner (the fake decoded it with the official codec).
    auto init = fake.wait_message({{"dir", "fromServerless"}});
    CHECK(init["msg"]["tag"] == "ToServerlessServerInit");
    CHECK(init["msg"]["val"]["runnerId"] == runner_id);
    auto runner = fake.runner(runner_id);
    CHECK(runner["totalSlots"] == 7);
    CHECK(runner["name"] == "default");
    CHECK_FALSE(runner["serverless"].is_null());

    rivetkit::client_options co;
    co.endpoint = fake.endpoint();
    auto client = rivetkit::create_client(std::move(co));
    auto h = client.get_for_id("counter", id);
    CHECK(h.call("increment", 5) == value(5));

    // The engine drains the runner: its actor sleeps (state kept), the stream and the runner end.
    fake.call("POST", "/__fake/runners/" + runner_id + "/drain", json::object());
    fake.call("POST", "/__fake/wait/actor", {{"actorId", id}, {"state", "sleeping"}, {"timeoutMs", 10000}});
    auto& host = dynamic_cast<rivetkit::engine::engine_host&>(server.reg->core().manager());
    io.run(host.idle());
    CHECK(host.running_count() == 0);

    // Traffic wakes the actor: the pool starts a new runner, which reads the state from KV.
    CHECK(h.call("increment", 1) == value(6));
    auto woken = fake.call("GET", "/__fake/actors/" + id)["actor"];
    CHECK(woken["runnerId"] != runner_id);
    CHECK(woken["generation"] == 1);

    // Stopping the registry drains its runners; the actor sleeps again.
    server.reg->stop();
    fake.call("POST", "/__fake/wait/actor", {{"actorId", id}, {"state", "sleeping"}, {"timeoutMs", 10000}});
    CHECK(host.runner_count() == 0);
}

TEST_CASE("serverless: GET /start streams the init packet and pings, and an aborted request stops the runner",
          "[engine][serverless]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {{"FAKE_ENGINE_PING_INTERVAL_MS", "500"}});
    serverless_server server;
    start_stream stream(server.port, start_headers(fake.endpoint(), "3", "manual"));
    CHECK(stream.status_line.starts_with("HTTP/1.1 200"));
    CHECK_THAT(stream.head, Catch::Contains("text/event-stream"));
    CHECK_THAT(stream.head, Catch::Contains("no-cache"));

    // data: base64(u16le 5 ‖ ToServerlessServerInit{runnerId, 5})
    const std::string first = stream.next_event();
    REQUIRE(first.starts_with("data: "));
    auto bytes = rivetkit::base64_decode(first.substr(6));
    REQUIRE(bytes);
    auto decoded = rivetkit::engine::rp::decode_to_serverless_server(*bytes);
    const auto& init = std::get<rivetkit::engine::rp::to_serverless_server_init>(decoded);
    CHECK(init.runner_protocol_version == 5);
    auto runner = fake.runner(init.runner_id);
    CHECK(runner["connected"] == true);
    CHECK(runner["name"] == "manual");
    CHECK(runner["totalSlots"] == 3);
    // Then a ping every second while the runner lives.
    CHECK(stream.next_event() == "event: ping\ndata: ");

    // The engine goes away mid-stream: the runner stops gracefully (ToServerStopping) and ends.
    auto since = fake.call("GET", "/__fake/messages")["lastSeq"];
    stream.abort();
    fake.wait_message({{"dir", "fromRunner"}, {"runnerId", init.runner_id}, {"tag", "ToServerStopping"}, {"since", since}});
    fake.call("POST", "/__fake/wait/runner", {{"runnerId", init.runner_id}, {"connected", false}, {"timeoutMs", 10000}});
}

TEST_CASE("serverless: the server answers only the routes of the engine, and checks the headers of /start",
          "[engine][serverless]") {
    io_thread io;
    serverless_server server;

    auto metadata = server.get(io, "/api/rivet/metadata");
    REQUIRE(metadata.status == 200);
    auto m = json::parse(metadata.body);
    CHECK(m["runtime"] == "rivetkit");
    CHECK(m["runner"]["kind"].contains("serverless"));
    CHECK(m["actorNames"].contains("counter"));
    // Without a base path, /metadata answers too (the engine's config may point at either).
    CHECK(server.get(io, "/metadata").status == 200);
    auto health = server.get(io, "/api/rivet/health");
    CHECK(health.status == 200);
    CHECK(json::parse(health.body)["status"] == "ok");

    // No manager API or gateway: the engine reaches actors through its runners.
    CHECK(server.get(io, "/actors?name=counter").status == 404);
    CHECK(server.get(io, "/gateway/abc/action/x").status == 404);

    auto missing = server.get(io, "/api/rivet/start", {{"x-rivet-total-slots", "1"}});
    CHECK(missing.status == 400);
    auto e = error_body(missing);
    CHECK(e["group"] == "request");
    CHECK(e["code"] == "invalid");
    CHECK(e["message"] == "x-rivet-endpoint header is required");

    auto slots = server.get(io, "/api/rivet/start", start_headers("http://127.0.0.1:1", "0"));
    CHECK(slots.status == 400);
    CHECK_THAT(error_body(slots)["message"].get<std::string>(), Catch::Contains("x-rivet-total-slots"));

    auto endpoint = server.get(io, "/api/rivet/start", start_headers("not a url", "1"));
    CHECK(endpoint.status == 400);
    CHECK_THAT(error_body(endpoint)["message"].get<std::string>(), Catch::Contains("not a url"));

    // registry.handler() cannot stream: /start says so instead of hanging.
    auto h = server.reg->handler({.base_path = "/api/rivet"});
    rivetkit::http_request start;
    start.path = "/api/rivet/start";
    auto res = h.handle_sync(std::move(start));
    CHECK(res.status == 400);
    CHECK(json::parse(res.body)["code"] == "streaming_unsupported");
}

TEST_CASE("serverless: each entry point needs the matching runner kind", "[engine][serverless]") {
    rivetkit::registry_config serverless_config;
    serverless_config.driver = serverless_driver();
    auto serverless = rivetkit::setup({{"counter", counter}}, std::move(serverless_config));
    CHECK_THROWS_WITH(serverless.start_runner(), Catch::Contains("serverless"));

    rivetkit::drivers::engine_options normal_options;
    normal_options.kind = rivetkit::drivers::runner_kind::normal;
    rivetkit::registry_config normal_config;
    normal_config.driver = rivetkit::drivers::engine(normal_options);
    auto normal = rivetkit::setup({{"counter", counter}}, std::move(normal_config));
    rivetkit::server_options s;
    s.port = 0;
    CHECK_THROWS_WITH(normal.listen(s), Catch::Contains("start_runner()"));
    CHECK_THROWS_AS(normal.handler(), std::logic_error);
}
