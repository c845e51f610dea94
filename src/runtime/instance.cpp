// The actor instance: lifecycle, connections, actions, change detection, the output gate,
// the schedule and the idle sleep timer. Everything here runs on the instance's strand.

#include "rivetkit/detail/instance.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "common/bare.hpp"
#include "common/cbor.hpp"
#include "rivetkit/actor.hpp"
#include "rivetkit/client.hpp"
#include "rivetkit/detail/registry_core.hpp"
#include "rivetkit/detail/sleep_queue.hpp"
#include "rivetkit/error.hpp"
#include "rivetkit/ids.hpp"
#include "rivetkit/sql.hpp"

namespace rivetkit {

using detail::connection;
using detail::oneshot;

namespace {
// KV key of the persisted actor record, and its format version (actor-persist v3).
const bytes persist_key{1};
constexpr std::uint16_t persist_version = 3;

std::shared_ptr<oneshot<void>> ready_oneshot() {
    auto o = oneshot<void>::make();
    o->set_value();
    return o;
}

task<void> await_oneshot(std::shared_ptr<oneshot<void>> o) { co_await o->wait(); }

// Whether a line at `level` would be written (checked before building an instance's logger).
bool log_enabled(log_level level) noexcept { return logger().enabled(level); }

}  // namespace

/// Entries of outbox capacity an actor keeps between batches (32 bytes each).
constexpr std::size_t max_kept_outbox = std::size_t{1} << 14;

struct actor_instance::extras {
    value input;                             // persisted
    std::vector<scheduled_event> schedule;   // persisted, by timestamp
    // output gate
    std::vector<outgoing> outbox;
    std::shared_ptr<oneshot<void>> last_commit;  // the newest write in flight
    std::unique_ptr<pending_write> follow_up;
    std::weak_ptr<delivery_barrier> last_delivery;  // the newest batch still reaching its sockets
    std::shared_ptr<timer> save_timer;
    std::vector<std::shared_ptr<oneshot<void>>> save_waiters;
    // background work
    std::size_t background_tasks = 0;
    std::vector<std::shared_ptr<oneshot<void>>> wait_until;
    std::optional<std::int64_t> armed_alarm;
    std::shared_ptr<rivetkit::client> client;
    std::shared_ptr<sql::database> db;
    std::unique_ptr<hibernation_store> hib;  // hibernation.cpp; kept for the instance's life
};

actor_instance::extras& actor_instance::more() {
    if (!extras_) extras_ = std::make_unique<extras>();
    return *extras_;
}

actor_instance::hibernation_store& actor_instance::hibernation() {
    auto& x = more();
    if (!x.hib) x.hib = std::make_unique<hibernation_store>();
    return *x.hib;
}

actor_instance::hibernation_store* actor_instance::hibernation_if_any() const noexcept {
    return extras_ ? extras_->hib.get() : nullptr;
}

void actor_instance::trim_extras() noexcept {
    // Only between turns of an idle actor (reset_sleep_timer): nothing holds a reference into
    // extras then. The behaviour's input pointer never points into it while the input is
    // undefined (input()).
    if (!extras_ || write_running_) return;
    const extras& x = *extras_;
    if (x.input.is_undefined() && x.schedule.empty() && x.outbox.empty() &&
        (!x.last_commit || x.last_commit->ready()) && !x.follow_up && x.last_delivery.expired() && !x.save_timer &&
        x.save_waiters.empty() && x.background_tasks == 0 && x.wait_until.empty() && !x.armed_alarm && !x.client &&
        !x.db && !x.hib) {
        extras_.reset();
    }
}


void abort_signal::on_abort(std::function<void()> fn) {
    if (aborted()) {
        fn();
    } else {
        if (!callbacks_) callbacks_ = std::make_unique<std::vector<std::function<void()>>>();
        callbacks_->push_back(std::move(fn));
    }
}

void abort_signal::raise() {
    if (aborted_.exchange(true)) return;
    auto callbacks = std::move(callbacks_);
    if (!callbacks) return;
    for (auto& cb : *callbacks) {
        try {
            cb();
        } catch (...) {
        }
    }
}

actor_instance::actor_instance(init in)
    : id_(std::move(in.actor_id)),
      name_(std::move(in.name)),
      key_(std::move(in.key)),
      region_(in.registry != nullptr && in.region == in.registry->settings().default_region
                  ? nullptr
                  : std::make_unique<const std::string>(std::move(in.region))),
      def_(in.definition.get()),
      driver_(in.driver),
      clock_(in.clock.get()),
      strand_(asio::make_strand(in.io->get_executor())),
      registry_(in.registry),
      behavior_(def_->instantiate()),
      durability_(in.durability_mode) {}

actor_instance::~actor_instance() {
    cancel_sleep_timer();
    if (extras_ && extras_->save_timer) extras_->save_timer->cancel();
    if (extras_ && extras_->hib && extras_->hib->write_timer) extras_->hib->write_timer->cancel();
    close_database();  // an instance that never stopped (its start failed)
    delete log_.load(std::memory_order_acquire);
}

const std::string& actor_instance::region() const noexcept {
    return region_ ? *region_ : registry_->settings().default_region;
}

const logger& actor_instance::log() const noexcept {
    if (const logger* l = log_.load(std::memory_order_acquire)) return *l;
    try {
        auto made = std::make_unique<const logger>(
            logger("actor").with("actor", name_).with("key", serialize_key(key_)).with("actorId", id_));
        const logger* expected = nullptr;
        // Another thread may have built one meanwhile: the first one stays.
        if (!log_.compare_exchange_strong(expected, made.get(), std::memory_order_acq_rel)) return *expected;
        return *made.release();
    } catch (...) {
        static const logger fallback("actor");  // out of memory: lines lose the actor's bindings
        return fallback;
    }
}

const value& actor_instance::input() const noexcept {
    // An undefined input is always this one, so extras can go while the behaviour points at it.
    static const value none;
    return extras_ && !extras_->input.is_undefined() ? extras_->input : none;
}

const actor_options& actor_instance::options() const noexcept { return def_->options; }

value actor_instance::driver_context() const { return driver_->driver_context(id_); }

rivetkit::client& actor_instance::client() {
    auto& x = more();
    if (!x.client) x.client = registry_->shared_client();
    return *x.client;
}

sql::database& actor_instance::db() {
    if (db_closed_) throw errors::actor_stopping();
    auto& x = more();
    if (!x.db) {
        auto opened = driver_->open_database(id_);
        if (!opened) throw errors::internal("the driver returned no database");
        x.db = std::move(opened);
        if (log_enabled(log_level::debug)) log().debug("database opened");
    }
    return *x.db;
}

void actor_instance::close_database() noexcept {
    db_closed_ = true;
    // Closed before the driver may delete the data (destroy), with whatever statements and
    // transaction the actor left behind. The object itself stays until the instance goes, so a
    // reference a coroutine still holds throws instead of dangling.
    if (extras_ && extras_->db) extras_->db->close();
}

// ---- persistence ---------------------------------------------------------------------------

bytes actor_instance::encode_persisted() const {
    bare::writer w;
    w.reserve(32 + state_snapshot_.size());  // the state and the fixed fields (schedule entries grow it)
    w.u16(persist_version);
    const value& in = input();
    w.optional_tag(!in.is_undefined());
    if (!in.is_undefined()) w.data(cbor::encode(in));
    w.boolean(has_initialized_);
    w.data(state_snapshot_);
    static const std::vector<scheduled_event> no_schedule;
    const auto& schedule = extras_ ? extras_->schedule : no_schedule;
    w.uint(schedule.size());
    for (const auto& e : schedule) {
        w.str(e.event_id);
        w.i64(e.timestamp);
        w.str(e.action);
        w.optional_tag(true);
        w.data(e.args_cbor);
    }
    return w.take();
}

void actor_instance::decode_persisted(const bytes& blob) {
    bare::reader r(blob);
    std::uint16_t version = r.u16();
    if (version != persist_version) {
        throw errors::internal(fmt::format("unsupported persisted actor version {}", version));
    }
    if (r.optional_tag()) {
        more().input = cbor::decode(r.data());
    } else if (extras_) {
        extras_->input = value{};
    }
    has_initialized_ = r.boolean();
    state_snapshot_ = r.data();
    if (extras_) extras_->schedule.clear();
    for (std::uint64_t n = r.uint(); n > 0; --n) {
        scheduled_event e;
        e.event_id = r.str();
        e.timestamp = r.i64();
        e.action = r.str();
        if (r.optional_tag()) e.args_cbor = r.data();
        more().schedule.push_back(std::move(e));
    }
    r.expect_end();
}

std::vector<kv_entry> actor_instance::persist_entries() const {
    std::vector<kv_entry> entries;
    entries.emplace_back(persist_key, encode_persisted());
    return entries;
}

task<void> actor_instance::write_persisted() {
    persist_dirty_ = false;
    last_save_ms_ = clock_->now_ms();
    co_await driver_->kv_put(id_, persist_entries());
}

// ---- lifecycle -----------------------------------------------------------------------------

task<void> actor_instance::start() {
    std::vector<bytes> keys;
    keys.push_back(persist_key);
    auto got = co_await driver_->kv_get(id_, std::move(keys));
    if (got.empty() || !got[0].has_value()) throw errors::internal("actor has no persisted data");
    decode_persisted(*got[0]);
    def_->load_input(*behavior_, input());

    if (!has_initialized_) {
        // Create: state, then the record is written before on_create runs.
        co_await def_->init_state(*this, input());
        has_initialized_ = true;
        state_snapshot_ = cbor::encode(def_->dump_state(*behavior_));
        state_touched_ = false;
        co_await write_persisted();
        if (def_->on_create) co_await def_->on_create(*this);
    } else {
        if (def_->has_state) def_->load_state(*behavior_, cbor::decode(state_snapshot_));
        // Hibernatable connections come back without on_connect (their sockets stayed open).
        if (driver_->supports_hibernation()) co_await restore_connections();
    }
    if (def_->has_vars) {
        const std::string_view hook_name = "create_vars";  // (a literal here trips a GCC 12 coroutine bug)
        co_await run_hook_with_timeout(def_->init_vars(*this), options().create_vars_timeout, hook_name);
    }
    if (def_->on_wake) co_await def_->on_wake(*this);

    // Changes made while starting are persisted, never reported to on_state_change.
    if (state_touched_) diff_state(false);
    ready_ = true;
    accepting_.store(true, std::memory_order_release);
    if (log_enabled(log_level::debug)) log().debug("actor started");
    reset_sleep_timer();
    co_await on_alarm();
    if (persist_dirty_) commit_changes();
}

std::shared_ptr<oneshot<void>> actor_instance::wait_for_background(milliseconds timeout) {
    auto all = oneshot<void>::make();
    auto& wait_until = more().wait_until;
    auto pending = std::make_shared<std::size_t>(wait_until.size());
    for (auto& w : std::exchange(wait_until, {})) {
        w->on_ready([all, pending, s = strand_] {
            asio::post(s, [all, pending] {
                if (--*pending == 0) all->set_value();
            });
        });
    }
    auto t = clock_->start_timer(timeout, strand_, [all] { all->set_value(); });
    all->on_ready([t] { t->cancel(); });
    return all;
}

task<void> actor_instance::stop(stop_mode mode) {
    if (stop_called_) co_return;
    stop_called_ = true;
    accepting_.store(false, std::memory_order_release);
    cancel_sleep_timer();
    abort_.raise();

    const auto& hook = mode == stop_mode::sleep ? def_->on_sleep : def_->on_destroy;
    if (hook) {
        auto timeout = mode == stop_mode::sleep ? options().on_sleep_timeout : options().on_destroy_timeout;
        try {
            const std::string_view hook_name = mode == stop_mode::sleep ? "on_sleep" : "on_destroy";
            co_await run_hook_with_timeout(hook(*this), timeout, hook_name);
        } catch (...) {
            log().error("stop hook failed", {{"error", describe_exception(std::current_exception())}});
        }
    }

    auto conns = conns_;
    for (auto& [id, c] : conns) {
        if (mode == stop_mode::sleep && c->hibernation) {
            // Its socket hibernates at the gateway (no on_disconnect); the record is written
            // (and what it covers acknowledged) below, and the connection comes back on wake.
            if (!c->transport || c->transport->hibernate()) continue;
        }
        disconnect(c, mode == stop_mode::sleep ? "actor sleeping" : "actor destroyed");
    }

    // wait_until / run_in_background work, bounded.
    if (extras_ && !extras_->wait_until.empty()) {
        auto all = wait_for_background(options().wait_until_timeout);
        co_await all->wait();
    }
    // The stop hook and wait_until work may still use c.db(); nothing after this point may.
    close_database();

    if (extras_ && extras_->save_timer) {
        extras_->save_timer->cancel();
        extras_->save_timer.reset();
    }
    // The final save below is this instance's last write: work still running after it (an
    // action the stop did not wait for) must not overwrite what a later instance commits.
    persist_closed_ = true;
    // Changes waiting behind the write in flight are committed by the final save (a destroyed
    // actor's data goes anyway: its actions succeed as if their write had run).
    std::unique_ptr<pending_write> waiting = extras_ ? std::move(extras_->follow_up) : nullptr;
    std::exception_ptr final_save_error;
    if (mode == stop_mode::sleep) {
        if (state_touched_) diff_state(true);
        try {
            co_await write_persisted();
        } catch (...) {
            final_save_error = std::current_exception();
            log().error("final save failed", {{"error", describe_exception(final_save_error)}});
        }
        if (hibernation_if_any() != nullptr) {
            try {
                co_await flush_hibernation();
            } catch (...) {
                log().error("saving hibernating connections failed", {{"error", describe_exception(std::current_exception())}});
            }
        }
        // The hibernated sockets are done with (their handlers hold these connections).
        for (auto& [id, c] : conns_) {
            if (c->hibernation) c->transport.reset();
        }
    }
    if (waiting) settle_pending_write(*waiting, final_save_error);
    std::shared_ptr<oneshot<void>> last_commit;
    if (extras_) {
        extras_->outbox.clear();
        last_commit = extras_->last_commit;
    }
    if (last_commit && !last_commit->ready()) {
        try {
            co_await last_commit->wait();
        } catch (...) {
        }
    }
    if (extras_) {
        for (auto& w : extras_->save_waiters) w->set_value();
        extras_->save_waiters.clear();
    }
    ready_ = false;
    if (log_enabled(log_level::debug)) log().debug(mode == stop_mode::sleep ? "actor slept" : "actor destroyed");
}

// ---- change detection and the output gate --------------------------------------------------

void actor_instance::touch_state() {
    // With an on_state_change hook, every mutable access closes the previous one, so each
    // change is reported separately (three increments in a loop: three notifications).
    if (state_touched_ && def_->on_state_change && ready_ && !in_state_change_hook_) diff_state(true);
    state_touched_ = true;
    schedule_checkpoint();
}

void actor_instance::diff_state(bool notify) {
    state_touched_ = false;
    if (!def_->has_state) return;
    // Encoded into this thread's scratch buffer: an unchanged state allocates nothing, a changed
    // one is copied into the snapshot's existing capacity.
    thread_local bytes scratch;
    scratch.clear();
    cbor::encode(def_->dump_state(*behavior_), scratch);
    const bool same = scratch == state_snapshot_;
    if (!same) state_snapshot_.assign(scratch.begin(), scratch.end());
    if (scratch.capacity() > (std::size_t{1} << 20)) bytes().swap(scratch);  // no large buffer kept per thread
    if (same) return;
    persist_dirty_ = true;
    if (!notify || !ready_ || !def_->on_state_change || in_state_change_hook_) return;
    in_state_change_hook_ = true;
    try {
        def_->on_state_change(*this);
    } catch (...) {
        log().error("on_state_change failed", {{"error", describe_exception(std::current_exception())}});
    }
    in_state_change_hook_ = false;
    // Changes the hook made are persisted but not reported again.
    if (state_touched_) {
        state_touched_ = false;
        bytes after = cbor::encode(def_->dump_state(*behavior_));
        if (after != state_snapshot_) state_snapshot_ = std::move(after);
    }
}

void actor_instance::schedule_checkpoint() {
    if (checkpoint_posted_) return;
    checkpoint_posted_ = true;
    asio::post(strand_, [self = shared_from_this()] {
        self->checkpoint_posted_ = false;
        self->checkpoint();
    });
}

void actor_instance::checkpoint() {
    if (stop_called_ && !ready_) return;
    if (state_touched_) diff_state(true);
    // Nothing changed or sent since the last commit (an action's own output gate usually got
    // there first): no one waits on a checkpoint, so there is nothing to order or release.
    if (!persist_dirty_ && (!extras_ || extras_->outbox.empty())) return;
    commit_changes();
}

std::shared_ptr<oneshot<void>> actor_instance::commit_changes() {
    if (persist_closed_) {
        // Stopped: what changed since the final save can never be committed, so no reply that
        // may reflect it leaves as a success (in any durability mode).
        if (extras_) extras_->outbox.clear();
        if (persist_dirty_) {
            persist_dirty_ = false;
            changes_lost_ = true;
        }
        if (!changes_lost_) return ready_oneshot();
        auto lost = oneshot<void>::make();
        lost->set_exception(std::make_exception_ptr(errors::actor_stopping()));
        return lost;
    }
    if (durability_ == durability::relaxed) {
        if (persist_dirty_) arm_throttled_save();
        return release_now();
    }
    if (persist_dirty_) {
        persist_dirty_ = false;
        last_save_ms_ = clock_->now_ms();
        // Changes share the next write: it writes the state as it is when it starts, so one
        // write commits all of them (per-actor group commit). `done` (the write is committed and
        // its batch released) orders later batches; `delivered` (the batch also reached its
        // sockets) is what the caller waits for.
        auto& x = more();
        if (!x.follow_up) {
            x.follow_up = std::make_unique<pending_write>();
            x.follow_up->done = oneshot<void>::make();
            x.follow_up->delivered = oneshot<void>::make();
            x.last_commit = x.follow_up->done;
        }
        auto& batch = x.follow_up->batch;
        if (batch.empty()) {
            batch.swap(x.outbox);  // the outbox takes the batch's spare capacity
        } else {
            for (auto& o : x.outbox) batch.push_back(std::move(o));
            x.outbox.clear();
        }
        auto delivered = x.follow_up->delivered;
        if (!write_running_) {
            // With no write in flight, the next one starts after what the io_context has queued
            // by now, rather than at once: the other actions of a burst commit in it too, and
            // their events leave together. Not merely on the strand's next turn: a call
            // dispatched to an idle strand runs inline (a connection's first message of a read,
            // here), before its burst's later messages are even queued on the strand.
            write_running_ = true;
            asio::post(strand_.get_inner_executor(), [self = shared_from_this()] {
                asio::post(self->strand_, [self] { self->start_follow_up(); });
            });
        }
        return delivered;
    }
    if (extras_ && extras_->last_commit && !extras_->last_commit->ready()) {
        // Nothing new to write, but earlier changes are still in flight: events wait for them.
        auto prev = extras_->last_commit;
        auto delivered = oneshot<void>::make();
        // (prev is alive while it runs its callbacks; a strong capture would be a cycle.)
        prev->on_ready([self = shared_from_this(), weak = std::weak_ptr(prev), delivered,
                        batch = std::exchange(extras_->outbox, {})]() mutable {
            asio::post(self->strand_, [self, prev = weak.lock(), delivered, batch = std::move(batch)]() mutable {
                std::exception_ptr error;
                try {
                    prev->get();
                } catch (...) {
                    error = std::current_exception();  // the caller fails as that commit did
                }
                self->release_outbox(std::move(batch), delivered, error);
            });
        });
        return delivered;
    }
    return release_now();
}

/// Shared by every send of one released batch; the last owner to let go (the transports, once
/// their sockets have the event, or release_outbox itself) completes the batch's oneshot. A
/// barrier also holds the next batch's, so a batch never counts as delivered before the ones
/// released earlier (an action's events released at a checkpoint before its last co_await).
struct actor_instance::delivery_barrier {
    std::shared_ptr<oneshot<void>> delivered;
    std::exception_ptr error;
    std::shared_ptr<delivery_barrier> next;
    delivery_barrier(std::shared_ptr<oneshot<void>> d, std::exception_ptr e) : delivered(std::move(d)), error(std::move(e)) {}
    delivery_barrier(const delivery_barrier&) = delete;
    delivery_barrier& operator=(const delivery_barrier&) = delete;
    ~delivery_barrier() {
        try {
            error ? (void)delivered->set_exception(error) : (void)delivered->set_value();
        } catch (...) {
        }
    }
};

void actor_instance::settle_pending_write(pending_write& w, std::exception_ptr error) {
    if (error) {
        w.done->set_exception(error);
        w.delivered->set_exception(error);
        return;
    }
    release_outbox(std::move(w.batch), w.delivered);
    w.done->set_value();
}

void actor_instance::start_write(std::vector<outgoing> batch, std::shared_ptr<oneshot<void>> done,
                                 std::shared_ptr<oneshot<void>> delivered) {
    write_running_ = true;
    asio::co_spawn(
        strand_, driver_->kv_put(id_, persist_entries()),
        [self = shared_from_this(), done, delivered, batch = std::move(batch)](std::exception_ptr e) mutable {
            self->write_running_ = false;
            if (e) {
                self->log().error("saving state failed", {{"error", describe_exception(e)}});
                // The change is not durable: events describing it are dropped and the
                // actions waiting on it fail.
                done->set_exception(e);
                delivered->set_exception(e);
            } else {
                self->release_outbox(std::move(batch), delivered);
                done->set_value();
            }
            // One write in flight per actor, so batches leave in commit order.
            self->start_follow_up();
        });
}

void actor_instance::start_follow_up() {
    write_running_ = false;
    // (A stop settles the waiting write itself, in its final save.)
    if (!extras_ || !extras_->follow_up || persist_closed_) return;
    auto next = std::move(extras_->follow_up);
    start_write(std::move(next->batch), next->done, next->delivered);
}

std::shared_ptr<oneshot<void>> actor_instance::release_now() {
    // The common case, nothing sent and every earlier batch delivered, allocates nothing.
    if (!extras_ || (extras_->outbox.empty() && extras_->last_delivery.expired())) return ready_oneshot();
    auto delivered = oneshot<void>::make();
    release_outbox(std::exchange(extras_->outbox, {}), delivered);
    return delivered;
}

void actor_instance::release_outbox(std::vector<outgoing> batch, std::shared_ptr<oneshot<void>> delivered,
                                    std::exception_ptr error) {
    auto barrier = std::make_shared<delivery_barrier>(std::move(delivered), std::move(error));
    auto& x = more();
    if (auto previous = x.last_delivery.lock()) previous->next = barrier;
    x.last_delivery = barrier;
    const std::shared_ptr<void> token = std::move(barrier);
    for (auto& o : batch) deliver(o, token);
    // The next events reuse the batch's capacity (a broadcast to a thousand connections is a
    // thousand entries), up to a bound; an idle actor lets it go with its extras.
    batch.clear();
    if (x.outbox.empty() && batch.capacity() > x.outbox.capacity() && batch.capacity() <= max_kept_outbox) {
        x.outbox.swap(batch);
    }
}

void actor_instance::deliver(outgoing& o, const std::shared_ptr<void>& token) {
    auto c = o.target.lock();
    if (!c || c->disconnected || !c->transport) return;
    try {
        c->transport->send_event_tracked(o.event, token);
    } catch (...) {
        log().warn("sending event failed", {{"event", o.event->name}, {"error", describe_exception(std::current_exception())}});
    }
}

void actor_instance::arm_throttled_save() {
    auto& x = more();
    if (x.save_timer || persist_closed_) return;
    auto elapsed = clock_->now_ms() - last_save_ms_;
    auto delay = std::max<std::int64_t>(0, options().state_save_interval.count() - elapsed);
    x.save_timer = clock_->start_timer(milliseconds(delay), strand_, [w = weak_from_this()] {
        auto self = w.lock();
        if (!self) return;
        self->extras_->save_timer.reset();
        if (self->state_touched_) self->diff_state(true);
        auto waiters = std::exchange(self->extras_->save_waiters, {});
        asio::co_spawn(self->strand_, self->write_persisted(), [self, waiters](std::exception_ptr e) {
            if (e) self->log().error("saving state failed", {{"error", describe_exception(e)}});
            for (auto& w : waiters) e ? (void)w->set_exception(e) : (void)w->set_value();
        });
    });
}

task<void> actor_instance::save_state(bool immediate) {
    if (state_touched_) diff_state(true);
    if (durability_ != durability::relaxed || persist_closed_) return await_oneshot(commit_changes());
    auto done = oneshot<void>::make();
    auto& x = more();
    if (immediate) {
        if (x.save_timer) {
            x.save_timer->cancel();
            x.save_timer.reset();
        }
        for (auto& w : std::exchange(x.save_waiters, {})) done->on_ready([w] { w->set_value(); });
        asio::co_spawn(strand_, write_persisted(), [done](std::exception_ptr e) {
            e ? (void)done->set_exception(e) : (void)done->set_value();
        });
    } else {
        x.save_waiters.push_back(done);
        persist_dirty_ = true;
        arm_throttled_save();
    }
    return await_oneshot(done);
}

// ---- connections ---------------------------------------------------------------------------

task<std::shared_ptr<connection>> actor_instance::prepare_connection(detail::conn_kind kind, value params,
                                                                     std::shared_ptr<detail::conn_transport> transport,
                                                                     const http_request* request) {
    if (stop_called_) throw errors::internal("Actor is stopping");
    if (!ready_) throw errors::internal("Actor not ready");
    auto c = std::make_shared<connection>();
    c->id = random_uuid();
    c->kind = kind;
    c->params = std::move(params);
    c->transport = std::move(transport);
    c->request = request;
    if (def_->has_conn_hooks) {
        const std::string_view hook_name = "create_conn_state";
        co_await run_hook_with_timeout(def_->prepare_conn(*this, *c), options().create_conn_state_timeout, hook_name);
    } else if (def_->prepare_conn_plain) {
        def_->prepare_conn_plain(*this, *c);  // params conversion only: no user code, no deadline
    } else if (def_->prepare_conn) {
        co_await def_->prepare_conn(*this, *c);
    }
    c->request = nullptr;
    if (stop_called_) throw errors::internal("Actor is stopping");
    co_return c;
}

void actor_instance::connect(const std::shared_ptr<connection>& c) {
    if (stop_called_) throw errors::internal("Actor is stopping");
    conns_[c->id] = c;
    // Deviation from the reference: the connection counts as connected before on_connect runs,
    // so conn.send() works inside on_connect.
    c->connected = true;
    if (c->hibernation) hibernation_changed(false);
    reset_sleep_timer();
    fire_on_connect(c);
}

void actor_instance::fire_on_connect(const std::shared_ptr<connection>& c) {
    if (!def_->on_connect) return;
    asio::co_spawn(strand_, run_hook_with_timeout(def_->on_connect(*this, c), options().on_connect_timeout, "on_connect"),
                   [self = shared_from_this(), c](std::exception_ptr e) {
                       if (!e) return;
                       auto err = to_client_error(e);
                       self->log().warn("on_connect failed; disconnecting", {{"conn", c->id}, {"error", describe_exception(e)}});
                       self->disconnect(c, err.code);
                   });
}

void actor_instance::disconnect(const std::shared_ptr<connection>& conn, std::string_view reason) {
    // A copy: `conn` may refer to the entry of conns_ that the erase below destroys
    // (conn<Types>::disconnect passes exactly that).
    const std::shared_ptr<connection> c = conn;
    if (c->disconnected) return;
    c->disconnected = true;
    c->connected = false;
    conns_.erase(c->id);
    if (c->hibernation) {
        // Its record goes (written records only; deleting a missing key is harmless).
        hibernation().deletes.push_back(detail::connection_key(c->id));
        hibernation_changed(false);
    }
    if (c->transport) {
        try {
            c->transport->close(reason);
        } catch (...) {
        }
    }
    fire_on_disconnect(c);
    reset_sleep_timer();
}

void actor_instance::fire_on_disconnect(const std::shared_ptr<connection>& c) {
    if (!def_->on_disconnect) return;
    asio::co_spawn(strand_, def_->on_disconnect(*this, c), [self = shared_from_this()](std::exception_ptr e) {
        if (e) self->log().error("on_disconnect failed", {{"error", describe_exception(e)}});
    });
}

namespace {
// What call_transient and request_transient share: a request in flight, and a transient
// connection around `body(connection)`, disconnected (on_disconnect) before the result returns.
template <class T, class Body>
task<T> with_transient(actor_instance& inst, value params, const http_request* request, Body body) {
    inst.begin_request();
    std::exception_ptr err;
    T out{};
    try {
        auto c = co_await inst.prepare_connection(detail::conn_kind::transient, std::move(params), nullptr, request);
        inst.connect(c);
        try {
            auto work = body(c);
            out = co_await std::move(work);
        } catch (...) {
            err = std::current_exception();
        }
        inst.disconnect(c);
    } catch (...) {
        err = std::current_exception();
    }
    inst.end_request();
    if (err) std::rethrow_exception(err);
    co_return out;
}

struct run_action {
    actor_instance* inst;
    std::string name;
    array args;
    task<value> operator()(const std::shared_ptr<connection>& c) {
        return inst->execute_action(c, std::move(name), std::move(args));
    }
};

struct run_request {
    actor_instance* inst;
    http_request* request;
    task<http_response> operator()(const std::shared_ptr<connection>& c) {
        return inst->handle_request(c, std::move(*request));
    }
};
}  // namespace

task<value> actor_instance::call_transient(value params, const http_request* request, std::string name, array args) {
    if (stop_called_) throw detail::not_accepting(std::move(params), std::move(name), std::move(args));
    auto self = shared_from_this();  // alive until the reply
    run_action body{this, std::move(name), std::move(args)};  // named: see the GCC 12 rule
    auto work = with_transient<value>(*this, std::move(params), request, std::move(body));
    co_return co_await std::move(work);
}

task<http_response> actor_instance::request_transient(value params, http_request request) {
    if (stop_called_) {
        detail::not_accepting stopped(std::move(params), {}, {});
        stopped.request = std::move(request);
        throw stopped;
    }
    auto self = shared_from_this();
    http_request req = std::move(request);
    run_request body{this, &req};
    auto work = with_transient<http_response>(*this, std::move(params), &req, body);
    co_return co_await std::move(work);
}

void actor_instance::set_subscription(connection& c, std::string event, bool subscribe) {
    if (subscribe) {
        c.subscriptions.insert(std::move(event));
    } else {
        c.subscriptions.erase(event);
    }
    if (c.hibernation) {
        c.hibernation->record_dirty = true;
        hibernation_changed(false);
    }
}

void actor_instance::begin_request() {
    ++requests_in_flight_;
    reset_sleep_timer();
}

void actor_instance::end_request() {
    if (requests_in_flight_ > 0) --requests_in_flight_;
    reset_sleep_timer();
}

// ---- actions -------------------------------------------------------------------------------

std::shared_ptr<oneshot<value>> actor_instance::start_async_action(const detail::action_entry& entry,
                                                                   std::shared_ptr<connection> c, array args) {
    auto result = oneshot<value>::make();
    asio::co_spawn(strand_, entry.call_async(*this, std::move(c), std::move(args)),
                   [result](std::exception_ptr e, value v) {
                       e ? (void)result->set_exception(e) : (void)result->set_value(std::move(v));
                   });
    auto t = clock_->start_timer(options().action_timeout, strand_, [result] {
        result->set_exception(std::make_exception_ptr(errors::action_timed_out()));
    });
    result->on_ready([t] { t->cancel(); });
    return result;
}

task<value> actor_instance::execute_action(std::shared_ptr<connection> c, std::string name, array args) {
    if (stop_called_) throw errors::internal("Actor is stopping");
    if (!ready_) throw errors::internal("Actor not ready");
    auto it = def_->actions.find(name);
    if (it == def_->actions.end()) throw errors::action_not_found(name);
    const detail::action_entry& entry = it->second;

    value output;
    std::exception_ptr err;
    if (!entry.is_coroutine) {
        try {
            output = entry.call(*this, c.get(), args);
        } catch (...) {
            err = std::current_exception();
        }
    } else {
        auto result = start_async_action(entry, c, args);
        try {
            output = co_await result->wait();
        } catch (...) {
            err = std::current_exception();
        }
    }

    if (err) {
        auto shown = to_client_error(err);
        if (shown.group == "internal") {
            log().error("action failed", {{"action", name}, {"error", describe_exception(err)}});
        }
    } else if (def_->on_before_action_response) {
        try {
            output = co_await def_->on_before_action_response(*this, name, args, output);
        } catch (...) {
            log().error("on_before_action_response failed", {{"action", name}, {"error", describe_exception(std::current_exception())}});
        }
    }

    // Output gate: the reply (and the events before it) leave once this state is committed.
    if (state_touched_) diff_state(true);
    auto committed = commit_changes();
    co_await committed->wait();
    if (err) std::rethrow_exception(err);
    co_return output;
}

task<http_response> actor_instance::handle_request(std::shared_ptr<connection> c, http_request request) {
    if (stop_called_) throw errors::internal("Actor is stopping");
    if (!def_->on_request) throw errors::request_handler_not_defined();
    http_response response;
    std::exception_ptr err;
    try {
        response = co_await def_->on_request(*this, c, std::move(request));
    } catch (...) {
        err = std::current_exception();
        if (to_client_error(err).group == "internal") {
            log().error("on_request failed", {{"error", describe_exception(err)}});
        }
    }
    if (state_touched_) diff_state(true);
    auto committed = commit_changes();
    co_await committed->wait();
    if (err) std::rethrow_exception(err);
    co_return response;
}

task<void> actor_instance::handle_websocket(std::shared_ptr<connection> c, std::shared_ptr<websocket> ws,
                                            http_request request) {
    if (stop_called_) throw errors::internal("Actor is stopping");
    if (!def_->on_websocket) throw errors::websocket_handler_not_defined();
    c->upgrade_request = std::make_shared<const http_request>(request);
    co_await def_->on_websocket(*this, std::move(c), std::move(ws), std::move(request));
    if (state_touched_) diff_state(true);
    commit_changes();
}

// ---- events --------------------------------------------------------------------------------

void actor_instance::broadcast(std::string_view event, array args) {
    if (!ready_) throw errors::internal("Actor not ready");
    auto msg = std::make_shared<const detail::event_message>(detail::event_message{std::string(event), std::move(args)});
    for (const auto& [id, c] : conns_) {
        if (c->kind == detail::conn_kind::rivet && c->subscriptions.contains(event)) more().outbox.push_back({c, msg});
    }
    schedule_checkpoint();
}

void actor_instance::send_to(connection& c, std::string_view event, array args) {
    if (!c.connected) throw errors::internal("Connection not connected");
    auto it = conns_.find(c.id);
    if (it == conns_.end()) return;
    auto msg = std::make_shared<const detail::event_message>(detail::event_message{std::string(event), std::move(args)});
    more().outbox.push_back({it->second, std::move(msg)});
    schedule_checkpoint();
}

// ---- schedule ------------------------------------------------------------------------------

void actor_instance::schedule_at(std::int64_t timestamp_ms, std::string action, array args) {
    scheduled_event e{random_uuid(), timestamp_ms, std::move(action), cbor::encode(value(std::move(args)))};
    auto& schedule = more().schedule;
    auto pos = std::upper_bound(schedule.begin(), schedule.end(), timestamp_ms,
                                [](std::int64_t ts, const scheduled_event& x) { return ts < x.timestamp; });
    bool first = pos == schedule.begin();
    schedule.insert(pos, std::move(e));
    persist_dirty_ = true;
    schedule_checkpoint();
    if (first) spawn_logged(rearm_alarm(), "setting alarm");
}

task<void> actor_instance::rearm_alarm() {
    std::optional<std::int64_t> next;
    if (extras_ && !extras_->schedule.empty()) next = extras_->schedule.front().timestamp;
    const std::optional<std::int64_t> armed = extras_ ? extras_->armed_alarm : std::nullopt;
    if (armed == next && alarm_known_) co_return;
    if (next || extras_) more().armed_alarm = next;
    alarm_known_ = true;
    co_await driver_->set_alarm(id_, next);
}

task<void> actor_instance::on_alarm() {
    if (!ready_ || stop_called_) co_return;
    reset_sleep_timer();
    alarm_known_ = false;  // the driver's alarm has fired; whatever it held is gone
    // All due events run, in timestamp order (the reference runs one per alarm cycle).
    while (extras_ && !extras_->schedule.empty() && extras_->schedule.front().timestamp <= clock_->now_ms() &&
           !stop_called_) {
        scheduled_event e = std::move(extras_->schedule.front());
        extras_->schedule.erase(extras_->schedule.begin());
        persist_dirty_ = true;
        auto it = def_->actions.find(e.action);
        if (it == def_->actions.end()) {
            log().warn("scheduled action not found", {{"action", e.action}});
            continue;
        }
        try {
            value decoded = e.args_cbor.empty() ? value(array{}) : cbor::decode(e.args_cbor);
            array args = decoded.is_array() ? decoded.as_array() : array{};
            if (it->second.is_coroutine) {
                co_await it->second.call_async(*this, nullptr, std::move(args));
            } else {
                it->second.call(*this, nullptr, args);
            }
        } catch (...) {
            log().error("scheduled action failed", {{"action", e.action}, {"error", describe_exception(std::current_exception())}});
        }
        if (state_touched_) diff_state(true);
    }
    if (persist_dirty_) commit_changes();
    co_await rearm_alarm();
    reset_sleep_timer();
}

// ---- sleep, destroy, background work -------------------------------------------------------

bool actor_instance::can_sleep() const {
    return ready_ && !stop_called_ && !sleep_requested_ && !destroy_requested_ && driver_->supports_sleep() &&
           !options().no_sleep && conns_.empty() && requests_in_flight_ == 0 &&
           (!extras_ || extras_->background_tasks == 0);
}

// The idle check is armed once and re-armed lazily: activity only moves the deadline, and the
// check, when it comes early, waits for the rest. Busy actors thus cost no timer operations.
// There is no timer per actor: the registry's sleep_queue holds every armed check in one heap
// under one clock timer and posts sleep_check() to the strand when an entry falls due.
void actor_instance::reset_sleep_timer() {
    if (!can_sleep()) {
        sleep_deadline_ = no_sleep_deadline;
        return;
    }
    sleep_deadline_ = clock_->now_ms() + options().sleep_timeout.count();
    if (!sleep_armed_) arm_sleep_timer(options().sleep_timeout);
    trim_extras();  // idle: what the last turns needed out of line may go
}

void actor_instance::arm_sleep_timer(milliseconds delay) {
    sleep_armed_ = true;
    registry_->sleeps().arm(*this, clock_->now_ms() + std::max<std::int64_t>(delay.count(), 0));
}

void actor_instance::cancel_sleep_timer() noexcept {
    if (!sleep_armed_) return;
    sleep_armed_ = false;
    registry_->sleeps().cancel(*this);
}

void actor_instance::sleep_check() {
    // A check posted before a cancel and a new arm is stale: the new one is queued.
    if (!sleep_armed_ || registry_->sleeps().queued(*this)) return;
    sleep_armed_ = false;
    if (sleep_deadline_ == no_sleep_deadline) return;
    auto remaining = sleep_deadline_ - clock_->now_ms();
    if (remaining > 0) {
        arm_sleep_timer(milliseconds(remaining));
    } else if (can_sleep()) {
        request_sleep();
    }
}

void actor_instance::request_sleep() {
    if (stop_called_ || sleep_requested_ || destroy_requested_) return;
    if (!driver_->supports_sleep()) throw errors::unsupported("this driver does not support sleep");
    sleep_requested_ = true;
    cancel_sleep_timer();
    // Next turn, so the action that asked can return first.
    asio::post(strand_, [self = shared_from_this()] { self->driver_->start_sleep(self->id_); });
}

void actor_instance::request_destroy() {
    if (stop_called_ || destroy_requested_ || sleep_requested_) return;
    destroy_requested_ = true;
    asio::post(strand_, [self = shared_from_this()] { self->driver_->start_destroy(self->id_); });
}

void actor_instance::wait_until(task<void> work) {
    auto done = oneshot<void>::make();
    more().wait_until.push_back(done);
    asio::co_spawn(strand_, std::move(work), [self = shared_from_this(), done](std::exception_ptr e) {
        if (e) self->log().error("wait_until work failed", {{"error", describe_exception(e)}});
        done->set_value();
    });
}

void actor_instance::run_in_background(task<void> work) {
    auto done = oneshot<void>::make();
    auto& x = more();
    x.wait_until.push_back(done);
    ++x.background_tasks;
    reset_sleep_timer();
    asio::co_spawn(strand_, std::move(work), [self = shared_from_this(), done](std::exception_ptr e) {
        if (e) self->log().error("background work failed", {{"error", describe_exception(e)}});
        --self->extras_->background_tasks;
        done->set_value();
        self->reset_sleep_timer();
    });
}

void actor_instance::spawn_logged(task<void> work, std::string_view what) {
    asio::co_spawn(strand_, std::move(work), [self = shared_from_this(), what = std::string(what)](std::exception_ptr e) {
        if (e) self->log().error(what + " failed", {{"error", describe_exception(e)}});
    });
}

std::shared_ptr<oneshot<void>> actor_instance::start_with_deadline(task<void> work, milliseconds timeout,
                                                                   std::string name) {
    auto result = oneshot<void>::make();
    asio::co_spawn(strand_, std::move(work), [result](std::exception_ptr e) {
        e ? (void)result->set_exception(e) : (void)result->set_value();
    });
    auto t = clock_->start_timer(timeout, strand_, [result, name = std::move(name)] {
        result->set_exception(std::make_exception_ptr(errors::internal(name + " timed out")));
    });
    result->on_ready([t] { t->cancel(); });
    return result;
}

// Coroutine bodies in this file only co_await what plain functions started: GCC 12 miscompiles
// lambda and braced temporaries inside coroutines (double destruction), so none appear there.
task<void> actor_instance::run_hook_with_timeout(task<void> hook, milliseconds timeout, std::string_view hook_name) {
    auto result = start_with_deadline(std::move(hook), timeout, std::string(hook_name));
    co_await result->wait();
}

}  // namespace rivetkit
