// The engine driver running actors for the fake Rivet Engine (a fresh Node process per case):
// a registry started with start_runner() hosts the actors the fake allocates to it; clients
// reach them through the fake's gateway with the C++ client. Synchronisation is by the fake's
// wait endpoints, client results and recorded events; no sleeps.

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "client/waiting.hpp"
#include "engine/fake_engine_process.hpp"
#include "engine_host.hpp"
#include "rivetkit/client.hpp"
#include "rivetkit/registry.hpp"
#include "rivetkit/drivers/engine.hpp"

using namespace engine_test;
using client_test::recorder;
using rivetkit::value;

namespace {

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

const auto counter = rivetkit::actor<counter_state>()
                         .action<"increment">([](auto& c, std::int64_t by) {
                             c.state().count += by;
                             c.broadcast("newCount", c.state().count);
                             return c.state().count;
                         })
                         .action<"getCount">([](auto& c) { return std::as_const(c).state().count; })
                         .action<"goToSleep">([](auto& c) { c.sleep(); })
                         .action<"destroyMe">([](auto& c) { c.destroy(); })
                         .action<"incrementLater">([](auto& c, std::int64_t delay_ms, std::int64_t by) {
                             c.schedule().after(delay_ms, "increment", by);
                         })
                         // Another actor through c.client(): a client of the engine.
                         .action<"incrementOther">(
                             [](auto& c, std::string key, std::int64_t by) -> rivetkit::task<value> {
                                 auto other = c.client().get_or_create("counter", rivetkit::actor_key{key});
                                 auto call = other.async_call("increment", by);
                                 co_return co_await std::move(call);
                             })
                         .on_request([](auto& c, const rivetkit::http_request& req) {
                             return rivetkit::http_response::text(
                                 req.method + " " + req.path + "?" + req.query + " " + req.body + " count=" +
                                     std::to_string(std::as_const(c).state().count),
                                 202);
                         })
                         .on_websocket([](auto&, std::shared_ptr<rivetkit::websocket> ws) {
                             ws->on_message([ws](const rivetkit::websocket_message& m) { ws->send("echo:" + m.data); });
                         });

/// A fake engine, and a registry running as its runner.
struct runner_fixture {
    explicit runner_fixture(std::map<std::string, std::string> fake_options = {{"FAKE_ENGINE_PING_INTERVAL_MS", "500"}})
        : fake(io, std::move(fake_options)) {
        start_runner("test-runner");
    }

    void start_runner(const std::string& key) {
        rivetkit::engine::runner_connection_options o;
        o.endpoint = fake.endpoint();
        o.runner_key = key;
        o.reconnect_initial = 50ms;
        o.reconnect_max = 200ms;
        rivetkit::engine::host_options h;
        h.drain_timeout = 10s;
        rivetkit::registry_config config;
        config.driver = rivetkit::engine::make_engine_driver(o, h);
        config.threads = 2;
        reg.emplace(rivetkit::setup({{"counter", counter}}, std::move(config)));
        reg->start_runner();
        runner = fake.call("POST", "/__fake/wait/runner", {{"key", key}, {"connected", true}, {"timeoutMs", 10000}})["runner"];
    }

    /// A new actor (crash policy sleep, as RivetKit creates them) that is running on the runner.
    std::string create_running(const std::string& key) {
        auto actor = fake.create_actor({{"name", "counter"}, {"key", key}, {"crashPolicy", "sleep"}});
        std::string id = actor["actorId"];
        wait_state(id, "running");
        return id;
    }

    json wait_state(const std::string& id, const json& states) {
        return fake.call("POST", "/__fake/wait/actor", {{"actorId", id}, {"state", states}, {"timeoutMs", 10000}})["actor"];
    }

    rivetkit::client client() {
        rivetkit::client_options o;
        o.endpoint = fake.endpoint();
        o.encoding = rivetkit::client_encoding::json;
        return rivetkit::create_client(std::move(o));
    }

    io_thread io;
    fake_engine fake;
    std::optional<rivetkit::registry> reg;
    json runner;
};

}  // namespace

TEST_CASE("engine driver: start_runner needs the engine driver", "[engine][host]") {
    rivetkit::registry_config config;
    config.driver = rivetkit::drivers::engine(rivetkit::drivers::engine_options{});
    auto with_engine = rivetkit::setup({{"counter", counter}}, std::move(config));
    (void)with_engine;
    auto reg = rivetkit::setup({{"counter", counter}}, rivetkit::registry_config{.driver = std::nullopt});
    CHECK_THROWS_WITH(reg.start_runner(), Catch::Contains("needs the engine driver"));
}

TEST_CASE("engine driver: actions, events, raw requests and WebSockets through the gateway", "[engine][host]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    const auto id = f.create_running("a");
    // The runner reported Running for generation 0 after the start.
    auto running = f.fake.wait_message({{"dir", "fromRunner"}, {"actorId", id}, {"kind", "ActorStateRunning"}});
    CHECK(running.is_object());
    // The actor's record went to the engine's KV (key 0x01).
    auto kv = f.fake.call("GET", "/__fake/actors/" + id + "/kv")["entries"];
    REQUIRE(kv.size() == 1);
    CHECK(kv[0]["key"] == "01");

    auto client = f.client();
    auto h = client.get_for_id("counter", id);
    CHECK(h.call("increment", 5) == value(5));

    recorder<std::int64_t> counts;
    auto conn = h.connect();
    conn.on("newCount", [&](const rivetkit::array& args) { counts.push(args.at(0).as_int()); });
    conn.wait_connected();
    CHECK(conn.call("increment", 2) == value(7));
    CHECK(counts.wait_for(1) == std::vector<std::int64_t>{7});
    // A one-off HTTP action's broadcast reaches the WebSocket connection too.
    CHECK(h.call("increment", 1) == value(8));
    CHECK(counts.wait_for(2) == std::vector<std::int64_t>{7, 8});
    // Errors keep their group and code through the tunnel.
    try {
        h.call("noSuchAction");
        FAIL("an unknown action succeeded");
    } catch (const rivetkit::error& e) {
        CHECK(e.group() == "action");
        CHECK(e.code() == "not_found");
    }

    // Raw HTTP to on_request.
    auto res = f.fake.raw("GET", "/gateway/" + id + "/request/hello?x=1");
    CHECK(res.status == 202);
    CHECK(res.body == "GET /hello?x=1  count=8");
    CHECK(res.header("access-control-allow-origin") != nullptr);  // added by the gateway

    // A raw WebSocket to on_websocket.
    recorder<std::string> frames;
    auto ws = h.websocket("/chat");
    ws->on_message([&](const rivetkit::websocket_message& m) { frames.push(m.data); });
    ws->send("hi");
    CHECK(frames.wait_for(1) == std::vector<std::string>{"echo:hi"});
    ws->close(1000, "done");
    conn.dispose();
}

TEST_CASE("engine driver: sleep keeps the state in the engine KV and traffic wakes the actor", "[engine][host]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    const auto id = f.create_running("sleepy");
    auto client = f.client();
    auto h = client.get_for_id("counter", id);
    CHECK(h.call("increment", 3) == value(3));
    h.call("goToSleep");
    auto asleep = f.wait_state(id, "sleeping");
    CHECK(asleep["generation"] == 0);
    // The runner told the engine (intent), then reported the stop as graceful.
    auto intent = f.fake.wait_message({{"dir", "fromRunner"}, {"actorId", id}, {"kind", "ActorIntentSleep"}});
    auto stopped = f.fake.wait_message({{"dir", "fromRunner"}, {"actorId", id}, {"kind", "ActorStateStopped"}});
    CHECK(stopped["msg"]["val"][0]["inner"]["val"]["state"]["val"]["code"] == "Ok");
    CHECK(intent["seq"].get<std::int64_t>() < stopped["seq"].get<std::int64_t>());
    auto& host = dynamic_cast<rivetkit::engine::engine_host&>(f.reg->core().manager());
    CHECK(host.running_count() == 0);

    // A call through the gateway wakes it (generation 1) with the state it saved.
    CHECK(h.call("getCount") == value(3));
    CHECK(f.fake.call("GET", "/__fake/actors/" + id)["actor"]["generation"] == 1);
    CHECK(h.call("increment", 1) == value(4));
}

TEST_CASE("engine driver: an alarm wakes a sleeping actor and the due event runs", "[engine][host]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    const auto id = f.create_running("alarm");
    auto client = f.client();
    auto h = client.get_for_id("counter", id);
    auto before = f.fake.call("GET", "/__fake/messages?dir=fromRunner")["lastSeq"];
    h.call("incrementLater", 300, 10);
    auto set_alarm = f.fake.wait_message(
        {{"dir", "fromRunner"}, {"actorId", id}, {"kind", "EventActorSetAlarm"}, {"since", before}});
    INFO(set_alarm.dump());
    CHECK(set_alarm["msg"]["val"][0]["inner"]["val"]["alarmTs"].is_number());
    h.call("goToSleep");
    f.wait_state(id, "sleeping");
    // The engine wakes it when the alarm is due; its start runs the due event before Running.
    auto since = f.fake.call("GET", "/__fake/messages?dir=fromRunner")["lastSeq"];
    f.fake.wait_message({{"dir", "fromRunner"}, {"actorId", id}, {"kind", "ActorStateRunning"}, {"since", since}});
    CHECK(h.call("getCount") == value(10));
}

TEST_CASE("engine driver: the engine connection drops mid-traffic and the runner carries on", "[engine][host]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    const auto id = f.create_running("drop");
    auto client = f.client();
    auto h = client.get_for_id("counter", id);
    CHECK(h.call("increment", 1) == value(1));
    const std::string runner_id = f.runner["runnerId"];
    f.fake.call("POST", "/__fake/runners/" + runner_id + "/drop", {{"code", 1011}, {"reason", "ws.going_away"}});
    // Calls made while the runner reconnects wait in the gateway (503 retries) or the tunnel.
    std::int64_t last = 1;
    for (int i = 0; i < 5; ++i) last = h.call("increment", 1).as_int();
    CHECK(last == 6);
    auto r = f.fake.runner(runner_id);
    CHECK(r["connected"] == true);
    CHECK(r["inits"].get<int>() >= 2);
    CHECK(f.fake.call("GET", "/__fake/actors/" + id)["actor"]["generation"] == 0);  // not restarted
}

TEST_CASE("engine driver: a failed start reports Stopped{Error} (crash policy applies)", "[engine][host]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    // No actor of that name in the registry: the start fails.
    auto actor = f.fake.create_actor({{"name", "missing"}, {"key", "x"}, {"crashPolicy", "sleep"}});
    const std::string id = actor["actorId"];
    auto stopped = f.fake.wait_message({{"dir", "fromRunner"}, {"actorId", id}, {"kind", "ActorStateStopped"}});
    auto state = stopped["msg"]["val"][0]["inner"]["val"]["state"]["val"];
    CHECK(state["code"] == "Error");
    CHECK_THAT(state["message"].get<std::string>(), Catch::Contains("missing"));
    // Crash policy sleep: the engine keeps the actor asleep instead of destroying it.
    CHECK(f.wait_state(id, "sleeping")["state"] == "sleeping");
}

TEST_CASE("engine driver: c.destroy() makes the engine destroy the actor and its KV", "[engine][host]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    const auto id = f.create_running("doomed");
    auto client = f.client();
    auto h = client.get_for_id("counter", id);
    h.call("increment", 1);
    h.call("destroyMe");
    f.wait_state(id, "destroyed");
    f.fake.wait_message({{"dir", "fromRunner"}, {"actorId", id}, {"kind", "ActorIntentStop"}});
    CHECK(f.fake.call("GET", "/__fake/actors/" + id + "/kv")["entries"].empty());
}

TEST_CASE("engine driver: stopping the registry drains the runner, actors sleep with their state kept", "[engine][host]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    const auto id = f.create_running("drain");
    {
        auto client = f.client();
        CHECK(client.get_for_id("counter", id).call("increment", 4) == value(4));
    }
    f.reg->stop();
    f.fake.wait_message({{"dir", "fromRunner"}, {"tag", "ToServerStopping"}});
    // Going away is not a graceful exit: crash policy sleep keeps the actor (asleep).
    CHECK(f.wait_state(id, "sleeping")["state"] == "sleeping");
    auto kv = f.fake.call("GET", "/__fake/actors/" + id + "/kv")["entries"];
    CHECK(kv.size() == 1);

    // A new runner picks it up with its state.
    f.start_runner("second-runner");
    auto client = f.client();
    CHECK(client.get_for_id("counter", id).call("getCount") == value(4));
}

TEST_CASE("engine driver: a second runner with the same key takes over and the first stops its actors", "[engine][host]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    const auto id = f.create_running("first");
    auto& first_host = dynamic_cast<rivetkit::engine::engine_host&>(f.reg->core().manager());
    REQUIRE(first_host.running_count() == 1);
    auto first_conn = first_host.connection();

    // Another registry (as another process would) connects with the same runner key.
    rivetkit::engine::runner_connection_options o;
    o.endpoint = f.fake.endpoint();
    o.runner_key = "test-runner";
    rivetkit::registry_config config;
    config.driver = rivetkit::engine::make_engine_driver(o);
    config.threads = 1;
    auto second = rivetkit::setup({{"counter", counter}}, std::move(config));
    second.start_runner();

    // The first is evicted for good (no reconnect) and stops what it ran.
    f.io.run(first_conn->wait_closed(), 15s);
    const std::string runner_id = f.runner["runnerId"];
    auto r = f.fake.call("POST", "/__fake/wait/runner", {{"runnerId", runner_id}, {"connected", true}, {"timeoutMs", 10000}})["runner"];
    CHECK(r["inits"] == 2);  // the same runner id, now the second registry's
    auto& second_host = dynamic_cast<rivetkit::engine::engine_host&>(second.core().manager());
    REQUIRE(second_host.connection());
    CHECK(second_host.connection()->runner_id() == runner_id);
    f.io.run(first_host.idle(), 15s);
    CHECK(first_host.running_count() == 0);

    // New actors run on the second registry.
    const auto next = f.create_running("second");
    auto client = f.client();
    CHECK(client.get_for_id("counter", next).call("increment", 2) == value(2));
    CHECK(second_host.running_count() == 1);
    (void)id;
    second.stop();
}

TEST_CASE("engine driver: registry.client() and c.client() create and reach actors through the engine",
          "[engine][host]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    // get_or_create goes to the engine's REST API; the engine starts the actor on this runner.
    auto h = f.reg->client().get_or_create("counter", rivetkit::actor_key{"from-registry"});
    CHECK(h.call("increment", 2) == value(2));
    const std::string id = h.resolve();
    auto actor = f.fake.call("GET", "/__fake/actors/" + id)["actor"];
    CHECK(actor["runnerId"] == f.runner["runnerId"]);
    // From inside an actor: a second actor, created through the engine as well.
    CHECK(h.call("incrementOther", "other", 5) == value(5));
    auto others = f.fake.call("GET", "/__fake/actors?name=counter")["actors"];
    CHECK(others.size() == 2);
    CHECK(f.reg->client().get_or_create("counter", rivetkit::actor_key{"other"}).call("getCount") == value(5));
}
