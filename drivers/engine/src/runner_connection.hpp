#pragma once
// One runner's WebSocket to a Rivet Engine (runner protocol v5, engine-protocol.md §2–§3, §5):
// the building block the engine driver's actor side sits on.
//
//   auto conn = runner_connection::create(executor, options, handler);
//   conn->start();                       // connects, sends ToServerInit, keeps reconnecting
//   conn->send_event(actor_id, generation, ev);
//   auto answer = co_await conn->kv(actor_id, runner_protocol::kv_get_request{keys});
//   co_await conn->shutdown(30s);        // ToServerStopping, wait for the engine, close
//
// What it does:
// * URL `<endpoint>/runners/connect?protocol_version=5&namespace=…&runner_key=…` (http→ws,
//   https→wss, values percent-encoded), subprotocols `rivet` and `rivet_token.<token>`.
// * ToServerInit first on every connection; ToClientInit gives the runner id (reported through
//   on_connected) and the lost threshold; ToClientPing is answered with ToServerPong at once.
// * Reconnects after any loss with min(initial·2^attempt, max) × (1 + random 0..jitter), the
//   attempt count reset when a socket opens (§3.8). A close with reason `ws.eviction…` (another
//   connection took this runner key, or the engine ended the runner) is final: on_closed(evicted)
//   and no reconnect. When no connection comes back within the lost threshold, on_lost fires (the
//   engine considers the runner lost and its actors gone).
// * Commands: every ToClientCommands batch is delivered command by command to on_command, then
//   acked with ToServerAckCommands (the highest index per actor and generation; at once unless
//   command_ack_interval is set). Replays are dropped: for each actor id the connection remembers the newest generation
//   and the highest command index applied in it; a command with an older generation, or the same
//   generation and an index not above the remembered one, is not delivered (but acked again, so
//   the engine forgets it). The memory is one small entry per actor id and lasts as long as the
//   connection object (forget_actor drops an entry once the owner knows no replay can come).
// * Events: send_event gives each event the next index of its actor's current generation (a new
//   generation restarts at 0) and keeps it until a ToClientAckEvents covers it; every ToClientInit
//   resends all kept events in one ToServerEvents (the engine drops duplicates by index). Events
//   sent while disconnected wait for the next ToClientInit.
// * KV: kv() sends a ToServerKvRequest with a fresh request id (a per-object counter) and
//   completes with the response. Requests made while disconnected wait for the next ToClientInit;
//   requests in flight when the connection drops are sent again after the next ToClientInit
//   (every KV operation is idempotent: put/delete/drop set an absolute state, get/list read).
//   A request fails with engine/kv_error (the engine's KvErrorResponse message), engine/kv_timeout
//   (no answer within kv_timeout of the call, connected or not), or engine/runner_closed (the
//   connection ended for good: shutdown or eviction).
// * Tunnel: ToClientTunnelMessage goes to on_tunnel_message; send_tunnel_message sends at once
//   when connected and otherwise keeps the message until the next ToClientInit.
// * Graceful shutdown: ToServerStopping, then wait until the engine closes the socket,
//   finish_shutdown() is called (the owner's actors have stopped) or the timeout passes; then
//   close 1000 `pegboard.runner_shutdown`. No reconnect meanwhile; commands, events and KV keep
//   flowing during the drain.
//
// Threading: everything runs on one strand of the given executor, and every handler callback is
// called there. Public members may be called from any thread. All timers go through the clock.
// Lifetime: once started, the connection keeps itself alive until it has ended (shutdown() or an
// eviction); an owner that goes away must shut it down first.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/strand.hpp>

#include "net/http_client.hpp"
#include "protocol/runner_protocol.hpp"
#include "rivetkit/clock.hpp"
#include "rivetkit/detail/oneshot.hpp"
#include "rivetkit/drivers/engine.hpp"
#include "rivetkit/log.hpp"
#include "rivetkit/task.hpp"

namespace rivetkit::engine {

namespace rp = runner_protocol;

struct runner_connection_options {
    /// http(s):// or ws(s):// base URL of the engine.
    std::string endpoint = "http://127.0.0.1:6420";
    std::string namespace_name = "default";
    /// Empty: no `rivet_token.` subprotocol.
    std::string token;
    std::string runner_name = "default";
    /// Must not be empty (the driver generates one when the user gave none).
    std::string runner_key;
    std::uint32_t total_slots = 100'000;
    std::uint32_t version = 1;
    /// ToServerInit.prepopulateActorNames: actor name → metadata JSON (RivetKit sends "{}").
    rp::string_map<rp::actor_name> actor_names;
    /// ToServerInit.metadata (JSON); nullopt = absent.
    std::optional<std::string> metadata;

    /// Reconnect backoff: min(initial·2^attempt, max) × (1 + uniform[0, jitter)).
    std::chrono::milliseconds reconnect_initial{1000};
    std::chrono::milliseconds reconnect_max{30'000};
    double reconnect_jitter = 0.25;
    /// Bounds the TCP connect and WebSocket handshake of one attempt.
    std::chrono::milliseconds connect_timeout{10'000};
    /// A KV request fails this long after kv() was called (RivetKit's KV_EXPIRE).
    std::chrono::milliseconds kv_timeout{30'000};
    /// Used until ToClientInit gives the engine's runner lost threshold.
    std::chrono::milliseconds default_lost_threshold{15'000};
    /// 0: ToServerAckCommands after every command batch (the default: acks are cheap and keep
    /// the engine's replay short). Otherwise acks are collected and sent this often (RivetKit's
    /// TS runner: 5 minutes); tests use a long interval to make the engine replay.
    std::chrono::milliseconds command_ack_interval{0};
    /// An eviction is how the engine normally ends this runner (serverless: after a drain), so
    /// it is logged at info level instead of as a warning.
    bool eviction_ends_runner = false;
    /// Largest message accepted from the engine.
    std::size_t max_message_bytes = 64u << 20;

    /// Required: every timer (backoff, KV deadlines, lost threshold, shutdown timeout).
    std::shared_ptr<rivetkit::clock> clock;
    logger log{"engine"};
};

/// The connection settings of the user's engine options: endpoint, namespace, token, runner name,
/// total slots, version, and the runner key (a fresh random UUID when empty, as RivetKit does per
/// driver). Actor names, metadata, clock and logger are left for the driver to fill in.
[[nodiscard]] runner_connection_options connection_options_from(const drivers::engine_options& engine);

/// Why the connection ended for good.
enum class runner_close_reason {
    /// shutdown() finished.
    shutdown,
    /// The engine closed with `ws.eviction` (runner key taken over, or the runner was ended).
    evicted,
};

/// The owner's side. Every callback runs on the connection's strand; none may block.
class runner_handler {
public:
    virtual ~runner_handler() = default;
    /// ToClientInit arrived. `runner_id_changed`: an earlier connection had a different id (the
    /// engine forgot the runner: its actors are gone and should be stopped locally).
    virtual void on_connected(const std::string& runner_id, bool runner_id_changed) {
        (void)runner_id;
        (void)runner_id_changed;
    }
    /// The socket closed (a reconnect follows unless the close was final).
    virtual void on_disconnected(std::uint16_t code, const std::string& reason) {
        (void)code;
        (void)reason;
    }
    /// No connection for the lost threshold: the engine has declared the runner lost.
    virtual void on_lost() {}
    /// A command that was not applied before (replays are filtered out). It is acked once the
    /// whole batch has been delivered.
    virtual void on_command(const rp::command_wrapper& command) = 0;
    virtual void on_tunnel_message(const rp::to_client_tunnel_message& message) { (void)message; }
    /// The connection ended for good (called once); `detail` is the close reason.
    virtual void on_closed(runner_close_reason reason, const std::string& detail) {
        (void)reason;
        (void)detail;
    }
};

class runner_connection : public std::enable_shared_from_this<runner_connection> {
    struct private_tag {};

public:
    static std::shared_ptr<runner_connection> create(asio::any_io_executor executor, runner_connection_options options,
                                                     std::shared_ptr<runner_handler> handler);
    runner_connection(private_tag, asio::any_io_executor executor, runner_connection_options options,
                      std::shared_ptr<runner_handler> handler);
    ~runner_connection();
    runner_connection(const runner_connection&) = delete;
    runner_connection& operator=(const runner_connection&) = delete;

    /// Starts connecting (once).
    void start();

    /// Queues `ev` for the actor's `generation` with the next event index.
    void send_event(std::string actor_id, std::uint32_t generation, rp::event ev);
    /// Sends a tunnel message (kept until connected).
    void send_tunnel_message(rp::to_server_tunnel_message message);
    /// Drops the replay memory and the unacked events of an actor.
    void forget_actor(std::string actor_id);

    /// One KV request for `actor_id`; the response (never a kv_error_response: that throws).
    task<rp::kv_response_data> kv(std::string actor_id, rp::kv_request_data request);

    /// Graceful shutdown (see above); completes when the connection has ended. Idempotent.
    task<void> shutdown(std::chrono::milliseconds timeout);
    /// The owner's actors have stopped: a shutdown in progress may close now (one that starts
    /// later closes without waiting for the engine).
    void finish_shutdown();
    /// Completes when the connection has ended for good (shutdown or eviction).
    task<runner_close_reason> wait_closed();

    /// The runner id from the last ToClientInit, empty before the first.
    [[nodiscard]] std::string runner_id() const;
    /// Events sent and not yet acked by the engine.
    [[nodiscard]] std::size_t unacked_events() const;
    /// The URL target this connection opens (path and query), for tests and logs.
    [[nodiscard]] std::string connect_target() const;

private:
    struct actor_events {
        std::uint32_t generation = 0;
        std::int64_t next_index = 0;
        std::deque<rp::event_wrapper> unacked;
    };
    struct applied_command {
        std::uint32_t generation = 0;
        std::int64_t index = -1;
    };
    struct kv_pending {
        std::string actor_id;
        rp::kv_request_data data;
        std::shared_ptr<detail::oneshot<rp::kv_response_data>> result;
        std::shared_ptr<rivetkit::timer> deadline;
        bool sent = false;  // sent on the current connection
    };

    // On the strand.
    task<void> run(std::shared_ptr<runner_connection> self);
    task<void> wait_for(std::chrono::milliseconds delay, std::shared_ptr<detail::oneshot<void>> cancel);
    std::chrono::milliseconds next_backoff();
    void on_frame(const std::shared_ptr<net::websocket_session>& socket, const std::string& data);
    void handle_init(const rp::to_client_init& init);
    void handle_commands(const rp::to_client_commands& commands);
    void handle_ack_events(const rp::to_client_ack_events& acks);
    void handle_kv_response(rp::to_client_kv_response response);
    void send(const rp::to_server& message);
    void send_kv(std::uint32_t request_id, kv_pending& pending);
    void fail_kv(std::uint32_t request_id, std::exception_ptr e);
    void fail_all_kv(std::exception_ptr e);
    void start_lost_timer();
    void flush_command_acks();
    void finish(runner_close_reason reason, const std::string& detail);
    void update_unacked_count();

    asio::strand<asio::any_io_executor> strand_;
    runner_connection_options options_;
    std::shared_ptr<runner_handler> handler_;
    logger log_;
    net::http_client http_;
    std::minstd_rand rng_;

    // Strand only.
    bool started_ = false;
    bool stopping_ = false;
    bool finished_ = false;
    bool initialized_ = false;  // ToClientInit received on the current socket
    bool owner_finished_ = false;  // finish_shutdown() was called
    unsigned attempt_ = 0;
    std::shared_ptr<net::websocket_session> socket_;
    std::shared_ptr<detail::oneshot<std::pair<std::uint16_t, std::string>>> socket_closed_;
    std::shared_ptr<detail::oneshot<void>> backoff_cancel_;
    std::shared_ptr<detail::oneshot<void>> shutdown_ready_;  // engine closed / owner finished / timeout
    std::shared_ptr<rivetkit::timer> lost_timer_;
    std::chrono::milliseconds lost_threshold_;
    std::string last_runner_id_;
    std::map<std::string, applied_command> applied_;
    std::map<std::pair<std::string, std::uint32_t>, std::int64_t> pending_acks_;
    std::shared_ptr<rivetkit::timer> ack_timer_;
    std::map<std::string, actor_events> events_;
    std::map<std::uint32_t, kv_pending> kv_;
    std::uint32_t next_kv_id_ = 0;
    std::vector<rp::to_server_tunnel_message> tunnel_backlog_;

    std::shared_ptr<detail::oneshot<runner_close_reason>> closed_;

    mutable std::mutex stats_mutex_;
    std::string runner_id_;
    std::size_t unacked_events_ = 0;
};

}  // namespace rivetkit::engine
