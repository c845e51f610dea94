// Hibernatable WebSockets on the engine driver (engine-protocol.md §4.4), against the fake Rivet
// Engine: a RivetKit connection through the gateway outlives its actor's sleep, keeps its
// params, state and subscriptions, and comes back without on_connect; messages the actor had
// not persisted are resent by the gateway; a client that leaves while the actor sleeps is
// disconnected on the next wake. Synchronisation is by the fake's wait endpoints, client results
// and recorded hook calls; no sleeps.

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/waiting.hpp"
#include "engine/fake_engine_process.hpp"
#include "engine_host.hpp"
#include "rivetkit/client.hpp"
#include "rivetkit/registry.hpp"

using namespace engine_test;
using client_test::recorder;
using rivetkit::value;

namespace {

struct room_params {
    std::string name;
};
RIVETKIT_FIELDS(room_params, name)

struct member_state {
    std::string name;
    std::int64_t sent = 0;
};
RIVETKIT_FIELDS(member_state, name, sent)

struct room_state {
    std::int64_t wakes = 0;
};
RIVETKIT_FIELDS(room_state, wakes)

// Hook calls, as "connect:<name>" / "disconnect:<name>" (the actor's hooks run on its strand);
// each test case starts a fresh recorder.
auto hook_calls = std::make_shared<recorder<std::string>>();

const auto room = rivetkit::actor<room_state, member_state, room_params>()
                      .options(rivetkit::actor_options{.state_save_interval = std::chrono::milliseconds(50)})
                      .create_conn_state([](auto&, const room_params& p) { return member_state{p.name, 0}; })
                      .on_wake([](auto& c) { c.state().wakes += 1; })
                      .on_connect([](auto&, auto conn) { hook_calls->push("connect:" + conn.state().name); })
                      .on_disconnect([](auto&, auto conn) { hook_calls->push("disconnect:" + conn.state().name); })
                      .action<"say">([](auto& c, std::string text) {
                          auto& me = c.conn().state();
                          me.sent += 1;
                          c.broadcast("said", me.name + ": " + text);
                          return me.sent;
                      })
                      .action<"whoami">([](auto& c) { return c.conn().params().name + "/" + c.conn().id(); })
                      .action<"wakes">([](auto& c) { return std::as_const(c).state().wakes; })
                      .action<"conns">([](auto& c) { return static_cast<std::int64_t>(c.conns().size()); })
                      .action<"goToSleep">([](auto& c) { c.sleep(); });

struct runner_fixture {
    runner_fixture() : fake(io, {{"FAKE_ENGINE_PING_INTERVAL_MS", "500"}}) {
        rivetkit::engine::runner_connection_options o;
        o.endpoint = fake.endpoint();
        o.runner_key = "hibernation-runner";
        rivetkit::registry_config config;
        config.driver = rivetkit::engine::make_engine_driver(o);
        config.threads = 2;
        reg.emplace(rivetkit::setup({{"room", room}}, std::move(config)));
        reg->start_runner();
        fake.call("POST", "/__fake/wait/runner", {{"key", o.runner_key}, {"connected", true}, {"timeoutMs", 10000}});
    }

    std::string create_running(const std::string& key) {
        auto actor = fake.create_actor({{"name", "room"}, {"key", key}, {"crashPolicy", "sleep"}});
        std::string id = actor["actorId"];
        wait_state(id, "running");
        return id;
    }
    /// Waits until the runner reported the actor stopped (the engine marks it sleeping on the
    /// intent already, before the stop and its final save).
    void wait_stopped(const std::string& id) {
        fake.wait_message({{"dir", "fromRunner"}, {"actorId", id}, {"kind", "ActorStateStopped"}});
    }
    json wait_state(const std::string& id, const json& states) {
        return fake.call("POST", "/__fake/wait/actor", {{"actorId", id}, {"state", states}, {"timeoutMs", 10000}})["actor"];
    }
    /// The persisted connection records (KV keys starting with 0x02), as hex keys.
    std::vector<std::string> conn_records(const std::string& id) {
        std::vector<std::string> keys;
        const json kv = fake.call("GET", "/__fake/actors/" + id + "/kv");
        for (const auto& e : kv["entries"]) {
            std::string k = e["key"];
            if (k.starts_with("02")) keys.push_back(k);
        }
        return keys;
    }
    rivetkit::client client(rivetkit::client_encoding encoding) {
        rivetkit::client_options o;
        o.endpoint = fake.endpoint();
        o.encoding = encoding;
        return rivetkit::create_client(std::move(o));
    }

    io_thread io;
    fake_engine fake;
    std::optional<rivetkit::registry> reg;
};

}  // namespace

TEST_CASE("engine hibernation: a connection survives its actor's sleep with its state and subscriptions",
          "[engine][hibernation]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    hook_calls = std::make_shared<recorder<std::string>>();
    const auto id = f.create_running("survives");
    auto encoding = GENERATE(rivetkit::client_encoding::json, rivetkit::client_encoding::bare);
    auto client = f.client(encoding);
    auto h = client.get_for_id("room", id, {.params = rivetkit::object{{"name", "ada"}}});

    recorder<std::string> said;
    auto conn = h.connect();
    conn.on("said", [&](const rivetkit::array& args) { said.push(args.at(0).as_string()); });
    conn.wait_connected();
    const std::string who = conn.call("whoami").as_string();
    CHECK(conn.call("say", "one") == value(1));
    CHECK(conn.call("say", "two") == value(2));
    CHECK(said.wait_for(2) == std::vector<std::string>{"ada: one", "ada: two"});
    CHECK(hook_calls->items() == std::vector<std::string>{"connect:ada"});

    // The gateway was told the socket can hibernate.
    auto open = f.fake.wait_message({{"dir", "fromRunner"}, {"kind", "ToServerWebSocketOpen"}});
    CHECK(open["msg"]["val"]["messageKind"]["val"]["canHibernate"] == true);

    conn.call("goToSleep");
    f.wait_stopped(id);
    // The connection was written before the stop, and its messages acknowledged; the gateway
    // keeps the client's socket open.
    CHECK(f.conn_records(id).size() == 1);
    auto socket = f.fake.call("POST", "/__fake/wait/gateway",
                              {{"actorId", id}, {"state", "hibernating"}, {"timeoutMs", 10000}})["webSocket"];
    CHECK(socket["pendingUnacked"] == 0);
    CHECK(f.fake.call("GET", "/__fake/gateway")["webSockets"].size() == 1);

    // The next message wakes the actor: same connection (id, params, conn state), no on_connect
    // or on_disconnect, and the subscription still delivers.
    CHECK(conn.call("say", "three") == value(3));
    CHECK(conn.call("whoami").as_string() == who);
    CHECK(said.wait_for(3).back() == "ada: three");
    CHECK(conn.call("wakes") == value(2));
    CHECK(f.fake.call("GET", "/__fake/actors/" + id)["actor"]["generation"] == 1);
    CHECK(hook_calls->items() == std::vector<std::string>{"connect:ada"});

    // A normal close ends it: on_disconnect, and the record goes.
    conn.dispose();
    CHECK(hook_calls->wait_for(2).back() == "disconnect:ada");
    f.fake.wait_message({{"dir", "fromRunner"}, {"actorId", id}, {"kind", "KvDeleteRequest"}});
    CHECK(f.conn_records(id).empty());
}

TEST_CASE("engine hibernation: a client that leaves while the actor sleeps is disconnected on wake",
          "[engine][hibernation]") {
    ENGINE_TEST_REQUIRE_FAKE();
    runner_fixture f;
    hook_calls = std::make_shared<recorder<std::string>>();
    const auto id = f.create_running("leaves");
    auto client = f.client(rivetkit::client_encoding::cbor);
    auto h = client.get_for_id("room", id, {.params = rivetkit::object{{"name", "bob"}}});
    {
        auto conn = h.connect();
        conn.wait_connected();
        CHECK(conn.call("say", "hi") == value(1));
        conn.call("goToSleep");
        f.wait_stopped(id);
        REQUIRE(f.conn_records(id).size() == 1);
        conn.dispose();
    }
    // The gateway wakes the actor to tell it; the connection it kept is disconnected then.
    CHECK(hook_calls->wait_for(2) == std::vector<std::string>{"connect:bob", "disconnect:bob"});
    CHECK(h.call("conns") == value(1));  // only this call's own connection
    f.fake.wait_message({{"dir", "fromRunner"}, {"actorId", id}, {"kind", "KvDeleteRequest"}});
    CHECK(f.conn_records(id).empty());
}
