#include "runner_connection.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "rivetkit/error.hpp"
#include "rivetkit/ids.hpp"

namespace rivetkit::engine {

namespace {

std::exception_ptr engine_error(std::string code, std::string message) {
    return std::make_exception_ptr(rivetkit::error("engine", std::move(code), std::move(message), {}, true));
}

bool is_eviction(const std::string& reason) {
    // "ws.eviction" or "ws.eviction#<rayId>"
    constexpr std::string_view prefix = "ws.eviction";
    return reason.size() >= prefix.size() && std::string_view(reason).substr(0, prefix.size()) == prefix &&
           (reason.size() == prefix.size() || reason[prefix.size()] == '#');
}

net::url parse_endpoint(const std::string& endpoint) {
    std::string why;
    auto u = net::parse_url(endpoint, &why);
    if (!u) throw std::invalid_argument("invalid engine endpoint \"" + endpoint + "\": " + why);
    return *u;
}

}  // namespace

runner_connection_options connection_options_from(const drivers::engine_options& engine) {
    runner_connection_options o;
    o.endpoint = engine.endpoint;
    o.namespace_name = engine.namespace_name;
    o.token = engine.token;
    o.runner_name = engine.runner_name;
    o.runner_key = engine.runner_key.empty() ? random_uuid() : engine.runner_key;
    o.total_slots = engine.total_slots;
    o.version = engine.runner_version;
    return o;
}

std::shared_ptr<runner_connection> runner_connection::create(asio::any_io_executor executor,
                                                             runner_connection_options options,
                                                             std::shared_ptr<runner_handler> handler) {
    if (!handler) throw std::invalid_argument("runner_connection needs a handler");
    if (options.runner_key.empty()) throw std::invalid_argument("runner_connection needs a runner key");
    (void)parse_endpoint(options.endpoint);
    if (!options.clock) options.clock = make_system_clock();
    return std::make_shared<runner_connection>(private_tag{}, std::move(executor), std::move(options),
                                               std::move(handler));
}

namespace {
// Built out of line: GCC 12 at -O3 warns (falsely) that the strings of an `http_client_options{}`
// temporary in the member initializer may be used uninitialized.
[[gnu::noinline]] net::http_client_options runner_http_options() { return net::http_client_options{}; }
}  // namespace

runner_connection::runner_connection(private_tag, asio::any_io_executor executor, runner_connection_options options,
                                     std::shared_ptr<runner_handler> handler)
    : strand_(asio::make_strand(executor)),
      options_(std::move(options)),
      handler_(std::move(handler)),
      log_(options_.log.with("runner_key", options_.runner_key)),
      http_(executor, runner_http_options()),
      rng_(std::random_device{}()),
      lost_threshold_(options_.default_lost_threshold),
      closed_(detail::oneshot<runner_close_reason>::make()) {}

runner_connection::~runner_connection() = default;

std::string runner_connection::connect_target() const {
    const net::url u = parse_endpoint(options_.endpoint);
    return u.target("/runners/connect?protocol_version=" + std::to_string(rp::protocol_version) +
                    "&namespace=" + net::percent_encode_component(options_.namespace_name) +
                    "&runner_key=" + net::percent_encode_component(options_.runner_key));
}

std::string runner_connection::runner_id() const {
    std::lock_guard lock(stats_mutex_);
    return runner_id_;
}

std::size_t runner_connection::unacked_events() const {
    std::lock_guard lock(stats_mutex_);
    return unacked_events_;
}

void runner_connection::start() {
    auto self = shared_from_this();
    asio::dispatch(strand_, [self] {
        if (self->started_ || self->stopping_) return;
        self->started_ = true;
        asio::co_spawn(self->strand_, self->run(self), [self](std::exception_ptr e) {
            if (!e) return;
            self->log_.error("runner connection loop failed", {{"error", describe_exception(e)}});
            self->finish(runner_close_reason::shutdown, "internal error");
        });
    });
}

// ---- the connection loop ----------------------------------------------------------------------

std::chrono::milliseconds runner_connection::next_backoff() {
    const double base = static_cast<double>(options_.reconnect_initial.count());
    const double cap = static_cast<double>(options_.reconnect_max.count());
    double delay = base;
    for (unsigned i = 0; i < attempt_ && delay < cap; ++i) delay *= 2;
    delay = std::min(delay, cap);
    std::uniform_real_distribution<double> jitter(0.0, std::max(options_.reconnect_jitter, 0.0));
    delay *= 1.0 + (options_.reconnect_jitter > 0 ? jitter(rng_) : 0.0);
    ++attempt_;
    return std::chrono::milliseconds(static_cast<std::int64_t>(delay));
}

task<void> runner_connection::wait_for(std::chrono::milliseconds delay, std::shared_ptr<detail::oneshot<void>> cancel) {
    auto done = cancel;
    auto on_time = [done] { done->set_value(); };
    auto timer = options_.clock->start_timer(delay, strand_, std::move(on_time));
    auto waiting = done->wait();
    co_await std::move(waiting);
    timer->cancel();
}

task<void> runner_connection::run(std::shared_ptr<runner_connection> self) {
    const net::url endpoint = parse_endpoint(options_.endpoint);
    const std::string target = connect_target();
    std::vector<std::string> protocols{"rivet"};
    if (!options_.token.empty()) protocols.push_back("rivet_token." + options_.token);
    net::websocket_limits limits;
    limits.max_message_bytes = options_.max_message_bytes;

    std::string end_detail;
    while (!stopping_) {
        std::shared_ptr<net::websocket_session> socket;
        std::string failure;
        try {
            auto opening = http_.open_websocket(endpoint, target, {}, protocols, limits, options_.connect_timeout);
            auto result = co_await std::move(opening);
            socket = result.socket;
            if (!socket) {
                failure = result.problem.empty()
                              ? "HTTP " + std::to_string(result.response.status) + ": " + result.response.body
                              : result.problem;
            }
        } catch (const std::exception& e) {
            failure = e.what();
        }
        if (stopping_) {
            if (socket) socket->terminate();
            break;
        }
        if (!socket) {
            const auto delay = next_backoff();
            log_.warn("cannot connect to the engine, retrying",
                      {{"error", failure}, {"attempt", attempt_}, {"delay_ms", delay.count()}});
            start_lost_timer();
            backoff_cancel_ = detail::oneshot<void>::make();
            auto waiting = wait_for(delay, backoff_cancel_);
            co_await std::move(waiting);
            backoff_cancel_.reset();
            continue;
        }

        attempt_ = 0;
        socket_ = socket;
        initialized_ = false;
        auto closed = detail::oneshot<std::pair<std::uint16_t, std::string>>::make();
        socket_closed_ = closed;
        std::weak_ptr<runner_connection> weak_self = self;
        std::weak_ptr<net::websocket_session> weak_socket = socket;
        socket->on_message([weak_self, weak_socket](const websocket_message& m) {
            auto me = weak_self.lock();
            auto sock = weak_socket.lock();
            if (!me || !sock) return;
            if (!m.binary) return;  // the engine sends binary frames only
            asio::post(me->strand_, [me, sock, data = m.data] { me->on_frame(sock, data); });
        });
        socket->on_close([closed](std::uint16_t code, const std::string& reason) { closed->set_value(code, reason); });
        socket->start();
        log_.debug("socket open, sending init");

        rp::to_server_init init;
        init.name = options_.runner_name;
        init.version = options_.version;
        init.total_slots = options_.total_slots;
        init.prepopulate_actor_names = options_.actor_names;
        init.metadata = options_.metadata;
        send(rp::to_server{std::in_place_type<rp::to_server_init>, std::move(init)});

        auto waiting = closed->wait();
        const std::pair<std::uint16_t, std::string> closed_with = co_await std::move(waiting);
        const std::uint16_t code = closed_with.first;
        const std::string& reason = closed_with.second;
        socket_.reset();
        socket_closed_.reset();
        initialized_ = false;
        for (auto& [id, pending] : kv_) pending.sent = false;
        log_.info("engine connection closed", {{"code", code}, {"reason", reason}});
        if (handler_) {
            try {
                handler_->on_disconnected(code, reason);
            } catch (const std::exception& e) {
                log_.error("on_disconnected threw", {{"error", e.what()}});
            }
        }
        if (stopping_) {
            end_detail = reason;
            break;
        }
        if (is_eviction(reason)) {
            if (options_.eviction_ends_runner) {
                log_.info("the engine ended this runner", {{"reason", reason}});
            } else {
                log_.warn("evicted by the engine, not reconnecting", {{"reason", reason}});
            }
            finish(runner_close_reason::evicted, reason);
            co_return;
        }
        start_lost_timer();
        const auto delay = next_backoff();
        log_.info("reconnecting", {{"attempt", attempt_}, {"delay_ms", delay.count()}});
        backoff_cancel_ = detail::oneshot<void>::make();
        auto backing_off = wait_for(delay, backoff_cancel_);
        co_await std::move(backing_off);
        backoff_cancel_.reset();
    }
    finish(runner_close_reason::shutdown, end_detail);
}

void runner_connection::start_lost_timer() {
    // Only a runner the engine knew can be lost: not before the first ToClientInit.
    if (lost_timer_ || finished_ || last_runner_id_.empty()) return;
    std::weak_ptr<runner_connection> weak_self = weak_from_this();
    auto fire = [weak_self] {
        auto me = weak_self.lock();
        if (!me || !me->lost_timer_) return;
        me->lost_timer_.reset();
        me->log_.warn("no engine connection within the lost threshold: runner lost");
        if (me->handler_) {
            try {
                me->handler_->on_lost();
            } catch (const std::exception& e) {
                me->log_.error("on_lost threw", {{"error", e.what()}});
            }
        }
    };
    lost_timer_ = options_.clock->start_timer(lost_threshold_, strand_, std::move(fire));
}

void runner_connection::finish(runner_close_reason reason, const std::string& detail) {
    if (finished_) return;
    finished_ = true;
    stopping_ = true;
    if (lost_timer_) lost_timer_->cancel();
    lost_timer_.reset();
    if (ack_timer_) ack_timer_->cancel();
    ack_timer_.reset();
    if (socket_) socket_->close(1000, "pegboard.runner_shutdown");
    fail_all_kv(engine_error("runner_closed", "the engine connection has ended"));
    tunnel_backlog_.clear();
    auto handler = std::move(handler_);
    handler_.reset();
    if (handler) {
        try {
            handler->on_closed(reason, detail);
        } catch (const std::exception& e) {
            log_.error("on_closed threw", {{"error", e.what()}});
        }
    }
    closed_->set_value(reason);
}

// ---- incoming ---------------------------------------------------------------------------------

void runner_connection::on_frame(const std::shared_ptr<net::websocket_session>& socket, const std::string& data) {
    if (socket != socket_ || finished_) return;  // a frame of an older socket
    rp::to_client message;
    try {
        const auto* p = reinterpret_cast<const std::uint8_t*>(data.data());
        message = rp::decode_to_client(std::span<const std::uint8_t>(p, data.size()));
    } catch (const std::exception& e) {
        log_.error("undecodable message from the engine, ignored", {{"error", e.what()}, {"bytes", data.size()}});
        return;
    }
    try {
        if (auto* init = std::get_if<rp::to_client_init>(&message)) {
            handle_init(*init);
        } else if (auto* commands = std::get_if<rp::to_client_commands>(&message)) {
            handle_commands(*commands);
        } else if (auto* acks = std::get_if<rp::to_client_ack_events>(&message)) {
            handle_ack_events(*acks);
        } else if (auto* kv_response = std::get_if<rp::to_client_kv_response>(&message)) {
            handle_kv_response(std::move(*kv_response));
        } else if (auto* tunnel = std::get_if<rp::to_client_tunnel_message>(&message)) {
            if (handler_) handler_->on_tunnel_message(*tunnel);
        } else if (auto* ping = std::get_if<rp::to_client_ping>(&message)) {
            send(rp::to_server{std::in_place_type<rp::to_server_pong>, rp::to_server_pong{ping->ts}});
        }
    } catch (const std::exception& e) {
        log_.error("handling an engine message failed", {{"error", e.what()}});
    }
}

void runner_connection::handle_init(const rp::to_client_init& init) {
    initialized_ = true;
    if (lost_timer_) lost_timer_->cancel();
    lost_timer_.reset();
    if (init.metadata.runner_lost_threshold > 0) {
        lost_threshold_ = std::chrono::milliseconds(init.metadata.runner_lost_threshold);
    }
    const bool changed = !last_runner_id_.empty() && last_runner_id_ != init.runner_id;
    if (changed) {
        // The engine forgot the old runner: its actors are gone, and so are their events.
        log_.warn("the engine assigned a new runner id", {{"old", last_runner_id_}, {"new", init.runner_id}});
        events_.clear();
        update_unacked_count();
    }
    last_runner_id_ = init.runner_id;
    {
        std::lock_guard lock(stats_mutex_);
        runner_id_ = init.runner_id;
    }
    log_.info("connected to the engine", {{"runner_id", init.runner_id}});

    // Resend every unacked event in one frame (the engine drops those it already applied).
    rp::to_server_events resend;
    for (const auto& [actor_id, actor] : events_) {
        resend.events.insert(resend.events.end(), actor.unacked.begin(), actor.unacked.end());
    }
    if (!resend.events.empty()) {
        log_.debug("resending unacked events", {{"count", resend.events.size()}});
        send(rp::to_server{std::in_place_type<rp::to_server_events>, std::move(resend)});
    }
    for (auto& [id, pending] : kv_) {
        if (!pending.sent) send_kv(id, pending);
    }
    flush_command_acks();  // acks that could not be sent before the disconnect
    auto backlog = std::move(tunnel_backlog_);
    tunnel_backlog_.clear();
    for (auto& m : backlog) send(rp::to_server{std::in_place_type<rp::to_server_tunnel_message>, std::move(m)});

    if (handler_) handler_->on_connected(init.runner_id, changed);
}

void runner_connection::handle_commands(const rp::to_client_commands& commands) {
    for (const auto& c : commands.commands) {
        const auto& cp = c.checkpoint;
        // Replays are acked too: that lets the engine delete them.
        auto [slot, inserted] = pending_acks_.try_emplace({cp.actor_id, cp.generation}, cp.index);
        if (!inserted) slot->second = std::max(slot->second, cp.index);

        auto it = applied_.find(cp.actor_id);
        const bool replay = it != applied_.end() &&
                            (cp.generation < it->second.generation ||
                             (cp.generation == it->second.generation && cp.index <= it->second.index));
        if (replay) {
            log_.debug("ignoring a replayed command", {{"actor_id", cp.actor_id},
                                                      {"generation", cp.generation},
                                                      {"index", cp.index}});
            continue;
        }
        applied_[cp.actor_id] = applied_command{cp.generation, cp.index};
        if (!handler_) continue;
        try {
            handler_->on_command(c);
        } catch (const std::exception& e) {
            log_.error("on_command threw", {{"actor_id", cp.actor_id}, {"error", e.what()}});
        }
    }
    if (options_.command_ack_interval.count() <= 0) {
        flush_command_acks();
    } else if (!ack_timer_) {
        std::weak_ptr<runner_connection> weak_self = weak_from_this();
        auto fire = [weak_self] {
            if (auto me = weak_self.lock()) {
                me->ack_timer_.reset();
                me->flush_command_acks();
            }
        };
        ack_timer_ = options_.clock->start_timer(options_.command_ack_interval, strand_, std::move(fire));
    }
}

void runner_connection::flush_command_acks() {
    if (pending_acks_.empty() || !socket_) return;
    rp::to_server_ack_commands ack;
    for (const auto& [key, index] : pending_acks_) {
        ack.last_command_checkpoints.push_back(rp::actor_checkpoint{key.first, key.second, index});
    }
    pending_acks_.clear();
    send(rp::to_server{std::in_place_type<rp::to_server_ack_commands>, std::move(ack)});
}

void runner_connection::handle_ack_events(const rp::to_client_ack_events& acks) {
    for (const auto& cp : acks.last_event_checkpoints) {
        auto it = events_.find(cp.actor_id);
        if (it == events_.end()) continue;
        auto& q = it->second.unacked;
        while (!q.empty() && (q.front().checkpoint.generation < cp.generation ||
                              (q.front().checkpoint.generation == cp.generation && q.front().checkpoint.index <= cp.index))) {
            q.pop_front();
        }
    }
    update_unacked_count();
}

void runner_connection::update_unacked_count() {
    std::size_t n = 0;
    for (const auto& [id, actor] : events_) n += actor.unacked.size();
    std::lock_guard lock(stats_mutex_);
    unacked_events_ = n;
}

// ---- outgoing ---------------------------------------------------------------------------------

void runner_connection::send(const rp::to_server& message) {
    if (!socket_) return;
    const bytes frame = rp::encode_to_server(message);
    socket_->send_binary(frame);
}

void runner_connection::send_event(std::string actor_id, std::uint32_t generation, rp::event ev) {
    auto self = shared_from_this();
    asio::dispatch(strand_, [self, actor_id = std::move(actor_id), generation, ev = std::move(ev)]() mutable {
        if (self->finished_) return;
        auto [it, inserted] = self->events_.try_emplace(actor_id);
        auto& actor = it->second;
        if (inserted || generation > actor.generation) {
            actor.generation = generation;
            actor.next_index = 0;
            actor.unacked.clear();
        } else if (generation < actor.generation) {
            self->log_.warn("dropping an event for an old generation",
                            {{"actor_id", actor_id}, {"generation", generation}, {"current", actor.generation}});
            return;
        }
        rp::event_wrapper wrapper{rp::actor_checkpoint{actor_id, generation, actor.next_index++}, std::move(ev)};
        actor.unacked.emplace_back(wrapper);
        self->update_unacked_count();
        if (self->initialized_) {
            rp::to_server_events batch;
            batch.events.emplace_back(std::move(wrapper));
            self->send(rp::to_server{std::in_place_type<rp::to_server_events>, std::move(batch)});
        }
    });
}

void runner_connection::send_tunnel_message(rp::to_server_tunnel_message message) {
    auto self = shared_from_this();
    asio::dispatch(strand_, [self, message = std::move(message)]() mutable {
        if (self->finished_) return;
        if (self->initialized_) {
            self->send(rp::to_server{std::in_place_type<rp::to_server_tunnel_message>, std::move(message)});
        } else {
            self->tunnel_backlog_.push_back(std::move(message));
        }
    });
}

void runner_connection::forget_actor(std::string actor_id) {
    auto self = shared_from_this();
    asio::dispatch(strand_, [self, actor_id = std::move(actor_id)] {
        self->applied_.erase(actor_id);
        self->events_.erase(actor_id);
        self->update_unacked_count();
    });
}

// ---- KV ---------------------------------------------------------------------------------------

task<rp::kv_response_data> runner_connection::kv(std::string actor_id, rp::kv_request_data request) {
    auto result = detail::oneshot<rp::kv_response_data>::make();
    auto self = shared_from_this();
    auto submit = [self, result, actor_id = std::move(actor_id), request = std::move(request)]() mutable {
        if (self->finished_) {
            result->set_exception(engine_error("runner_closed", "the engine connection has ended"));
            return;
        }
        const std::uint32_t id = self->next_kv_id_++;
        std::weak_ptr<runner_connection> weak_self = self;
        auto expire = [weak_self, id] {
            if (auto me = weak_self.lock()) {
                me->fail_kv(id, engine_error("kv_timeout", "the engine did not answer the KV request in time"));
            }
        };
        kv_pending pending{std::move(actor_id), std::move(request), result, nullptr, false};
        pending.deadline = self->options_.clock->start_timer(self->options_.kv_timeout, self->strand_, std::move(expire));
        auto [it, inserted] = self->kv_.emplace(id, std::move(pending));
        if (self->initialized_) self->send_kv(id, it->second);
    };
    asio::dispatch(strand_, std::move(submit));
    auto waiting = result->wait();
    co_return co_await std::move(waiting);
}

void runner_connection::send_kv(std::uint32_t request_id, kv_pending& pending) {
    rp::to_server_kv_request req;
    req.actor_id = pending.actor_id;
    req.request_id = request_id;
    req.data = pending.data;
    send(rp::to_server{std::in_place_type<rp::to_server_kv_request>, std::move(req)});
    pending.sent = true;
}

void runner_connection::handle_kv_response(rp::to_client_kv_response response) {
    auto it = kv_.find(response.request_id);
    if (it == kv_.end()) return;  // timed out meanwhile, or answered twice
    auto pending = std::move(it->second);
    kv_.erase(it);
    if (pending.deadline) pending.deadline->cancel();
    if (auto* err = std::get_if<rp::kv_error_response>(&response.data)) {
        pending.result->set_exception(engine_error("kv_error", err->message));
    } else {
        pending.result->set_value(std::move(response.data));
    }
}

void runner_connection::fail_kv(std::uint32_t request_id, std::exception_ptr e) {
    auto it = kv_.find(request_id);
    if (it == kv_.end()) return;
    auto pending = std::move(it->second);
    kv_.erase(it);
    if (pending.deadline) pending.deadline->cancel();
    pending.result->set_exception(std::move(e));
}

void runner_connection::fail_all_kv(std::exception_ptr e) {
    auto all = std::move(kv_);
    kv_.clear();
    for (auto& [id, pending] : all) {
        if (pending.deadline) pending.deadline->cancel();
        pending.result->set_exception(e);
    }
}

// ---- shutdown ---------------------------------------------------------------------------------

task<void> runner_connection::shutdown(std::chrono::milliseconds timeout) {
    auto self = shared_from_this();
    auto impl = [](std::shared_ptr<runner_connection> me, std::chrono::milliseconds t) -> task<void> {
        if (!me->finished_ && !me->stopping_) {
            me->stopping_ = true;
            if (!me->started_) {
                me->finish(runner_close_reason::shutdown, "");
            } else if (!me->socket_) {
                // Connecting or backing off: the loop ends at its next step.
                if (me->backoff_cancel_) me->backoff_cancel_->set_value();
            } else {
                me->log_.info("shutting down: sending ToServerStopping");
                me->flush_command_acks();
                me->send(rp::to_server{std::in_place_type<rp::to_server_stopping>, rp::to_server_stopping{}});
                auto ready = detail::oneshot<void>::make();
                me->shutdown_ready_ = ready;
                if (me->owner_finished_) ready->set_value();  // nothing of the owner's left to stop
                auto on_timeout = [ready] { ready->set_value(); };
                auto timer = me->options_.clock->start_timer(t, me->strand_, std::move(on_timeout));
                auto on_socket_closed = [ready] { ready->set_value(); };
                me->socket_closed_->on_ready(std::move(on_socket_closed));
                auto waiting = ready->wait();
                co_await std::move(waiting);
                timer->cancel();
                me->shutdown_ready_.reset();
                if (me->socket_) me->socket_->close(1000, "pegboard.runner_shutdown");
            }
        }
        auto closing = me->closed_->wait();
        co_await std::move(closing);
    };
    auto work = impl(self, timeout);
    auto op = asio::co_spawn(strand_, std::move(work), asio::use_awaitable);
    co_await std::move(op);
}

void runner_connection::finish_shutdown() {
    auto self = shared_from_this();
    asio::dispatch(strand_, [self] {
        self->owner_finished_ = true;
        if (self->shutdown_ready_) self->shutdown_ready_->set_value();
    });
}

task<runner_close_reason> runner_connection::wait_closed() {
    auto waiting = closed_->wait();
    co_return co_await std::move(waiting);
}

}  // namespace rivetkit::engine
