#include "client/inprocess_transport.hpp"

#include <map>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "rivetkit/detail/instance.hpp"
#include "rivetkit/error.hpp"

namespace rivetkit::detail {

void rethrow_masked(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const blocking_call_error&) {
        throw;
    } catch (...) {
        auto shown = to_client_error(std::current_exception());
        throw error(shown.group, shown.code, shown.message, shown.metadata, true);
    }
}

namespace {

task<std::string> resolve_id(registry_core& core, actor_query q) {
    auto& m = core.manager();
    switch (q.how) {
        case actor_query::kind::get: {
            auto r = co_await m.get_with_key(q.name, q.key);
            if (!r) throw errors::actor_not_found(fmt::format("{} with key {}", q.name, serialize_key(q.key)));
            co_return r->actor_id;
        }
        case actor_query::kind::get_or_create: {
            create_request req{q.name, q.key, q.input, q.region};  // named: GCC 12 miscompiles braced temporaries in co_await
            auto r = co_await m.get_or_create_with_key(std::move(req));
            co_return r.actor_id;
        }
        case actor_query::kind::create: {
            create_request req{q.name, q.key, q.input, q.region};
            auto r = co_await m.create_actor(std::move(req));
            co_return r.actor_id;
        }
        case actor_query::kind::get_for_id: {
            auto r = co_await m.get_for_id(q.actor_id);
            if (!r || r->name != q.name) throw errors::actor_not_found(q.actor_id);
            co_return r->actor_id;
        }
    }
    throw errors::internal("unknown actor query");
}

// ---- connections ----

class inprocess_connection;

/// The server side of an in-process connection: forwards events and closes to the client side.
class server_side final : public conn_transport {
public:
    explicit server_side(std::weak_ptr<inprocess_connection> c) : client_(std::move(c)) {}
    void send_event(const std::shared_ptr<const event_message>& event) override;
    void close(std::string_view reason) override;

private:
    std::weak_ptr<inprocess_connection> client_;
};

/// Opens the server side of a connection (on the actor's strand) and subscribes it.
task<std::shared_ptr<connection>> open_server_conn(std::shared_ptr<actor_instance> inst, value params,
                                                   std::shared_ptr<conn_transport> side,
                                                   std::vector<std::string> events) {
    auto c = co_await inst->prepare_connection(conn_kind::rivet, std::move(params), std::move(side), nullptr);
    inst->connect(c);
    for (auto& e : events) inst->set_subscription(*c, e, true);
    co_return c;
}

class inprocess_connection final : public client_connection,
                                   public std::enable_shared_from_this<inprocess_connection> {
public:
    inprocess_connection(registry_core& core, actor_query q, value params)
        : core_(&core), strand_(asio::make_strand(core.executor())), query_(std::move(q)), params_(std::move(params)),
          connected_(oneshot<void>::make()) {}

    void start() { asio::co_spawn(strand_, run_connect(), [](std::exception_ptr) {}); }

    std::uint64_t add_listener(std::string event, std::function<void(const array&)> fn, bool once) override {
        bool first = false;
        std::uint64_t id;
        {
            std::lock_guard lock(mutex_);
            id = ++next_listener_;
            first = std::none_of(listeners_.begin(), listeners_.end(), [&](const auto& l) { return l.second.event == event; });
            listeners_.emplace(id, listener{event, std::move(fn), once});
        }
        if (first) update_subscription(std::move(event), true);
        return id;
    }

    void remove_listener(std::uint64_t id) override {
        std::string event;
        bool last = false;
        {
            std::lock_guard lock(mutex_);
            auto it = listeners_.find(id);
            if (it == listeners_.end()) return;
            event = it->second.event;
            listeners_.erase(it);
            last = std::none_of(listeners_.begin(), listeners_.end(), [&](const auto& l) { return l.second.event == event; });
        }
        if (last) update_subscription(std::move(event), false);
    }

    void add_error_listener(std::function<void(const client_error&)> fn) override {
        std::lock_guard lock(mutex_);
        error_listeners_.push_back(std::move(fn));
    }
    void add_status_listener(std::function<void(connection_status)> fn) override {
        std::lock_guard lock(mutex_);
        status_listeners_.push_back(std::move(fn));
    }

    task<value> action(std::string name, array args) override {
        // Runs on the connection's strand, so events the action broadcast (posted to the same
        // strand before the reply) are delivered before the call returns.
        auto impl = action_impl(std::move(name), std::move(args));  // named first (GCC 12 rule)
        auto spawned = asio::co_spawn(strand_, std::move(impl), asio::use_awaitable);
        co_return co_await std::move(spawned);
    }

    // Once dispose() returns no listener of this connection runs again: listeners are dropped
    // here, and a callback running on another thread is waited for (callback_mutex_).
    void dispose() override {
        // The listeners are moved out under the lock and destroyed after it is released: a
        // listener's captures may call back into this connection (unsubscribe) as they die.
        std::vector<std::function<void(connection_status)>> status_cbs;
        std::map<std::uint64_t, listener> dropped_listeners;
        std::vector<std::function<void(const client_error&)>> dropped_error_listeners;
        {
            std::lock_guard cb(callback_mutex_);
            {
                std::lock_guard lock(mutex_);
                if (status_ == connection_status::disposed) return;
                status_ = connection_status::disposed;
                status_cbs.swap(status_listeners_);
                dropped_listeners.swap(listeners_);
                dropped_error_listeners.swap(error_listeners_);
            }
            for (auto& f : status_cbs) {
                try {
                    f(connection_status::disposed);
                } catch (...) {
                }
            }
        }
        asio::post(strand_, [self = shared_from_this()] {
            if (self->reconnect_timer_) self->reconnect_timer_->cancel();
            self->connected_->set_exception(std::make_exception_ptr(
                error("client", "disposed", "The connection was disposed", {}, true)));
            if (self->inst_ && self->server_conn_) {
                asio::post(self->inst_->strand(), [inst = self->inst_, c = self->server_conn_] { inst->disconnect(c); });
            }
            self->inst_.reset();
            self->server_conn_.reset();
        });
    }

    connection_status status() const override {
        std::lock_guard lock(mutex_);
        return status_;
    }
    std::string connection_id() const override {
        std::lock_guard lock(mutex_);
        return conn_id_;
    }
    task<void> wait_connected() override {
        auto attempt = current_attempt();  // named first (GCC 12 rule)
        auto spawned = asio::co_spawn(strand_, std::move(attempt), asio::use_awaitable);
        auto c = co_await std::move(spawned);
        auto waiting = c->wait();
        co_await std::move(waiting);
    }

    // From the server side (posted onto our strand).
    void on_event(const std::shared_ptr<const event_message>& event) {
        std::lock_guard cb(callback_mutex_);
        std::vector<std::function<void(const array&)>> targets;
        {
            std::lock_guard lock(mutex_);
            for (auto it = listeners_.begin(); it != listeners_.end();) {
                if (it->second.event == event->name) {
                    targets.push_back(it->second.fn);
                    if (it->second.once) {
                        it = listeners_.erase(it);
                        continue;
                    }
                }
                ++it;
            }
        }
        for (auto& fn : targets) {
            try {
                fn(event->args);
            } catch (const std::exception& e) {
                core_->log().error("event listener threw", {{"event", event->name}, {"error", e.what()}});
            }
        }
    }

    void on_closed(std::string reason) {
        if (status() == connection_status::disposed) return;
        server_conn_.reset();
        inst_.reset();
        set_status(connection_status::disconnected);
        connected_ = oneshot<void>::make();
        const milliseconds delay = next_reconnect_delay();
        core_->log().debug("connection closed by the actor; reconnecting",
                           {{"reason", reason}, {"delayMs", std::to_string(delay.count())}});
        if (delay.count() == 0) {
            asio::co_spawn(strand_, run_connect(), [](std::exception_ptr) {});
            return;
        }
        reconnect_timer_ = core_->clock()->start_timer(delay, strand_, [w = weak_from_this()] {
            auto self = w.lock();
            if (!self || self->status() == connection_status::disposed) return;
            asio::co_spawn(self->strand_, self->run_connect(), [](std::exception_ptr) {});
        });
    }

    const asio::strand<asio::any_io_executor>& strand() const { return strand_; }

private:
    struct listener {
        std::string event;
        std::function<void(const array&)> fn;
        bool once = false;
    };

    task<std::shared_ptr<oneshot<void>>> current_attempt() { co_return connected_; }

    /// The reference client's reconnect policy (client-protocol.md §5.4): the first reconnect
    /// is immediate, further ones back off from 250 ms, doubling, up to 30 s. A connection that
    /// stayed up for the longest backoff starts over. Without this, a connection the actor
    /// closes at once (on_connect throwing) would reconnect in a tight loop forever.
    milliseconds next_reconnect_delay() {
        constexpr std::int64_t min_ms = 250;
        constexpr std::int64_t max_ms = 30'000;
        if (core_->clock()->now_ms() - connected_at_ms_ >= max_ms) reconnects_ = 0;
        if (reconnects_++ == 0) return milliseconds(0);
        std::int64_t d = min_ms;
        for (unsigned i = 2; i < reconnects_ && d < max_ms; ++i) d *= 2;
        return milliseconds(std::min(d, max_ms));
    }

    void set_status(connection_status s) {
        std::lock_guard cb(callback_mutex_);
        std::vector<std::function<void(connection_status)>> cbs;
        {
            std::lock_guard lock(mutex_);
            if (status_ == connection_status::disposed) return;  // final
            status_ = s;
            cbs = status_listeners_;
        }
        for (auto& cb : cbs) {
            try {
                cb(s);
            } catch (...) {
            }
        }
    }

    task<void> run_connect() {
        auto attempt = connected_;
        set_status(connection_status::connecting);
        try {
            auto id = co_await resolve_id(*core_, query_);
            auto inst = co_await core_->manager().load_actor(id);
            std::vector<std::string> events;
            {
                std::lock_guard lock(mutex_);
                for (const auto& [lid, l] : listeners_) {
                    if (std::find(events.begin(), events.end(), l.event) == events.end()) events.push_back(l.event);
                }
            }
            auto side = std::make_shared<server_side>(weak_from_this());
            auto opening = open_server_conn(inst, params_, side, events);
            auto c = co_await asio::co_spawn(inst->strand(), std::move(opening), asio::use_awaitable);
            if (status() == connection_status::disposed) {
                asio::post(inst->strand(), [inst, c] { inst->disconnect(c); });
                co_return;
            }
            inst_ = inst;
            server_conn_ = c;
            // Listeners added or removed while the connection was opening (after `events` was
            // taken) found it not up yet and left their change to this point.
            catch_up_subscriptions(events);
            {
                std::lock_guard lock(mutex_);
                conn_id_ = c->id;
            }
            connected_at_ms_ = core_->clock()->now_ms();
            set_status(connection_status::connected);
            attempt->set_value();
        } catch (...) {
            auto shown = to_client_error(std::current_exception());
            std::lock_guard cb_lock(callback_mutex_);
            std::vector<std::function<void(const client_error&)>> cbs;
            {
                std::lock_guard lock(mutex_);
                cbs = error_listeners_;
            }
            for (auto& cb : cbs) {
                try {
                    cb(shown);
                } catch (...) {
                }
            }
            set_status(connection_status::disconnected);  // ignored once disposed
            attempt->set_exception(std::make_exception_ptr(error(shown.group, shown.code, shown.message, shown.metadata)));
        }
    }

    task<value> action_impl(std::string name, array args) {
        co_await connected_->wait();
        auto inst = inst_;
        auto c = server_conn_;
        if (!inst || !c) throw error("client", "not_connected", "The connection is not open", {}, true);
        try {
            auto call = inst->execute_action(c, std::move(name), std::move(args));  // named first (GCC 12 rule)
            auto spawned = asio::co_spawn(inst->strand(), std::move(call), asio::use_awaitable);
            co_return co_await std::move(spawned);
        } catch (...) {
            rethrow_masked(std::current_exception());
        }
    }

    /// On the strand, once connected: subscribes the server side to the listeners' events that
    /// `sent` (what the connection opened with) lacks, and unsubscribes those no longer listened to.
    void catch_up_subscriptions(const std::vector<std::string>& sent) {
        std::vector<std::pair<std::string, bool>> changes;
        {
            std::lock_guard lock(mutex_);
            for (const auto& [lid, l] : listeners_) {
                const bool known = std::find(sent.begin(), sent.end(), l.event) != sent.end() ||
                                   std::any_of(changes.begin(), changes.end(), [&](const auto& ch) { return ch.first == l.event; });
                if (!known) changes.emplace_back(l.event, true);
            }
            for (const auto& e : sent) {
                const bool listened = std::any_of(listeners_.begin(), listeners_.end(),
                                                  [&](const auto& entry) { return entry.second.event == e; });
                if (!listened) changes.emplace_back(e, false);
            }
        }
        if (changes.empty()) return;
        asio::post(inst_->strand(), [inst = inst_, c = server_conn_, changes = std::move(changes)] {
            for (const auto& [event, subscribe] : changes) inst->set_subscription(*c, event, subscribe);
        });
    }

    void update_subscription(std::string event, bool subscribe) {
        asio::post(strand_, [self = shared_from_this(), event = std::move(event), subscribe] {
            if (!self->inst_ || !self->server_conn_) return;  // caught up once (re)connected
            asio::post(self->inst_->strand(), [inst = self->inst_, c = self->server_conn_, event, subscribe] {
                inst->set_subscription(*c, event, subscribe);
            });
        });
    }

    registry_core* core_;
    asio::strand<asio::any_io_executor> strand_;
    actor_query query_;
    value params_;
    mutable std::mutex mutex_;
    std::map<std::uint64_t, listener> listeners_;
    std::uint64_t next_listener_ = 0;
    std::vector<std::function<void(const client_error&)>> error_listeners_;
    std::recursive_mutex callback_mutex_;  // held while user callbacks run
    std::vector<std::function<void(connection_status)>> status_listeners_;
    connection_status status_ = connection_status::connecting;
    std::string conn_id_;
    // strand-only
    std::shared_ptr<oneshot<void>> connected_;
    std::shared_ptr<actor_instance> inst_;
    std::shared_ptr<connection> server_conn_;
    std::int64_t connected_at_ms_ = 0;
    unsigned reconnects_ = 0;  // reconnects since the connection was last up for a while
    std::shared_ptr<timer> reconnect_timer_;
};

void server_side::send_event(const std::shared_ptr<const event_message>& event) {
    if (auto c = client_.lock()) asio::post(c->strand(), [c, event] { c->on_event(event); });
}

void server_side::close(std::string_view reason) {
    if (auto c = client_.lock()) asio::post(c->strand(), [c, r = std::string(reason)] { c->on_closed(r); });
}

// ---- raw WebSockets ----

/// One end of an in-process WebSocket pair. Callbacks run on this end's executor.
class ws_end final : public websocket, public std::enable_shared_from_this<ws_end> {
public:
    explicit ws_end(asio::any_io_executor ex) : ex_(std::move(ex)) {}

    static void link(const std::shared_ptr<ws_end>& a, const std::shared_ptr<ws_end>& b) {
        a->peer_ = b;
        b->peer_ = a;
    }
    /// Runs (on this end's executor) once the socket is closed, after on_close.
    void set_closed_hook(std::function<void()> hook) { closed_hook_ = std::move(hook); }

    void send(std::string_view text) override { deliver(websocket_message{std::string(text), false}); }
    void send_binary(std::span<const std::uint8_t> data) override {
        deliver(websocket_message{std::string(data.begin(), data.end()), true});
    }
    void close(std::uint16_t code, std::string_view reason) override {
        if (!open_.exchange(false)) return;
        drop_message_handler();
        std::string r(reason);
        asio::post(ex_, [self = shared_from_this(), code, r] { self->finish(code, r); });
        if (auto p = peer_.lock()) {
            asio::post(p->ex_, [p, code, r] {
                if (p->open_.exchange(false)) p->finish(code, r);
            });
        }
    }
    bool is_open() const override { return open_.load(); }

protected:
    void run_on_executor(std::function<void()> fn) override {
        asio::post(ex_, [self = shared_from_this(), fn = std::move(fn)] { fn(); });
    }

private:
    void deliver(websocket_message m) {
        if (!open_.load()) return;
        auto p = peer_.lock();
        if (!p) return;
        asio::post(p->ex_, [p, m = std::move(m)] {
            if (p->open_.load()) p->emit_message(m);
        });
    }
    void finish(std::uint16_t code, const std::string& reason) {
        emit_close(code, reason);
        if (auto hook = std::exchange(closed_hook_, nullptr)) hook();
    }

    asio::any_io_executor ex_;
    std::weak_ptr<ws_end> peer_;
    std::atomic<bool> open_{true};
    std::function<void()> closed_hook_;
};

/// The connection's transport for a raw WebSocket: a server-side disconnect closes the socket.
class raw_ws_transport final : public conn_transport {
public:
    explicit raw_ws_transport(std::weak_ptr<ws_end> ws) : ws_(std::move(ws)) {}
    void send_event(const std::shared_ptr<const event_message>&) override {}
    void close(std::string_view reason) override {
        if (auto ws = ws_.lock()) ws->close(1000, reason);
    }

private:
    std::weak_ptr<ws_end> ws_;
};

http_request websocket_request(const std::string& path) {
    http_request req;
    req.method = "GET";
    std::string p = path;
    if (auto q = p.find('?'); q != std::string::npos) {
        req.query = p.substr(q + 1);
        p.resize(q);
    }
    if (!p.empty() && p.front() != '/') p.insert(p.begin(), '/');
    req.path = "/websocket" + p;
    return req;
}

/// Wires the server end to its connection (plain function: no lambdas in coroutine bodies).
void wire_server_end(const std::shared_ptr<actor_instance>& inst, const std::shared_ptr<connection>& c,
                     const std::shared_ptr<ws_end>& server_end) {
    c->transport = std::make_shared<raw_ws_transport>(server_end);
    std::weak_ptr<actor_instance> w = inst;
    server_end->set_closed_hook([w, c] {
        if (auto i = w.lock()) i->disconnect(c);
    });
}

/// On the actor's strand: prepares the raw connection and runs on_websocket.
task<void> open_raw_websocket(std::shared_ptr<actor_instance> inst, value params, http_request req,
                              std::shared_ptr<ws_end> client_end) {
    auto c = co_await inst->prepare_connection(conn_kind::raw_websocket, std::move(params), nullptr, &req);
    auto server_end = std::make_shared<ws_end>(inst->strand());
    ws_end::link(server_end, client_end);
    wire_server_end(inst, c, server_end);
    inst->connect(c);
    std::exception_ptr err;
    try {
        co_await inst->handle_websocket(c, server_end, std::move(req));
    } catch (...) {
        err = std::current_exception();
    }
    if (err) {
        // As over the network: the socket closes with 1011 and the error code as reason.
        server_end->close(1011, to_client_error(err).code);
        std::rethrow_exception(err);
    }
}

}  // namespace

task<std::shared_ptr<websocket>> inprocess_transport::open_websocket(actor_query query, value params,
                                                                     std::string path) {
    try {
        auto id = co_await resolve_id(*core_, std::move(query));
        auto inst = co_await core_->manager().load_actor(id);
        auto client_end = std::make_shared<ws_end>(asio::make_strand(core_->executor()));
        auto opening = open_raw_websocket(inst, std::move(params), websocket_request(path), client_end);
        co_await asio::co_spawn(inst->strand(), std::move(opening), asio::use_awaitable);
        co_return client_end;
    } catch (...) {
        rethrow_masked(std::current_exception());
    }
}

task<std::string> inprocess_transport::resolve(actor_query query) {
    try {
        co_return co_await resolve_id(*core_, std::move(query));
    } catch (...) {
        rethrow_masked(std::current_exception());
    }
}

namespace {

// The instance a handle's earlier call reached, if it still accepts work: a call then skips
// resolving its query (the actor id, the host's table, two coroutines). Not for create queries.
std::shared_ptr<actor_instance> remembered(const actor_query& q) {
    if (!q.memo || q.how == actor_query::kind::create) return nullptr;
    std::shared_ptr<void> target;
    {
        std::lock_guard lock(q.memo->mutex);
        target = q.memo->target.lock();
    }
    auto inst = std::static_pointer_cast<actor_instance>(std::move(target));
    return inst && inst->accepting() ? inst : nullptr;
}

void remember(const std::shared_ptr<query_memo>& memo, const std::shared_ptr<actor_instance>& inst) {
    if (!memo) return;
    std::lock_guard lock(memo->mutex);
    memo->target = inst;
}

// The query's running instance (woken or created as the query says), remembered for next time.
task<std::shared_ptr<actor_instance>> load_for(registry_core& core, actor_query query) {
    auto memo = query.how == actor_query::kind::create ? nullptr : query.memo;
    auto id = co_await resolve_id(core, std::move(query));
    auto inst = co_await core.manager().load_actor(id);
    remember(memo, inst);
    co_return inst;
}

}  // namespace

// A call that reaches an instance whose stop (a sleep, usually) began after the call found it
// gets its arguments back (detail::not_accepting) and goes through resolution again, which waits
// for that stop and wakes the actor. A few rounds at most, in case it keeps stopping.
constexpr int max_stopped_retries = 3;

task<value> inprocess_transport::action(actor_query query, value params, std::string name, array args) {
    try {
        for (int attempt = 0;; ++attempt) {
            // After a not_accepting the remembered instance no longer accepts: this loads again.
            auto inst = remembered(query);
            if (!inst) {
                auto loading = load_for(*core_, query);  // named first (GCC 12 rule)
                inst = co_await std::move(loading);
            }
            try {
                auto call = inst->call_transient(std::move(params), nullptr, std::move(name), std::move(args));
                co_return co_await asio::co_spawn(inst->strand(), std::move(call), asio::use_awaitable);
            } catch (detail::not_accepting& e) {
                if (attempt == max_stopped_retries) throw;
                params = std::move(e.params);
                name = std::move(e.name);
                args = std::move(e.args);
            }
        }
    } catch (...) {
        rethrow_masked(std::current_exception());
    }
}

task<http_response> inprocess_transport::fetch(actor_query query, value params, http_request request) {
    try {
        for (int attempt = 0;; ++attempt) {
            // After a not_accepting the remembered instance no longer accepts: this loads again.
            auto inst = remembered(query);
            if (!inst) {
                auto loading = load_for(*core_, query);  // named first (GCC 12 rule)
                inst = co_await std::move(loading);
            }
            try {
                auto call = inst->request_transient(std::move(params), std::move(request));
                co_return co_await asio::co_spawn(inst->strand(), std::move(call), asio::use_awaitable);
            } catch (detail::not_accepting& e) {
                if (attempt == max_stopped_retries) throw;
                params = std::move(e.params);
                request = std::move(e.request);
            }
        }
    } catch (...) {
        rethrow_masked(std::current_exception());
    }
}

std::shared_ptr<client_connection> inprocess_transport::connect(actor_query query, value params) {
    auto c = std::make_shared<inprocess_connection>(*core_, std::move(query), std::move(params));
    c->start();
    std::lock_guard lock(mutex_);
    std::erase_if(connections_, [](const auto& w) { return w.expired(); });
    connections_.push_back(c);
    return c;
}

void inprocess_transport::dispose() {
    std::vector<std::weak_ptr<client_connection>> conns;
    {
        std::lock_guard lock(mutex_);
        conns.swap(connections_);
    }
    for (auto& w : conns) {
        if (auto c = w.lock()) c->dispose();
    }
}

}  // namespace rivetkit::detail
