// The engine driver's runner connection against the fake Rivet Engine (a fresh Node process per
// case): handshake, ping/pong, commands and acks, replay dedupe, event indexes and resend, KV,
// reconnect with backoff, eviction, graceful shutdown. Synchronisation is by waiting on the
// handler's recorded callbacks, the fake's wait endpoints, and KV round trips (the engine answers
// on the same socket, so a KV answer means every earlier engine message was handled).

#include <catch2/catch.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/fake_engine_process.hpp"
#include "rivetkit/error.hpp"
#include "runner_connection.hpp"

using namespace engine_test;
using namespace rivetkit;
using namespace rivetkit::engine;

namespace {

/// Records every callback; the test thread waits for conditions on it.
class recorder : public runner_handler {
public:
    void on_connected(const std::string& runner_id, bool changed) override {
        update([&] {
            connected.push_back(runner_id);
            id_changed = id_changed || changed;
        });
    }
    void on_disconnected(std::uint16_t code, const std::string& reason) override {
        update([&] { disconnects.emplace_back(code, reason); });
    }
    void on_lost() override {
        update([&] { lost = true; });
    }
    void on_command(const runner_protocol::command_wrapper& command) override {
        update([&] { commands.push_back(command); });
        if (on_command_hook) on_command_hook(command);
    }
    void on_tunnel_message(const runner_protocol::to_client_tunnel_message& message) override {
        update([&] { tunnel.push_back(message); });
        if (on_tunnel_hook) on_tunnel_hook(message);
    }
    void on_closed(runner_close_reason reason, const std::string& detail) override {
        update([&] {
            closed = reason;
            closed_detail = detail;
        });
    }

    /// Waits until `pred()` holds (evaluated under the lock); false after `limit`.
    template <class P>
    bool wait(P pred, std::chrono::milliseconds limit = 15s) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, limit, [&] { return pred(); });
    }
    template <class F>
    auto locked(F f) {
        std::lock_guard lock(mutex);
        return f();
    }

    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::string> connected;
    bool id_changed = false;
    std::vector<std::pair<std::uint16_t, std::string>> disconnects;
    bool lost = false;
    std::vector<runner_protocol::command_wrapper> commands;
    std::optional<runner_close_reason> closed;
    std::string closed_detail;
    std::function<void(const runner_protocol::command_wrapper&)> on_command_hook;
    std::vector<runner_protocol::to_client_tunnel_message> tunnel;
    std::function<void(const runner_protocol::to_client_tunnel_message&)> on_tunnel_hook;

private:
    template <class F>
    void update(F f) {
        {
            std::lock_guard lock(mutex);
            f();
        }
        cv.notify_all();
    }
};

/// A clock that records the delay of every timer started on it (real time underneath, or the
/// given clock).
class recording_clock final : public rivetkit::clock {
public:
    recording_clock() = default;
    explicit recording_clock(std::shared_ptr<rivetkit::clock> inner) : inner_(std::move(inner)) {}
    [[nodiscard]] std::int64_t now_ms() const override { return inner_->now_ms(); }
    std::shared_ptr<timer> start_timer(milliseconds delay, asio::any_io_executor ex,
                                       detail::unique_function<void()> fn) override {
        // Recorded once started, so a waiter never sees a timer the inner clock does not have yet.
        auto t = inner_->start_timer(delay, std::move(ex), std::move(fn));
        {
            std::lock_guard lock(mutex_);
            delays_.push_back(delay);
        }
        cv_.notify_all();
        return t;
    }
    std::vector<milliseconds> delays() const {
        std::lock_guard lock(mutex_);
        return delays_;
    }
    /// Waits until at least `n` timers were started.
    bool wait_for_timers(std::size_t n, std::chrono::milliseconds limit) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, limit, [&] { return delays_.size() >= n; });
    }

private:
    std::shared_ptr<rivetkit::clock> inner_ = make_system_clock();
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<milliseconds> delays_;
};

runner_connection_options options_for(const fake_engine& fake, std::string key = "key-1") {
    runner_connection_options o;
    o.endpoint = fake.endpoint();
    o.runner_name = "cpp-runner";
    o.runner_key = std::move(key);
    o.total_slots = 7;
    o.actor_names = {{"counter", runner_protocol::actor_name{"{}"}}};
    o.metadata = R"({"inspectorToken":"tok"})";
    o.reconnect_initial = 100ms;
    o.reconnect_max = 1000ms;
    o.clock = make_system_clock();
    return o;
}

bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

/// A KV round trip: once it answers, every message the engine sent before has been handled.
void sync_with_engine(io_thread& io, const std::shared_ptr<runner_connection>& conn, const std::string& actor_id) {
    auto t = conn->kv(actor_id, runner_protocol::kv_get_request{});
    (void)io.run(std::move(t));
}

/// Creates an actor for the test runner and waits until its StartActor reached the handler.
std::string start_actor(fake_engine& fake, recorder& h) {
    const json actor = fake.create_actor({{"name", "counter"}, {"key", "k"}, {"runnerNameSelector", "cpp-runner"},
                                          {"inputHex", "a1b2"}, {"crashPolicy", "sleep"}});
    const std::string id = actor["actorId"];
    REQUIRE(h.wait([&] {
        return std::any_of(h.commands.begin(), h.commands.end(),
                           [&](const auto& c) { return c.checkpoint.actor_id == id; });
    }));
    return id;
}

void shutdown_quietly(io_thread& io, const std::shared_ptr<runner_connection>& conn, recorder& h) {
    h.on_command_hook = nullptr;
    h.on_tunnel_hook = nullptr;
    auto t = conn->shutdown(300ms);  // the fake keeps the socket open: this is the timeout path
    io.run(std::move(t), 10s);
}

}  // namespace

TEST_CASE("runner connection: handshake sends ToServerInit and gets a runner id", "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {{"FAKE_ENGINE_TOKEN", "secret"}});
    auto h = std::make_shared<recorder>();
    auto opts = options_for(fake, "key/1 ä&x=y");
    opts.token = "secret";
    auto conn = runner_connection::create(io.io.get_executor(), opts, h);
    CHECK(conn->connect_target() ==
          "/runners/connect?protocol_version=5&namespace=default&runner_key=key%2F1%20%C3%A4%26x%3Dy");
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const std::string id = conn->runner_id();
    CHECK(!id.empty());
    CHECK(h->locked([&] { return h->connected.front(); }) == id);

    const json from_runner = fake.messages("dir=fromRunner");
    REQUIRE(!from_runner.empty());
    CHECK(from_runner[0]["tag"] == "ToServerInit");
    const json init = from_runner[0]["msg"]["val"];
    CHECK(init["name"] == "cpp-runner");
    CHECK(init["version"] == 1);
    CHECK(init["totalSlots"] == 7);
    CHECK(init["prepopulateActorNames"] == json{{"counter", {{"metadata", "{}"}}}});
    CHECK(init["metadata"] == R"({"inspectorToken":"tok"})");

    const json runner = fake.runner(id);
    CHECK(runner["key"] == "key/1 ä&x=y");
    CHECK(runner["name"] == "cpp-runner");
    CHECK(runner["totalSlots"] == 7);
    CHECK(runner["connected"] == true);
    shutdown_quietly(io, conn, *h);
}

TEST_CASE("runner connection: a wrong token is refused and retried, not fatal", "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {{"FAKE_ENGINE_TOKEN", "secret"}});
    auto h = std::make_shared<recorder>();
    auto clk = std::make_shared<recording_clock>();
    auto opts = options_for(fake);
    opts.token = "wrong";
    opts.clock = clk;
    auto conn = runner_connection::create(io.io.get_executor(), opts, h);
    conn->start();
    // Two refused attempts: two backoff timers (no lost timer: the engine never knew the runner).
    REQUIRE(clk->wait_for_timers(2, 10s));
    const auto delays = clk->delays();
    CHECK(delays[0] >= 100ms);
    CHECK(delays[0] <= 125ms);
    CHECK(delays[1] >= 200ms);
    CHECK(delays[1] <= 250ms);
    CHECK(h->locked([&] { return h->connected.empty(); }));
    CHECK(conn->runner_id().empty());
    shutdown_quietly(io, conn, *h);
    CHECK(h->locked([&] { return h->closed; }) == runner_close_reason::shutdown);
}

TEST_CASE("runner connection: pings are answered with pongs", "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {{"FAKE_ENGINE_PING_INTERVAL_MS", "100"}});
    auto h = std::make_shared<recorder>();
    auto conn = runner_connection::create(io.io.get_executor(), options_for(fake), h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const json pong = fake.wait_message({{"dir", "fromRunner"}, {"tag", "ToServerPong"}});
    const json pings = fake.messages("dir=toRunner&tag=ToClientPing");
    REQUIRE(!pings.empty());
    std::set<std::int64_t> ping_ts;
    for (const auto& p : pings) ping_ts.insert(p["msg"]["val"]["ts"].get<std::int64_t>());
    CHECK(ping_ts.count(pong["msg"]["val"]["ts"].get<std::int64_t>()) == 1);
    CHECK(fake.runner(conn->runner_id())["pongs"].get<int>() >= 1);
    shutdown_quietly(io, conn, *h);
}

TEST_CASE("runner connection: a StartActor command reaches the handler and is acked", "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {});
    auto h = std::make_shared<recorder>();
    auto conn = runner_connection::create(io.io.get_executor(), options_for(fake), h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const std::string actor_id = start_actor(fake, *h);

    const auto command = h->locked([&] { return h->commands.front(); });
    CHECK(command.checkpoint.actor_id == actor_id);
    CHECK(command.checkpoint.generation == 0);
    CHECK(command.checkpoint.index == 0);
    const auto* start = std::get_if<runner_protocol::command_start_actor>(&command.inner);
    REQUIRE(start != nullptr);
    CHECK(start->config.name == "counter");
    CHECK(start->config.key == std::optional<std::string>("k"));
    CHECK(start->config.input == std::optional<bytes>(bytes{0xa1, 0xb2}));

    const json ack = fake.wait_message({{"dir", "fromRunner"}, {"tag", "ToServerAckCommands"}});
    const json checkpoints = ack["msg"]["val"]["lastCommandCheckpoints"];
    REQUIRE(checkpoints.size() == 1);
    CHECK(checkpoints[0]["actorId"] == actor_id);
    CHECK(checkpoints[0]["generation"] == 0);
    CHECK(checkpoints[0]["index"] == 0);
    sync_with_engine(io, conn, actor_id);
    CHECK(fake.runner(conn->runner_id())["unackedCommands"] == 0);
    shutdown_quietly(io, conn, *h);
}

TEST_CASE("runner connection: a command replayed after a reconnect is not applied twice", "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {});
    auto h = std::make_shared<recorder>();
    auto opts = options_for(fake);
    opts.command_ack_interval = std::chrono::hours(1);  // no ack before the reconnect: the engine replays
    auto conn = runner_connection::create(io.io.get_executor(), opts, h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const std::string actor_id = start_actor(fake, *h);
    const std::string runner_id = conn->runner_id();
    CHECK(fake.runner(runner_id)["unackedCommands"] == 1);

    const int since = fake.call("GET", "/__fake/messages?tag=none")["lastSeq"].get<int>();
    fake.call("POST", "/__fake/runners/" + runner_id + "/drop", {{"code", 1011}, {"reason", "ws.going_away"}});
    REQUIRE(h->wait([&] { return h->connected.size() == 2; }));
    CHECK(conn->runner_id() == runner_id);
    // The engine replayed the StartActor right after ToClientInit.
    const json replay = fake.wait_message({{"dir", "toRunner"}, {"tag", "ToClientCommands"}, {"since", since}});
    CHECK(replay["msg"]["val"][0]["checkpoint"]["actorId"] == actor_id);
    sync_with_engine(io, conn, actor_id);
    CHECK(h->locked([&] { return h->commands.size(); }) == 1);
    // The replay is acked on the reconnect (acks pending from before the drop are flushed).
    fake.wait_message({{"dir", "fromRunner"}, {"tag", "ToServerAckCommands"}, {"since", since}});
    shutdown_quietly(io, conn, *h);
}

TEST_CASE("runner connection: events get indexes and are resent after a reconnect until acked",
          "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    // The engine acks only once more than 2 events are unacked.
    fake_engine fake(io, {{"FAKE_ENGINE_EVENT_ACK_BATCH_SIZE", "2"}});
    auto h = std::make_shared<recorder>();
    auto conn = runner_connection::create(io.io.get_executor(), options_for(fake), h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const std::string actor_id = start_actor(fake, *h);
    const std::string runner_id = conn->runner_id();

    namespace rp = runner_protocol;
    // Alarms an hour ahead (the fake's timers cannot take more than 2^31 ms).
    const std::int64_t alarm = make_system_clock()->now_ms() + 3'600'000;
    conn->send_event(actor_id, 0,
                     rp::event{std::in_place_type<rp::event_actor_state_update>,
                               rp::event_actor_state_update{rp::actor_state{rp::actor_state_running{}}}});
    conn->send_event(actor_id, 0, rp::event{std::in_place_type<rp::event_actor_set_alarm>, rp::event_actor_set_alarm{alarm}});
    fake.call("POST", "/__fake/wait/actor", {{"actorId", actor_id}, {"state", "running"}});
    sync_with_engine(io, conn, actor_id);
    const json sent = fake.messages("dir=fromRunner&tag=ToServerEvents");
    REQUIRE(sent.size() == 2);
    CHECK(sent[0]["msg"]["val"][0]["checkpoint"]["index"] == 0);
    CHECK(sent[1]["msg"]["val"][0]["checkpoint"]["index"] == 1);
    CHECK(conn->unacked_events() == 2);
    CHECK(fake.messages("tag=ToClientAckEvents").empty());

    const int since = fake.call("GET", "/__fake/messages?tag=none")["lastSeq"].get<int>();
    fake.call("POST", "/__fake/runners/" + runner_id + "/drop", {{"code", 1011}, {"reason", "ws.going_away"}});
    REQUIRE(h->wait([&] { return h->connected.size() == 2; }));
    const json resent = fake.wait_message({{"dir", "fromRunner"}, {"tag", "ToServerEvents"}, {"since", since}});
    REQUIRE(resent["msg"]["val"].size() == 2);
    CHECK(resent["msg"]["val"][0]["checkpoint"]["index"] == 0);
    CHECK(resent["msg"]["val"][1]["checkpoint"]["index"] == 1);
    CHECK(resent["msg"]["val"][1]["inner"]["val"]["alarmTs"] == alarm);
    CHECK(conn->unacked_events() == 2);

    // A third event pushes the engine over its batch size: it acks index 2, which covers all.
    conn->send_event(actor_id, 0,
                     rp::event{std::in_place_type<rp::event_actor_set_alarm>, rp::event_actor_set_alarm{alarm + 2}});
    const json ack = fake.wait_message({{"dir", "toRunner"}, {"tag", "ToClientAckEvents"}, {"since", since}});
    CHECK(ack["msg"]["val"]["lastEventCheckpoints"][0]["index"] == 2);
    sync_with_engine(io, conn, actor_id);
    CHECK(conn->unacked_events() == 0);
    CHECK(fake.call("GET", "/__fake/actors/" + actor_id)["actor"]["alarmTs"] == alarm + 2);
    shutdown_quietly(io, conn, *h);
}

TEST_CASE("runner connection: KV put/get/list/delete round trip through the engine", "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {});
    auto h = std::make_shared<recorder>();
    auto conn = runner_connection::create(io.io.get_executor(), options_for(fake), h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const std::string actor_id = start_actor(fake, *h);
    namespace rp = runner_protocol;

    auto put = conn->kv(actor_id, rp::kv_put_request{{to_bytes("k1"), to_bytes("k2"), to_bytes("other")},
                                                     {to_bytes("v1"), to_bytes("v2"), to_bytes("o")}});
    auto put_answer = io.run(std::move(put));
    CHECK(std::holds_alternative<rp::kv_put_response>(put_answer));

    auto get = conn->kv(actor_id, rp::kv_get_request{{to_bytes("k1"), to_bytes("missing")}});
    auto got = std::get<rp::kv_get_response>(io.run(std::move(get)));
    REQUIRE(got.keys.size() == 1);
    CHECK(got.keys[0] == to_bytes("k1"));
    CHECK(got.values[0] == to_bytes("v1"));

    auto list = conn->kv(actor_id, rp::kv_list_request{rp::kv_list_prefix_query{to_bytes("k")}, std::nullopt, std::nullopt});
    auto listed = std::get<rp::kv_list_response>(io.run(std::move(list)));
    CHECK(listed.keys == std::vector<bytes>{to_bytes("k1"), to_bytes("k2")});

    auto del = conn->kv(actor_id, rp::kv_delete_request{{to_bytes("k1")}});
    CHECK(std::holds_alternative<rp::kv_delete_response>(io.run(std::move(del))));

    auto all = conn->kv(actor_id, rp::kv_list_request{rp::kv_list_all_query{}, true, 10});
    auto everything = std::get<rp::kv_list_response>(io.run(std::move(all)));
    CHECK(everything.keys == std::vector<bytes>{to_bytes("other"), to_bytes("k2")});  // reverse

    // The engine's view.
    const json stored = fake.call("GET", "/__fake/actors/" + actor_id + "/kv")["entries"];
    REQUIRE(stored.size() == 2);
    CHECK(stored[0]["key"] == "6b32");  // "k2"

    // An engine error becomes engine/kv_error with the engine's message.
    auto bad = conn->kv(actor_id, rp::kv_get_request{{bytes(3000, 'x')}});
    try {
        (void)io.run(std::move(bad));
        FAIL("expected an error");
    } catch (const rivetkit::error& e) {
        CHECK(e.group() == "engine");
        CHECK(e.code() == "kv_error");
        CHECK(e.message() == "key is too long (max 2048 bytes)");
    }
    // Not this runner's actor.
    auto foreign = conn->kv("not-an-actor", rp::kv_get_request{});
    CHECK_THROWS_AS(io.run(std::move(foreign)), rivetkit::error);

    shutdown_quietly(io, conn, *h);
    // After the end, requests fail at once.
    auto late = conn->kv(actor_id, rp::kv_get_request{});
    try {
        (void)io.run(std::move(late));
        FAIL("expected an error");
    } catch (const rivetkit::error& e) {
        CHECK(e.code() == "runner_closed");
    }
}

TEST_CASE("runner connection: a dropped connection (1011) reconnects with backoff and the same runner key",
          "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {});
    auto h = std::make_shared<recorder>();
    auto clk = std::make_shared<recording_clock>();
    auto opts = options_for(fake, "stable-key");
    opts.clock = clk;
    opts.reconnect_initial = 200ms;
    auto conn = runner_connection::create(io.io.get_executor(), opts, h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const std::string runner_id = conn->runner_id();
    const std::string actor_id = start_actor(fake, *h);

    // A KV request made while disconnected waits for the reconnect.
    fake.call("POST", "/__fake/runners/" + runner_id + "/drop", {{"code", 1011}, {"reason", "ws.going_away"}});
    REQUIRE(h->wait([&] { return !h->disconnects.empty(); }));
    auto put = asio::co_spawn(io.io, conn->kv(actor_id, runner_protocol::kv_put_request{{to_bytes("a")}, {to_bytes("b")}}),
                              asio::use_future);
    REQUIRE(h->wait([&] { return h->connected.size() == 2; }));
    REQUIRE(put.wait_for(10s) == std::future_status::ready);
    CHECK(std::holds_alternative<runner_protocol::kv_put_response>(put.get()));
    CHECK(fake.call("GET", "/__fake/actors/" + actor_id + "/kv")["entries"].size() == 1);

    const auto disconnect = h->locked([&] { return h->disconnects.front(); });
    CHECK(disconnect.first == 1011);
    CHECK(disconnect.second.rfind("ws.going_away", 0) == 0);
    CHECK(conn->runner_id() == runner_id);
    CHECK_FALSE(h->id_changed);
    // The first reconnect waited 200 ms × (1 + up to 25 %) (the lost timer has the engine's 15 s).
    const auto delays = clk->delays();
    CHECK(std::any_of(delays.begin(), delays.end(), [](auto d) { return d >= 200ms && d <= 250ms; }));
    CHECK(std::any_of(delays.begin(), delays.end(), [](auto d) { return d == 15000ms; }));

    const json inits = fake.messages("dir=fromRunner&tag=ToServerInit");
    REQUIRE(inits.size() == 2);
    CHECK(inits[0]["connId"] != inits[1]["connId"]);
    const json runner = fake.runner(runner_id);
    CHECK(runner["key"] == "stable-key");
    CHECK(runner["inits"] == 2);
    CHECK(runner["connected"] == true);
    shutdown_quietly(io, conn, *h);
}

TEST_CASE("runner connection: a same-key takeover evicts the first runner, which does not reconnect",
          "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {});
    auto first = std::make_shared<recorder>();
    auto second = std::make_shared<recorder>();
    auto a = runner_connection::create(io.io.get_executor(), options_for(fake, "shared"), first);
    a->start();
    REQUIRE(first->wait([&] { return !first->connected.empty(); }));
    auto b = runner_connection::create(io.io.get_executor(), options_for(fake, "shared"), second);
    b->start();
    REQUIRE(second->wait([&] { return !second->connected.empty(); }));
    CHECK(b->runner_id() == a->runner_id());

    auto closing = a->wait_closed();
    CHECK(io.run(std::move(closing)) == runner_close_reason::evicted);
    CHECK(first->locked([&] { return first->closed; }) == runner_close_reason::evicted);
    CHECK(first->locked([&] { return first->closed_detail.rfind("ws.eviction", 0) == 0; }));
    CHECK(first->locked([&] { return first->disconnects.front().first; }) == 1000);
    CHECK(first->locked([&] { return first->connected.size(); }) == 1);

    // The second keeps working and no third connection came.
    const std::string actor_id = start_actor(fake, *second);
    sync_with_engine(io, b, actor_id);
    CHECK(fake.messages("dir=fromRunner&tag=ToServerInit").size() == 2);
    CHECK(first->locked([&] { return first->commands.empty(); }));
    shutdown_quietly(io, b, *second);
}

TEST_CASE("runner connection: graceful shutdown sends ToServerStopping and closes", "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {});
    auto h = std::make_shared<recorder>();
    auto conn = runner_connection::create(io.io.get_executor(), options_for(fake), h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const std::string runner_id = conn->runner_id();
    const std::string actor_id = start_actor(fake, *h);
    namespace rp = runner_protocol;
    conn->send_event(actor_id, 0,
                     rp::event{std::in_place_type<rp::event_actor_state_update>,
                               rp::event_actor_state_update{rp::actor_state{rp::actor_state_running{}}}});
    fake.call("POST", "/__fake/wait/actor", {{"actorId", actor_id}, {"state", "running"}});

    // The engine stops the actor; the owner reports it stopped and says it is done.
    std::weak_ptr<runner_connection> weak = conn;
    h->on_command_hook = [weak](const rp::command_wrapper& c) {
        auto me = weak.lock();
        if (!me || !std::holds_alternative<rp::command_stop_actor>(c.inner)) return;
        me->send_event(c.checkpoint.actor_id, c.checkpoint.generation,
                       rp::event{std::in_place_type<rp::event_actor_state_update>,
                                 rp::event_actor_state_update{
                                     rp::actor_state{rp::actor_state_stopped{rp::stop_code::ok, std::nullopt}}}});
        me->finish_shutdown();
    };
    auto stopping = conn->shutdown(30s);
    io.run(std::move(stopping), 10s);

    CHECK(h->locked([&] { return h->closed; }) == runner_close_reason::shutdown);
    CHECK(h->locked([&] {
        return std::any_of(h->commands.begin(), h->commands.end(), [](const auto& c) {
            return std::holds_alternative<rp::command_stop_actor>(c.inner);
        });
    }));
    CHECK(fake.messages("dir=fromRunner&tag=ToServerStopping").size() == 1);
    const json runner = fake.call("POST", "/__fake/wait/runner", {{"runnerId", runner_id}, {"connected", false}})["runner"];
    CHECK(runner["draining"] == true);
    // The Stopped event reached the engine before the close: the actor went to sleep (crash
    // policy "sleep" for a going-away stop), not lost.
    const json actor = fake.call("POST", "/__fake/wait/actor", {{"actorId", actor_id}, {"state", "sleeping"}})["actor"];
    CHECK(actor["state"] == "sleeping");
    const json events = fake.messages("dir=fromRunner&tag=ToServerEvents");  // Running, Stopped
    CHECK(events.size() == 2);
}

TEST_CASE("runner connection: shutdown ends when the engine closes the drained runner", "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {{"FAKE_ENGINE_RUNNER_LOST_THRESHOLD_MS", "300"}});
    auto h = std::make_shared<recorder>();
    auto conn = runner_connection::create(io.io.get_executor(), options_for(fake), h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    auto stopping = conn->shutdown(30s);
    io.run(std::move(stopping), 10s);
    CHECK(h->locked([&] { return h->closed; }) == runner_close_reason::shutdown);
    // The engine ended the runner (eviction close) rather than us timing out.
    CHECK(h->locked([&] { return h->disconnects.front().second.rfind("ws.eviction", 0) == 0; }));
}

TEST_CASE("runner connection: no connection within the lost threshold reports lost, then a new runner id follows",
          "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {{"FAKE_ENGINE_RUNNER_LOST_THRESHOLD_MS", "300"}});
    auto h = std::make_shared<recorder>();
    auto opts = options_for(fake);
    opts.reconnect_initial = 1000ms;  // longer than the engine's lost threshold
    auto conn = runner_connection::create(io.io.get_executor(), opts, h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const std::string first_id = conn->runner_id();
    fake.call("POST", "/__fake/runners/" + first_id + "/drop", {{"abrupt", true}});
    REQUIRE(h->wait([&] { return h->lost; }));
    CHECK(h->locked([&] { return h->connected.size(); }) == 1);
    REQUIRE(h->wait([&] { return h->connected.size() == 2; }));
    CHECK(h->locked([&] { return h->id_changed; }));
    CHECK(conn->runner_id() != first_id);
    CHECK(fake.runner(first_id)["stopped"] == true);
    shutdown_quietly(io, conn, *h);
}

TEST_CASE("runner connection: tunnel messages reach the handler and answers reach the gateway", "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {});
    auto h = std::make_shared<recorder>();
    auto conn = runner_connection::create(io.io.get_executor(), options_for(fake), h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const std::string actor_id = start_actor(fake, *h);
    namespace rp = runner_protocol;
    conn->send_event(actor_id, 0,
                     rp::event{std::in_place_type<rp::event_actor_state_update>,
                               rp::event_actor_state_update{rp::actor_state{rp::actor_state_running{}}}});
    fake.call("POST", "/__fake/wait/actor", {{"actorId", actor_id}, {"state", "running"}});

    std::weak_ptr<runner_connection> weak = conn;
    h->on_tunnel_hook = [weak](const rp::to_client_tunnel_message& m) {
        auto me = weak.lock();
        const auto* start = std::get_if<rp::to_client_request_start>(&m.message_kind);
        if (!me || start == nullptr) return;
        rp::to_server_response_start answer;
        answer.status = 201;
        answer.headers = {{"content-type", "text/plain"}};
        answer.body = to_bytes(start->method + " " + start->path);
        rp::to_server_tunnel_message reply;
        reply.message_id = rp::message_id{m.message_id.gateway_id, m.message_id.request_id, 0};
        reply.message_kind = rp::to_server_tunnel_message_kind{std::in_place_type<rp::to_server_response_start>,
                                                               std::move(answer)};
        me->send_tunnel_message(std::move(reply));
    };
    const auto response = fake.raw("GET", "/gateway/" + actor_id + "/hello?x=1");
    CHECK(response.status == 201);
    CHECK(response.body == "GET /hello?x=1");
    REQUIRE(h->locked([&] { return h->tunnel.size(); }) == 1);
    const auto first = h->locked([&] { return h->tunnel.front(); });
    const auto* start = std::get_if<rp::to_client_request_start>(&first.message_kind);
    REQUIRE(start != nullptr);
    CHECK(start->actor_id == actor_id);
    shutdown_quietly(io, conn, *h);
}

TEST_CASE("runner connection: KV requests wait while disconnected and fail after kv_timeout or at the end",
          "[engine][runner]") {
    // No engine at all (a port nobody listens on) and virtual time: nothing here needs node.
    io_thread io;
    auto vclock = std::make_shared<virtual_clock>();
    auto clk = std::make_shared<recording_clock>(vclock);
    auto h = std::make_shared<recorder>();
    runner_connection_options opts;
    opts.endpoint = "http://127.0.0.1:1";
    opts.runner_key = "offline";
    opts.clock = clk;
    opts.kv_timeout = 30s;
    opts.connect_timeout = 5s;
    auto conn = runner_connection::create(io.io.get_executor(), opts, h);
    conn->start();
    // The first attempt fails: a backoff timer waits on virtual time.
    REQUIRE(clk->wait_for_timers(1, 10s));
    auto early = asio::co_spawn(io.io, conn->kv("actor", runner_protocol::kv_get_request{}), asio::use_future);
    REQUIRE(clk->wait_for_timers(2, 10s));  // its deadline
    const auto delays = clk->delays();
    CHECK(delays[1] == 30s);
    CHECK(early.wait_for(0s) == std::future_status::timeout);
    CHECK(vclock->pending() == 2);
    vclock->advance(29s);  // fires the backoff (another refused attempt), not the deadline
    CHECK(early.wait_for(0s) == std::future_status::timeout);
    auto late = asio::co_spawn(io.io, conn->kv("actor", runner_protocol::kv_get_request{}), asio::use_future);
    REQUIRE(clk->wait_for_timers(4, 10s));  // a second backoff and the second request's deadline
    CHECK(vclock->advance(1s) >= 1);
    REQUIRE(early.wait_for(10s) == std::future_status::ready);
    try {
        (void)early.get();
        FAIL("expected a timeout");
    } catch (const rivetkit::error& e) {
        CHECK(e.group() == "engine");
        CHECK(e.code() == "kv_timeout");
    }
    CHECK(late.wait_for(0s) == std::future_status::timeout);
    auto stopping = conn->shutdown(1s);
    io.run(std::move(stopping), 10s);
    REQUIRE(late.wait_for(10s) == std::future_status::ready);
    try {
        (void)late.get();
        FAIL("expected runner_closed");
    } catch (const rivetkit::error& e) {
        CHECK(e.code() == "runner_closed");
    }
    CHECK(h->locked([&] { return h->closed; }) == runner_close_reason::shutdown);
    CHECK(h->locked([&] { return h->connected.empty() && !h->lost; }));
}

TEST_CASE("runner connection: a new generation's command is applied and its events restart at index 0",
          "[engine][runner]") {
    ENGINE_TEST_REQUIRE_FAKE();
    io_thread io;
    fake_engine fake(io, {});
    auto h = std::make_shared<recorder>();
    auto conn = runner_connection::create(io.io.get_executor(), options_for(fake), h);
    conn->start();
    REQUIRE(h->wait([&] { return !h->connected.empty(); }));
    const json actor = fake.create_actor(
        {{"name", "counter"}, {"key", "g"}, {"runnerNameSelector", "cpp-runner"}, {"crashPolicy", "restart"}});
    const std::string actor_id = actor["actorId"];
    REQUIRE(h->wait([&] { return h->commands.size() == 1; }));
    namespace rp = runner_protocol;
    conn->send_event(actor_id, 0,
                     rp::event{std::in_place_type<rp::event_actor_state_update>,
                               rp::event_actor_state_update{rp::actor_state{rp::actor_state_running{}}}});
    // A crash: the restart policy reschedules the actor at once, as generation 1.
    conn->send_event(actor_id, 0,
                     rp::event{std::in_place_type<rp::event_actor_state_update>,
                               rp::event_actor_state_update{
                                   rp::actor_state{rp::actor_state_stopped{rp::stop_code::error, "boom"}}}});
    REQUIRE(h->wait([&] { return h->commands.size() == 2; }));
    const auto restart = h->locked([&] { return h->commands.back(); });
    CHECK(restart.checkpoint.generation == 1);
    CHECK(restart.checkpoint.index == 0);
    CHECK(std::holds_alternative<rp::command_start_actor>(restart.inner));

    conn->send_event(actor_id, 1,
                     rp::event{std::in_place_type<rp::event_actor_state_update>,
                               rp::event_actor_state_update{rp::actor_state{rp::actor_state_running{}}}});
    const json running = fake.call("POST", "/__fake/wait/actor", {{"actorId", actor_id}, {"state", "running"}})["actor"];
    CHECK(running["generation"] == 1);
    const json sent = fake.messages("dir=fromRunner&tag=ToServerEvents");
    REQUIRE(sent.size() == 3);
    CHECK(sent[1]["msg"]["val"][0]["checkpoint"]["index"] == 1);
    CHECK(sent[2]["msg"]["val"][0]["checkpoint"]["generation"] == 1);
    CHECK(sent[2]["msg"]["val"][0]["checkpoint"]["index"] == 0);
    // An event for the old generation is dropped locally.
    conn->send_event(actor_id, 0, rp::event{std::in_place_type<rp::event_actor_set_alarm>, rp::event_actor_set_alarm{}});
    sync_with_engine(io, conn, actor_id);
    CHECK(fake.messages("dir=fromRunner&tag=ToServerEvents").size() == 3);
    shutdown_quietly(io, conn, *h);
}
