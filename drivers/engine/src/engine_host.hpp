#pragma once
// The engine driver's host: runs the actors a Rivet Engine assigns to its runners
// (engine-protocol.md §3–§6), each runner one runner_connection. A normal runner is one
// connection opened by start(); in serverless mode the engine starts runners itself, one per
// `GET /start` request (start_serverless_runner()), and they end when that request ends.
//
// * CommandStartActor: the actor's persisted record is read from the engine's KV (written first,
//   from the CBOR input, for a new actor), the instance starts, then `Running` is reported. A
//   start that fails reports `Stopped{Error}` with the reason: the engine then applies the
//   actor's crash policy instead of treating the exit as graceful (which would destroy it).
// * CommandStopActor: the instance stops as for sleep (state saved; the engine cannot tell a
//   sleep from an API destroy here, as in RivetKit), then `Stopped{Ok}`.
// * c.sleep() / c.destroy(): `Intent Sleep` / `Intent Stop`, the instance stops at once (sleep /
//   destroy: on_destroy runs), then `Stopped{Ok}`. The engine keeps a sleeping actor's KV and
//   deletes a destroyed one's.
// * Alarms: `SetAlarm` to the engine (it wakes a sleeping actor when due; the start runs due
//   events) plus a local timer while the actor runs.
// * KV: kv_get/put/delete/list become KV requests, split to the engine's limits (128 keys per
//   request, put payloads ≤ 976 KiB); a key over 2046 bytes or a value over 128 KiB fails with
//   engine/kv_key_too_large / engine/kv_value_too_large before anything is sent.
// * Tunnel: HTTP requests and WebSockets from the engine's gateway go to the registry's actor
//   routing (actions, /request/*, /connect, /websocket/*). A request for an actor this runner
//   does not run answers 503 with `x-rivet-error: runner.actor_not_found` (the gateway retries);
//   a WebSocket to one closes with 1011 "Actor not found".
// * Lost / evicted / a new runner id: every local actor is stopped without reporting (the engine
//   has already given them up).
// * shutdown() (and a serverless runner's stop()): `ToServerStopping`, the engine stops every
//   actor of the runner (as going away: they sleep and start elsewhere), then the socket closes;
//   actors still running after the drain timeout are stopped here.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rivetkit/detail/instance.hpp"
#include "rivetkit/detail/oneshot.hpp"
#include "rivetkit/driver.hpp"
#include "rivetkit/handler.hpp"
#include "runner_connection.hpp"

namespace rivetkit::detail {
class router;
}

namespace rivetkit::engine {

class tunnel_websocket;

struct host_options {
    /// How long shutdown() waits for the engine to stop this runner's actors.
    std::chrono::milliseconds drain_timeout{120'000};
    /// Serverless: start() connects nothing; the engine starts runners through the registry's
    /// server (start_serverless_runner()).
    bool serverless = false;
    /// Limits of tunnelled requests (as the registry's own server).
    handler_options routing;
};

class engine_host final : public manager_driver,
                          public actor_driver,
                          public serverless_host,
                          public std::enable_shared_from_this<engine_host> {
public:
    engine_host(const driver_env& env, runner_connection_options connection, host_options options = {});
    ~engine_host() override;

    // manager_driver. Lookups answer for the actors this runner runs; creating, listing and
    // destroying actors are the engine's (its REST API, or rivetkit::create_client against it).
    task<std::optional<actor_record>> get_for_id(std::string actor_id) override;
    task<std::optional<actor_record>> get_with_key(std::string name, actor_key key) override;
    task<actor_record> get_or_create_with_key(create_request request) override;
    task<actor_record> create_actor(create_request request) override;
    task<std::vector<actor_record>> list_actors(std::string name) override;
    task<void> destroy_actor(std::string actor_id) override;
    /// The instance when this runner runs the actor (waiting for a start under way); otherwise
    /// actor/not_found (the engine decides where actors run).
    task<std::shared_ptr<actor_instance>> load_actor(std::string actor_id) override;
    /// Connects to the engine (a normal runner; nothing in serverless mode).
    task<void> start() override;
    /// Drains and closes every runner.
    task<void> shutdown() override;
    [[nodiscard]] std::string display_name() const override { return "Engine"; }
    /// A remote client of the engine (this runner's endpoint, token, namespace and runner name).
    [[nodiscard]] std::shared_ptr<client> make_client() override;
    /// This host in serverless mode, else nullptr.
    [[nodiscard]] serverless_host* serverless() noexcept override;

    // serverless_host: a runner with the connection settings of the request and a fresh key.
    std::shared_ptr<serverless_runner> start_serverless_runner(serverless_start_request request) override;

    // actor_driver
    task<std::vector<std::optional<bytes>>> kv_get(std::string actor_id, std::vector<bytes> keys) override;
    task<void> kv_put(std::string actor_id, std::vector<kv_entry> entries) override;
    task<void> kv_delete(std::string actor_id, std::vector<bytes> keys) override;
    task<std::vector<kv_entry>> kv_list_prefix(std::string actor_id, bytes prefix) override;
    task<void> set_alarm(std::string actor_id, std::optional<std::int64_t> timestamp_ms) override;
    [[nodiscard]] bool supports_sleep() const noexcept override { return true; }
    /// Tunnelled RivetKit connections hibernate with their actor (engine-protocol.md §4.4).
    [[nodiscard]] bool supports_hibernation() const noexcept override { return true; }
    void start_sleep(const std::string& actor_id) override;
    void start_destroy(const std::string& actor_id) override;

    /// Actors running here now.
    [[nodiscard]] std::size_t running_count() const;
    /// Completes once no actor is starting, running or stopping here.
    task<void> idle();
    /// The normal runner's connection (nullptr before start(), and in serverless mode).
    [[nodiscard]] std::shared_ptr<runner_connection> connection() const;
    /// Runners connected or connecting now.
    [[nodiscard]] std::size_t runner_count() const;

private:
    class handler;
    class serverless_handle;
    friend class handler;
    friend class serverless_handle;
    friend class tunnel_websocket;

    /// One runner: a connection and what the host knows of it. Identified by its serial (never
    /// reused) so that callbacks of an ended runner cannot touch a newer one.
    struct runner_slot {
        std::uint64_t serial = 0;
        std::shared_ptr<runner_connection> conn;
        /// From the first ToClientInit; empty before.
        std::string runner_id;
        /// The connection ended for good (shutdown or eviction).
        bool closed = false;
        /// Being stopped (shutdown, or a serverless stop()): starts are refused.
        bool stopping = false;
        /// The runner has ended: closed and none of its actors left.
        bool ended = false;
        std::function<void()> observer;  // serverless: connected / ended
        std::vector<std::shared_ptr<detail::oneshot<void>>> ended_waiters;
    };
    /// A tunnelled request: the runner it came through and the request's message id.
    using tunnel_key = std::pair<std::uint64_t, std::uint64_t>;

    enum class phase { starting, running, stopping };
    /// How a stop reports to the engine.
    enum class stop_report { stopped, none };
    struct pending_stop {
        stop_mode mode = stop_mode::sleep;
        /// Sent first (the actor asked to sleep or be destroyed).
        std::optional<runner_protocol::actor_intent> intent;
        stop_report report = stop_report::stopped;
    };
    struct entry {
        std::uint32_t generation = 0;
        phase state = phase::starting;
        /// The runner whose engine command started it; its events and KV go there.
        std::uint64_t runner = 0;
        std::shared_ptr<runner_connection> conn;
        std::shared_ptr<actor_instance> instance;
        std::int64_t create_ts = 0;
        std::int64_t start_ts = 0;
        /// A stop (command, intent or the runner's loss) arrived while starting: it runs once
        /// the start is done.
        std::optional<pending_stop> stop_after_start;
        std::shared_ptr<detail::oneshot<std::shared_ptr<actor_instance>>> started;
        std::shared_ptr<detail::oneshot<void>> stopped;
        std::shared_ptr<rivetkit::timer> alarm;
    };

    // Connection callbacks (on the connection's strand), for the runner `serial`.
    void on_connected(std::uint64_t serial, const std::string& runner_id);
    void on_command(std::uint64_t serial, const runner_protocol::command_wrapper& command);
    void on_tunnel_message(std::uint64_t serial, const runner_protocol::to_client_tunnel_message& message);
    /// The engine has given the runner up: its actors stop without a report.
    void on_runner_gone(std::uint64_t serial, const char* why);
    void on_runner_closed(std::uint64_t serial);

    /// Creates and starts a runner connection.
    std::shared_ptr<runner_slot> open_runner(runner_connection_options options);
    /// Drains the runner (ToServerStopping, the engine stops its actors), closes it, stops what
    /// is left; completes once it has ended.
    task<void> stop_runner(std::uint64_t serial);
    /// Completes once the runner has ended (at once for an unknown serial).
    task<void> runner_ended(std::uint64_t serial);
    /// Completes once no actor of the runner (nullopt: of any runner) is left.
    std::shared_ptr<detail::oneshot<void>> idle_waiter(std::optional<std::uint64_t> serial);
    /// With mutex_ held: marks ended runners (closed, no actors left) and collects who waits.
    void collect_ended_locked(std::vector<std::shared_ptr<detail::oneshot<void>>>& waiters,
                              std::vector<std::function<void()>>& observers);
    /// After an entry was erased: wakes idle and ended-runner waiters.
    void after_erase();
    /// With mutex_ held: whether any actor of the runner (any runner when nullopt) is here.
    [[nodiscard]] bool has_actors_locked(std::optional<std::uint64_t> serial) const;
    [[nodiscard]] std::shared_ptr<runner_connection> conn_of(const std::string& actor_id) const;
    /// The actor asked to sleep or be destroyed: the intent, then the stop (after the start when
    /// one is under way).
    void request_stop(const std::string& actor_id, stop_mode mode, runner_protocol::actor_intent intent);
    /// Runs a stop: the intent first, if any.
    void run_stop(const std::shared_ptr<runner_connection>& conn, const std::string& actor_id, std::uint32_t generation,
                  const pending_stop& stop);

    task<void> start_flow(std::uint64_t serial, std::shared_ptr<runner_connection> conn, std::string actor_id,
                          std::uint32_t generation, runner_protocol::actor_config config,
                          std::vector<runner_protocol::hibernating_request> hibernating);
    /// On the actor's strand, after its start: attaches each restored hibernatable connection
    /// to its socket (one of `hibernating`, the requests the gateway kept), disconnects those
    /// whose request the gateway no longer has, and closes requests nothing was kept of.
    void restore_sockets(std::uint64_t serial, const std::shared_ptr<runner_connection>& conn,
                         const std::shared_ptr<actor_instance>& inst,
                         std::vector<runner_protocol::hibernating_request> hibernating);
    task<void> stop_flow(std::string actor_id, std::uint32_t generation, stop_mode mode, stop_report report);
    /// Begins stopping a running actor (nothing when it is not running in `generation`).
    void begin_stop(const std::string& actor_id, std::uint32_t generation, stop_mode mode, stop_report report);
    static void send_event(const std::shared_ptr<runner_connection>& conn, const std::string& actor_id,
                           std::uint32_t generation, runner_protocol::event ev);
    /// With mutex_ held: a timer running the actor's on_alarm at `timestamp_ms` while it runs.
    std::shared_ptr<rivetkit::timer> arm_alarm(const std::string& actor_id, std::uint32_t generation,
                                               std::int64_t timestamp_ms);
    task<void> alarm_flow(std::string actor_id, std::uint32_t generation);
    /// The running instance, waiting for a start under way; nullptr when the actor is not
    /// (or no longer) running here.
    task<std::shared_ptr<actor_instance>> find_running(std::string actor_id);

    task<void> serve_http(std::shared_ptr<runner_connection> conn, std::uint64_t serial, runner_protocol::message_id id,
                          std::string actor_id, http_request request);
    task<void> open_websocket(std::shared_ptr<tunnel_websocket> socket, std::string actor_id, http_request request);
    /// With mutex_ held: one more tunnelled request for the actor.
    void http_begin_locked(const std::string& actor_id);
    void http_end(const std::string& actor_id);
    /// Completes once no tunnelled request for the actor is left unanswered.
    task<void> http_drained(std::string actor_id);
    void forget_socket(tunnel_key key);

    [[nodiscard]] static actor_record record_of(const entry& e);

    driver_env env_;
    runner_connection_options connection_options_;
    host_options options_;
    std::shared_ptr<detail::router> router_;
    logger log_{"engine"};

    mutable std::mutex mutex_;
    std::map<std::uint64_t, std::shared_ptr<runner_slot>> runners_;
    std::uint64_t next_runner_ = 1;
    std::uint64_t normal_runner_ = 0;  // start()'s runner; 0 = none
    std::unordered_map<std::string, entry> entries_;
    struct pending_http {
        std::string actor_id;
        http_request request;
    };
    std::map<tunnel_key, pending_http> streaming_requests_;  // stream:true, body arriving
    std::map<tunnel_key, bool> http_in_flight_;              // value: aborted
    /// Tunnelled HTTP requests per actor not yet answered, and who waits for none to be left (a
    /// stop reports Stopped only after them: the gateway drops answers that come later).
    struct http_count {
        std::size_t pending = 0;
        std::vector<std::shared_ptr<detail::oneshot<void>>> waiters;
    };
    std::unordered_map<std::string, http_count> http_by_actor_;
    std::map<tunnel_key, std::shared_ptr<tunnel_websocket>> sockets_;
    bool shutting_down_ = false;
    /// Who waits for no actor of a runner (nullopt: of any runner) to be left.
    std::vector<std::pair<std::optional<std::uint64_t>, std::shared_ptr<detail::oneshot<void>>>> idle_waiters_;
};

/// The engine driver's factory from runner connection settings (tests use this to shorten the
/// connection's timings); drivers::engine() is this with connection_options_from(options).
[[nodiscard]] driver_factory make_engine_driver(runner_connection_options connection, host_options options = {});

}  // namespace rivetkit::engine
