#pragma once
// The runtime's actor instance. Not part of the public API: typed contexts (rivetkit/context.hpp)
// and the transports call it. Every member function must run on the instance's strand unless
// documented otherwise.

#include <atomic>
#include <climits>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include "rivetkit/clock.hpp"
#include "rivetkit/detail/hibernation.hpp"
#include "rivetkit/detail/oneshot.hpp"
#include "rivetkit/driver.hpp"
#include "rivetkit/error.hpp"
#include "rivetkit/http.hpp"
#include "rivetkit/key.hpp"
#include "rivetkit/log.hpp"
#include "rivetkit/options.hpp"
#include "rivetkit/task.hpp"
#include "rivetkit/value.hpp"
#include "rivetkit/websocket.hpp"

namespace rivetkit {

class client;
class registry_core;

enum class stop_mode { sleep, destroy };

/// Raised at the very start of an actor's stop; long-running work should watch it.
class abort_signal {
public:
    [[nodiscard]] bool aborted() const noexcept { return aborted_.load(std::memory_order_acquire); }
    /// Calls `fn` when the signal is raised (at once if it already was). Runs on the actor strand.
    void on_abort(std::function<void()> fn);

private:
    friend class actor_instance;
    void raise();
    std::atomic<bool> aborted_{false};
    std::unique_ptr<std::vector<std::function<void()>>> callbacks_;  // allocated by the first on_abort
};

namespace detail {

struct definition_base;
struct action_entry;
class behavior;
class sleep_queue;

/// An event as it leaves the actor; transports cache their encodings of it.
struct event_message {
    std::string name;
    array args;
};

/// How a connection reaches its peer. Implemented by the in-process client and the network layer.
class conn_transport {
public:
    virtual ~conn_transport() = default;
    /// Delivers an event to the peer (called on the actor strand).
    virtual void send_event(const std::shared_ptr<const event_message>& event) = 0;
    /// The same, for a released batch of the outbox: the transport keeps `token` until the
    /// event is handed to its socket (queued in order there, after the write attempt the socket
    /// makes when idle), or dropped (socket closed), then lets it go. The batch's action reply
    /// leaves once every token of the batch is gone. The default sends and lets it go at once
    /// (transports that deliver in place, or cannot tell).
    virtual void send_event_tracked(const std::shared_ptr<const event_message>& event, std::shared_ptr<void> token) {
        (void)token;
        send_event(event);
    }
    /// The server ends the connection (disconnect, actor stopping). Called once, on the strand.
    virtual void close(std::string_view reason) = 0;
    /// Drops the connection without a close handshake, as a network failure would (test mode's
    /// force-disconnect). The default closes it normally.
    virtual void terminate() { close("terminated"); }

    // Hibernatable connections (detail/hibernation.hpp); the defaults are for every other kind.
    /// The actor sleeps: the socket hibernates instead of closing. False when it cannot.
    virtual bool hibernate() { return false; }
    /// Tells the peer that the client messages up to `index` are persisted.
    virtual void acknowledge(std::uint16_t index) { (void)index; }
    /// The index of the next message sent to the peer.
    [[nodiscard]] virtual std::uint16_t server_message_index() const { return 0; }
};

enum class conn_kind : std::uint8_t {
    transient,  // one HTTP action or raw request
    rivet,      // a RivetKit-protocol WebSocket or in-process connection
    raw_websocket,
};

class connection {
public:
    std::string id;
    conn_kind kind = conn_kind::rivet;
    value params;                       // as sent by the client
    std::shared_ptr<void> typed_params; // ConnParams, converted once
    std::shared_ptr<void> state;        // ConnState, when the actor has one
    std::set<std::string, std::less<>> subscriptions;
    std::shared_ptr<conn_transport> transport;
    const http_request* request = nullptr;  // only during prepare/connect hooks
    std::shared_ptr<const http_request> upgrade_request;  // raw WebSockets: kept for their lifetime
    /// Set for a connection whose socket can hibernate (engine driver): it survives sleep.
    std::unique_ptr<hibernation_meta> hibernation;
    bool connected = false;
    bool disconnected = false;
};

/// Thrown by call_transient and request_transient when the call reached the instance after its
/// stop began (a sleep or destroy racing with the call), before any of the call's work ran. It
/// gives the call's arguments back, so the caller can resolve the actor again (a sleep's stop
/// ends and the next load wakes a new instance) and retry. Uncaught, a client sees it as the
/// internal error it is.
class not_accepting final : public error {
public:
    not_accepting(value params, std::string name, array args)
        : error("actor", "internal_error", "Actor is stopping", {}, false),
          params(std::move(params)),
          name(std::move(name)),
          args(std::move(args)) {}
    value params;
    std::string name;   // the action's (call_transient)
    array args;         // the action's (call_transient)
    http_request request;  // the request (request_transient)
};

}  // namespace detail

class actor_instance : public std::enable_shared_from_this<actor_instance> {
public:
    // The io_context's own executor, not a type-erased one: this strand (24 bytes) fits inside an
    // any_io_executor without a heap allocation, so copies made per handler and per coroutine
    // cost nothing (a strand of any_io_executor is 72 bytes and each type-erased copy allocated).
    using strand_type = asio::strand<asio::io_context::executor_type>;

    struct init {
        std::string actor_id;
        std::string name;
        actor_key key;
        std::string region;
        std::shared_ptr<const detail::definition_base> definition;
        actor_driver* driver = nullptr;
        std::shared_ptr<rivetkit::clock> clock;
        asio::io_context* io = nullptr;  // the registry's; the actor's strand runs on it
        registry_core* registry = nullptr;
        durability durability_mode = durability::durable;
    };

    explicit actor_instance(init in);
    ~actor_instance();
    actor_instance(const actor_instance&) = delete;
    actor_instance& operator=(const actor_instance&) = delete;

    // ---- identity (any thread) ----
    [[nodiscard]] const std::string& actor_id() const noexcept { return id_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] const actor_key& key() const noexcept { return key_; }
    [[nodiscard]] const std::string& region() const noexcept;
    /// Built on first use (an idle actor that never logs keeps none).
    [[nodiscard]] const logger& log() const noexcept;
    [[nodiscard]] const strand_type& strand() const noexcept { return strand_; }
    [[nodiscard]] rivetkit::clock& clock() const noexcept { return *clock_; }
    [[nodiscard]] const actor_options& options() const noexcept;

    // ---- lifecycle (called by the host) ----
    /// Creates (first start) or wakes the actor from its persisted data.
    task<void> start();
    /// Stops the actor: abort signal, on_sleep/on_destroy, disconnects, wait_until, final save.
    task<void> stop(stop_mode mode);
    /// Runs every scheduled event that is due, in timestamp order, then re-arms the alarm.
    task<void> on_alarm();
    [[nodiscard]] bool ready() const noexcept { return ready_; }
    [[nodiscard]] bool stopping() const noexcept { return stop_called_; }
    /// Ready and not stopping; unlike ready() and stopping(), safe to read from any thread (a
    /// caller that finds it true may still meet a stop that begins before its work runs on the
    /// strand, exactly as after resolving the actor).
    [[nodiscard]] bool accepting() const noexcept { return accepting_.load(std::memory_order_acquire); }

    // ---- connections (called by transports) ----
    /// on_before_connect, conn params conversion and conn state creation.
    task<std::shared_ptr<detail::connection>> prepare_connection(
        detail::conn_kind kind, value params, std::shared_ptr<detail::conn_transport> transport,
        const http_request* request);
    /// Adds the connection and fires on_connect.
    void connect(const std::shared_ptr<detail::connection>& conn);
    /// Removes the connection, closes its transport with `reason`, fires on_disconnect.
    void disconnect(const std::shared_ptr<detail::connection>& conn, std::string_view reason = {});
    /// Runs an action for `conn` with the action timeout and on_before_action_response. The
    /// result is returned only after the state change it made is committed (output gate).
    task<value> execute_action(std::shared_ptr<detail::connection> conn, std::string name, array args);
    /// Runs on_request for a raw HTTP request.
    task<http_response> handle_request(std::shared_ptr<detail::connection> conn, http_request request);
    /// Runs on_websocket for a raw WebSocket (the connection lives until the socket closes).
    task<void> handle_websocket(std::shared_ptr<detail::connection> conn, std::shared_ptr<websocket> ws,
                                http_request request);
    /// A one-off action on a transient connection (prepare, connect, act, disconnect), as the
    /// reference does for every HTTP action. Keeps the actor awake meanwhile. Throws
    /// detail::not_accepting, with the arguments, if the instance's stop began first.
    task<value> call_transient(value params, const http_request* request, std::string name, array args);
    /// A raw HTTP request to on_request on a transient connection. Throws detail::not_accepting,
    /// with the request, if the instance's stop began first.
    task<http_response> request_transient(value params, http_request request);
    void set_subscription(detail::connection& conn, std::string event, bool subscribe);
    /// Requests that hold the actor awake (HTTP requests in flight).
    void begin_request();
    void end_request();
    [[nodiscard]] std::size_t connection_count() const noexcept { return conns_.size(); }

    // ---- hibernatable connections (hibernation.cpp) ----
    /// The client message `index` (`size` bytes) of a hibernatable connection reached the actor:
    /// it is persisted, then acknowledged, soon.
    void note_client_message(detail::connection& conn, std::uint16_t index, std::size_t size);
    /// Whether this actor's RivetKit connections can hibernate: the driver supports it and the
    /// conn state (if any) is serializable. Any thread.
    [[nodiscard]] bool can_hibernate_connections() const noexcept;
    /// Hibernatable connections restored by start() whose socket is not attached yet: the driver
    /// attaches each (detail::restore_socket) or disconnects it.
    [[nodiscard]] std::vector<std::shared_ptr<detail::connection>> detached_connections() const;
    [[nodiscard]] const std::map<std::string, std::shared_ptr<detail::connection>>& connections() const noexcept {
        return conns_;
    }

    // ---- context API (called from user code on the strand) ----
    void broadcast(std::string_view event, array args);
    void send_to(detail::connection& conn, std::string_view event, array args);
    /// Mutable state access: remembers to look for a change at the end of this turn.
    void touch_state();
    void schedule_at(std::int64_t timestamp_ms, std::string action, array args);
    /// Starts a save now (immediate) or at the next throttled save, and completes when it is
    /// committed.
    task<void> save_state(bool immediate);
    void request_sleep();
    void request_destroy();
    void wait_until(task<void> work);
    void run_in_background(task<void> work);
    [[nodiscard]] rivetkit::abort_signal& abort_signal() noexcept { return abort_; }
    [[nodiscard]] rivetkit::client& client();
    [[nodiscard]] const value& input() const noexcept;
    [[nodiscard]] detail::behavior& behavior() noexcept { return *behavior_; }
    [[nodiscard]] value driver_context() const;
    /// The actor's SQL database, opened through the driver on first use. After the stop has
    /// closed it (once on_sleep/on_destroy and wait_until work are done) it throws
    /// actor/stopping.
    [[nodiscard]] sql::database& db();


private:
    friend class detail::sleep_queue;
    static constexpr std::uint32_t sleep_not_queued = 0xffffffffu;

    struct scheduled_event {
        std::string event_id;
        std::int64_t timestamp = 0;
        std::string action;
        bytes args_cbor;  // a CBOR array
    };
    struct outgoing {
        std::weak_ptr<detail::connection> target;
        std::shared_ptr<const detail::event_message> event;
    };
    /// Changes committed while a write was in flight: the next write carries them together.
    struct pending_write {
        std::vector<outgoing> batch;
        std::shared_ptr<detail::oneshot<void>> done;
        std::shared_ptr<detail::oneshot<void>> delivered;
    };

    task<void> load_or_create();
    bytes encode_persisted() const;
    std::vector<kv_entry> persist_entries() const;
    void decode_persisted(const bytes& blob);
    void diff_state(bool notify);
    void schedule_checkpoint();
    void checkpoint();
    /// Persists what changed (if anything) and releases held events in order once committed.
    /// The oneshot completes once the batch this call releases has reached its sockets (see
    /// release_outbox), and after the commit it waits for.
    std::shared_ptr<detail::oneshot<void>> commit_changes();
    struct delivery_barrier;
    /// Starts the waiting write (extras' follow_up), if any: the write in flight has ended or
    /// the one scheduled by commit_changes() is due.
    void start_follow_up();
    void start_write(std::vector<outgoing> batch, std::shared_ptr<detail::oneshot<void>> done,
                     std::shared_ptr<detail::oneshot<void>> delivered);
    void settle_pending_write(pending_write& w, std::exception_ptr error);
    /// Hands `batch` to the transports in order. `delivered` completes, with `error` if there is
    /// one, once every event of the batch, and of every batch released before it, is handed to
    /// its socket.
    void release_outbox(std::vector<outgoing> batch, std::shared_ptr<detail::oneshot<void>> delivered,
                        std::exception_ptr error = nullptr);
    /// Releases the outbox now; what commit_changes returns when nothing is written.
    std::shared_ptr<detail::oneshot<void>> release_now();
    void deliver(outgoing& o, const std::shared_ptr<void>& token);
    void arm_throttled_save();
    task<void> write_persisted();
    task<void> rearm_alarm();
    void reset_sleep_timer();
    void arm_sleep_timer(milliseconds delay);
    void cancel_sleep_timer() noexcept;
    /// The registry's sleep_queue found this instance's entry due (posted to the strand).
    void sleep_check();
    [[nodiscard]] bool can_sleep() const;
    std::shared_ptr<detail::oneshot<void>> start_with_deadline(task<void> work, milliseconds timeout, std::string name);
    std::shared_ptr<detail::oneshot<value>> start_async_action(const detail::action_entry& entry,
                                                               std::shared_ptr<detail::connection> c, array args);
    std::shared_ptr<detail::oneshot<void>> wait_for_background(milliseconds timeout);
    task<void> run_hook_with_timeout(task<void> hook, milliseconds timeout, std::string_view hook_name);
    void fire_on_connect(const std::shared_ptr<detail::connection>& conn);
    void fire_on_disconnect(const std::shared_ptr<detail::connection>& conn);
    void spawn_logged(task<void> work, std::string_view what);

    // hibernatable connections (hibernation.cpp); the store lives in extras, made when the
    // first one appears
    struct hibernation_store {
        std::shared_ptr<timer> write_timer;
        bool write_running = false;
        std::vector<bytes> deletes;  // records of connections that ended
        std::vector<std::shared_ptr<detail::oneshot<void>>> idle_waiters;
    };
    hibernation_store& hibernation();
    /// The store when there is one (no allocation).
    [[nodiscard]] hibernation_store* hibernation_if_any() const noexcept;
    /// Reads the persisted hibernatable connections back (wake).
    task<void> restore_connections();
    void restore_connections(const std::vector<kv_entry>& entries);
    /// A hibernatable connection changed: its record is written soon (`now`: at once).
    void hibernation_changed(bool now);
    /// Writes every changed record and deletes ended ones, then acknowledges the messages the
    /// records cover; loops until nothing is left.
    task<void> write_hibernation();
    /// stop(): waits for a write under way, then writes what is left.
    task<void> flush_hibernation();

    /// What an idle actor rarely uses, out of line and allocated on first use (more()): the
    /// input, the schedule, the output gate's outbox and writes in flight, throttled saves,
    /// wait_until work, the alarm the driver holds, the client and the database. Defined in
    /// instance.cpp.
    struct extras;
    extras& more();
    /// Frees extras when everything in it is back to its default (an idle actor).
    void trim_extras() noexcept;

    std::string id_;
    std::string name_;
    actor_key key_;
    std::unique_ptr<const std::string> region_;  // only when it is not the registry's default
    const detail::definition_base* def_;  // the registry's (init.definition), which outlives its instances
    actor_driver* driver_;
    rivetkit::clock* clock_;  // the registry's (init.clock), which outlives its instances
    strand_type strand_;
    registry_core* registry_;
    mutable std::atomic<const logger*> log_{nullptr};  // see log()
    std::unique_ptr<detail::behavior> behavior_;
    std::unique_ptr<extras> extras_;

    // persisted (with the input and the schedule in extras)
    bytes state_snapshot_;      // CBOR of the state as last seen
    std::int64_t last_save_ms_ = 0;

    // lifecycle
    std::map<std::string, std::shared_ptr<detail::connection>> conns_;
    static constexpr std::int64_t no_sleep_deadline = INT64_MIN;
    std::int64_t sleep_deadline_ = no_sleep_deadline;  // when the idle actor may sleep, if it can
    rivetkit::abort_signal abort_;
    std::uint32_t requests_in_flight_ = 0;
    std::uint32_t sleep_slot_ = sleep_not_queued;  // position in the registry's sleep_queue (its mutex)
    durability durability_;
    bool has_initialized_ = false;

    // change tracking
    bool state_touched_ = false;
    bool persist_dirty_ = false;  // state or schedule differs from what was last written
    bool checkpoint_posted_ = false;
    bool in_state_change_hook_ = false;

    // output gate
    bool write_running_ = false;  // a write is in flight, or scheduled (commit_changes)

    bool ready_ = false;
    bool stop_called_ = false;
    bool persist_closed_ = false;  // the final save was issued: no more writes
    bool changes_lost_ = false;    // state changed after that save
    bool sleep_requested_ = false;
    bool destroy_requested_ = false;
    bool sleep_armed_ = false;   // queued in the sleep_queue, or its check is posted
    bool alarm_known_ = false;   // whether the armed alarm (extras) reflects what the driver holds
    bool db_closed_ = false;
    std::atomic<bool> accepting_{false};  // ready_ && !stop_called_, for other threads

    // c.db(): opened lazily (extras), closed by stop()
    void close_database() noexcept;
};

}  // namespace rivetkit
