#pragma once
// The `c` of actions and hooks. Contexts are cheap handles to the running actor; they are valid
// for the duration of the action or hook they were given to (keep them by reference across
// `co_await`, never store them).

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rivetkit/convert.hpp"
#include "rivetkit/detail/instance.hpp"
#include "rivetkit/error.hpp"
#include "rivetkit/sql.hpp"

namespace rivetkit {

namespace detail {
class behavior {
public:
    virtual ~behavior() = default;
    void* state = nullptr;  // State*, when the actor has state
    void* vars = nullptr;   // Vars*, when it has vars
    void* input = nullptr;  // Input*, set at start
};

template <class... A>
array to_args(const A&... args) {
    array a;
    a.reserve(sizeof...(A));
    (a.push_back(rivetkit::to_value(args)), ...);
    return a;
}
}  // namespace detail

/// The type parameters of an actor definition. `void` means "none" for state, conn state and
/// vars; conn params and input default to the dynamic rivetkit::value.
template <class State = void, class ConnState = void, class ConnParams = value, class Vars = void,
          class Input = value>
struct actor_types {
    using state = State;
    using conn_state = ConnState;
    using conn_params = ConnParams;
    using vars = Vars;
    using input = Input;
};

/// A connection to the actor, as seen from inside it.
template <class Types>
class conn {
public:
    using conn_state_type = typename Types::conn_state;
    using conn_params_type = typename Types::conn_params;

    conn(actor_instance& inst, detail::connection& c) noexcept : inst_(&inst), c_(&c) {}

    [[nodiscard]] const std::string& id() const noexcept { return c_->id; }
    /// The params the client connected with (converted to ConnParams).
    [[nodiscard]] const conn_params_type& params() const {
        return *static_cast<const conn_params_type*>(c_->typed_params.get());
    }
    /// The params exactly as sent (undefined when none).
    [[nodiscard]] const value& raw_params() const noexcept { return c_->params; }
    /// The per-connection state.
    [[nodiscard]] decltype(auto) state() const {
        static_assert(!std::is_void_v<conn_state_type>,
                      "rivetkit: this actor has no connection state; give actor<State, ConnState>() "
                      "a ConnState type");
        if (!c_->state) throw errors::conn_state_not_enabled();
        return *static_cast<conn_state_type*>(c_->state.get());
    }
    /// Sends an event to this connection only, whatever it subscribed to.
    template <class... A>
    void send(std::string_view event, const A&... args) const {
        inst_->send_to(*c_, event, detail::to_args(args...));
    }
    /// Ends the connection; the client sees it closed with `reason`.
    void disconnect(std::string_view reason = {}) const;

    [[nodiscard]] detail::connection& raw() const noexcept { return *c_; }

private:
    actor_instance* inst_;
    detail::connection* c_;
};

template <class Types>
void conn<Types>::disconnect(std::string_view reason) const {
    auto it = inst_->connections().find(c_->id);
    if (it != inst_->connections().end()) inst_->disconnect(it->second, reason);
}

/// Schedules actions to run later, surviving sleep and restarts (drivers permitting).
class schedule_api {
public:
    explicit schedule_api(actor_instance& inst) noexcept : inst_(&inst) {}
    /// Runs `action(args...)` after `delay`.
    template <class... A>
    void after(milliseconds delay, std::string action, const A&... args) const {
        inst_->schedule_at(inst_->clock().now_ms() + delay.count(), std::move(action),
                           detail::to_args(args...));
    }
    template <class... A>
    void after(std::int64_t delay_ms, std::string action, const A&... args) const {
        after(milliseconds(delay_ms), std::move(action), args...);
    }
    /// Runs `action(args...)` at `timestamp_ms` (milliseconds since the Unix epoch).
    template <class... A>
    void at(std::int64_t timestamp_ms, std::string action, const A&... args) const {
        inst_->schedule_at(timestamp_ms, std::move(action), detail::to_args(args...));
    }

private:
    actor_instance* inst_;
};

/// The context of hooks: everything about the actor, no connection.
template <class Types>
class actor_context {
public:
    using types = Types;
    using state_type = typename Types::state;
    using vars_type = typename Types::vars;
    using input_type = typename Types::input;
    using conn_type = conn<Types>;

    explicit actor_context(actor_instance& inst) noexcept : inst_(&inst) {}

    /// Mutable state; a change made through it is detected, persisted and reported to
    /// on_state_change. Read through `std::as_const(c).state()` to make intent explicit.
    [[nodiscard]] decltype(auto) state() {
        static_assert(!std::is_void_v<state_type>,
                      "rivetkit: this actor has no state; give actor<State>() a state type");
        inst_->touch_state();
        return *static_cast<state_type*>(inst_->behavior().state);
    }
    [[nodiscard]] decltype(auto) state() const {
        static_assert(!std::is_void_v<state_type>,
                      "rivetkit: this actor has no state; give actor<State>() a state type");
        return *static_cast<const state_type*>(inst_->behavior().state);
    }
    /// Ephemeral variables, recreated on every start, never persisted.
    [[nodiscard]] decltype(auto) vars() const {
        static_assert(!std::is_void_v<vars_type>,
                      "rivetkit: this actor has no vars; give actor<State, ConnState, ConnParams, "
                      "Vars>() a Vars type");
        if (inst_->behavior().vars == nullptr) throw errors::vars_not_enabled();
        return *static_cast<vars_type*>(inst_->behavior().vars);
    }
    /// The input the actor was created with.
    [[nodiscard]] const input_type& input() const {
        return *static_cast<const input_type*>(inst_->behavior().input);
    }

    [[nodiscard]] const std::string& actor_id() const noexcept { return inst_->actor_id(); }
    [[nodiscard]] const std::string& name() const noexcept { return inst_->name(); }
    [[nodiscard]] const actor_key& key() const noexcept { return inst_->key(); }
    [[nodiscard]] const std::string& region() const noexcept { return inst_->region(); }
    /// A logger bound to actor=<name> key=<key> actorId=<id>.
    [[nodiscard]] const logger& log() const noexcept { return inst_->log(); }
    /// Milliseconds since the Unix epoch on the actor's clock (virtual in tests).
    [[nodiscard]] std::int64_t now_ms() const { return inst_->clock().now_ms(); }

    /// Sends an event to every connection subscribed to `event`.
    template <class... A>
    void broadcast(std::string_view event, const A&... args) const {
        inst_->broadcast(event, detail::to_args(args...));
    }
    /// Every open connection (including transient HTTP ones).
    [[nodiscard]] std::vector<conn_type> conns() const {
        std::vector<conn_type> out;
        out.reserve(inst_->connections().size());
        for (const auto& [id, c] : inst_->connections()) out.emplace_back(*inst_, *c);
        return out;
    }
    [[nodiscard]] schedule_api schedule() const noexcept { return schedule_api(*inst_); }
    /// The actor's own SQL database (SQLite), created on first use, kept across sleep, deleted
    /// with the actor. Synchronous: queries block this actor's io thread (rivetkit/sql.hpp,
    /// docs/sql.md). Throws database/not_enabled on a driver without databases.
    [[nodiscard]] sql::database& db() const { return inst_->db(); }

    /// Saves now (`immediate`) or with the next throttled save; the returned task completes
    /// once the state is committed. Starting it does not need a co_await.
    task<void> save_state(bool immediate = true) const { return inst_->save_state(immediate); }
    /// Asks the driver to put the actor to sleep once the current work has returned.
    void sleep() const { inst_->request_sleep(); }
    /// Asks the driver to destroy the actor (its data is deleted).
    void destroy() const { inst_->request_destroy(); }
    /// Work a stop waits for (up to wait_until_timeout); it does not keep the actor awake.
    void wait_until(task<void> work) const { inst_->wait_until(std::move(work)); }
    /// Work that keeps the actor awake until it finishes; a stop also waits for it.
    void run_in_background(task<void> work) const { inst_->run_in_background(std::move(work)); }
    /// Raised when the actor starts stopping.
    [[nodiscard]] rivetkit::abort_signal& abort_signal() const noexcept { return inst_->abort_signal(); }
    /// A client for calling other actors of this registry, in process.
    [[nodiscard]] rivetkit::client& client() const { return inst_->client(); }
    /// Suspends a coroutine action or hook for `d` (on the actor's clock).
    [[nodiscard]] task<void> sleep_for(milliseconds d) const { return rivetkit::sleep_for(inst_->clock(), d); }

    [[nodiscard]] actor_instance& instance() const noexcept { return *inst_; }

protected:
    actor_instance* inst_;
};

/// The context of connection set-up hooks (on_before_connect, create_conn_state): the request
/// that opened the connection, when there is one.
template <class Types>
class conn_init_context : public actor_context<Types> {
public:
    conn_init_context(actor_instance& inst, const http_request* request) noexcept
        : actor_context<Types>(inst), request_(request) {}
    /// The HTTP request (or WebSocket upgrade) behind the connection; nullptr in process.
    [[nodiscard]] const http_request* request() const noexcept { return request_; }

private:
    const http_request* request_;
};

/// The context of actions and raw request handlers: adds the calling connection.
template <class Types>
class action_context : public actor_context<Types> {
public:
    action_context(actor_instance& inst, detail::connection* c,
                   const http_request* request = nullptr) noexcept
        : actor_context<Types>(inst), conn_(c), request_(request) {}

    /// The connection the action came from. Scheduled actions have none (throws).
    [[nodiscard]] rivetkit::conn<Types> conn() const {
        if (conn_ == nullptr) throw errors::internal("this action has no connection (scheduled call)");
        return rivetkit::conn<Types>(*this->inst_, *conn_);
    }
    [[nodiscard]] bool has_conn() const noexcept { return conn_ != nullptr; }
    /// The raw HTTP request, in on_request handlers.
    [[nodiscard]] const http_request* request() const noexcept { return request_; }

private:
    detail::connection* conn_;
    const http_request* request_;
};

}  // namespace rivetkit
