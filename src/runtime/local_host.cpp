// local_host: instances of the memory and file-system drivers. Entry bookkeeping is guarded by
// one mutex that is never held across a suspension; storage calls go to the local_store.

#include "rivetkit/local_host.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "common/bare.hpp"
#include "common/cbor.hpp"
#include "rivetkit/detail/instance.hpp"
#include "rivetkit/detail/registry_core.hpp"
#include "rivetkit/error.hpp"
#include "rivetkit/ids.hpp"
#include "rivetkit/sql.hpp"

namespace rivetkit {

using detail::oneshot;

std::vector<kv_entry> initial_actor_kv(const value& input) {
    bare::writer w;
    w.u16(3);
    w.optional_tag(!input.is_undefined());
    if (!input.is_undefined()) w.data(cbor::encode(input));
    w.boolean(false);
    w.data(cbor::encode(value{}));
    w.uint(0);
    return {{bytes{1}, w.take()}};
}

local_host::local_host(const driver_env& env, std::shared_ptr<local_store> store)
    : env_(env), store_(std::move(store)), generation_(static_cast<std::uint64_t>(env.clock->now_ms())) {}

local_host::~local_host() {
    std::lock_guard lock(mutex_);
    for (auto& [id, a] : alarms_) {
        if (a.timer) a.timer->cancel();
    }
}

std::size_t local_host::running_count() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(),
                                                  [](const auto& e) { return e.second.state == phase::running; }));
}

bool local_host::is_being_destroyed(const std::string& actor_id) const {
    auto it = entries_.find(actor_id);
    return it != entries_.end() && it->second.state == phase::stopping && it->second.stopping_for == stop_mode::destroy;
}

// ---- manager -------------------------------------------------------------------------------

task<std::optional<actor_record>> local_host::get_for_id(std::string actor_id) {
    {
        std::lock_guard lock(mutex_);
        if (is_being_destroyed(actor_id)) co_return std::nullopt;
        if (auto it = entries_.find(actor_id); it != entries_.end() && it->second.state == phase::running) {
            co_return running_record(it->second);
        }
    }
    co_return co_await store_->load_record(actor_id);
}

task<std::optional<actor_record>> local_host::get_with_key(std::string name, actor_key key) {
    auto id = file_system_actor_id(name, key);
    auto rec = co_await get_for_id(id);
    if (rec && rec->name != name) co_return std::nullopt;
    co_return rec;
}

task<actor_record> local_host::get_or_create_with_key(create_request request) {
    auto rec = co_await create_impl(std::move(request), false);
    co_return rec;
}

task<actor_record> local_host::create_actor(create_request request) {
    auto rec = co_await create_impl(std::move(request), true);
    co_return rec;
}

task<actor_record> local_host::create_impl(create_request request, bool fail_if_exists) {
    if (env_.registry->find_definition(request.name) == nullptr) {
        throw errors::actor_not_found(fmt::format("no actor named '{}' in this registry", request.name));
    }
    auto id = file_system_actor_id(request.name, request.key);
    for (;;) {
        std::shared_ptr<oneshot<void>> busy;
        std::shared_ptr<oneshot<void>> mine;
        {
            std::lock_guard lock(mutex_);
            // A running actor exists: answer from memory, without a store lookup (every HTTP
            // action with a get-or-create query resolves its actor this way).
            if (auto it = entries_.find(id); it != entries_.end() && it->second.state == phase::running) {
                if (fail_if_exists) throw errors::actor_duplicate_key(request.name, serialize_key(request.key));
                co_return running_record(it->second);
            }
            if (auto it = creating_.find(id); it != creating_.end()) {
                busy = it->second;
            } else if (is_being_destroyed(id)) {
                busy = entries_[id].stopped();
            } else {
                mine = oneshot<void>::make();
                creating_[id] = mine;
            }
        }
        if (busy) {
            try {
                co_await busy->wait();
            } catch (...) {
            }
            continue;
        }
        try {
            auto existing = co_await store_->load_record(id);
            if (existing) {
                if (fail_if_exists) throw errors::actor_duplicate_key(request.name, serialize_key(request.key));
                finish_create(id, mine);
                co_return *existing;
            }
            actor_record rec;
            rec.actor_id = id;
            rec.name = request.name;
            rec.key = request.key;
            rec.create_ts = env_.clock->now_ms();
            rec.generation = next_generation();
            co_await store_->create_record(rec, initial_actor_kv(request.input));
            finish_create(id, mine);
            co_return rec;
        } catch (...) {
            finish_create(id, mine);
            throw;
        }
    }
}

namespace {
// Kept out of coroutine bodies (GCC 12 miscompiles lambda temporaries there).
void newest_first_of(std::vector<actor_record>& records, const std::string& name) {
    std::erase_if(records, [&](const actor_record& r) { return r.name != name; });
    std::stable_sort(records.begin(), records.end(),
                     [](const actor_record& a, const actor_record& b) { return a.create_ts > b.create_ts; });
}
}  // namespace

actor_record local_host::running_record(const entry& e) {
    actor_record rec;
    rec.actor_id = e.instance->actor_id();
    rec.name = e.instance->name();
    rec.key = e.instance->key();
    rec.create_ts = e.create_ts;
    rec.start_ts = rec.connectable_ts = e.start_ts;
    rec.generation = e.generation;
    return rec;
}

void local_host::finish_create(const std::string& id, const std::shared_ptr<oneshot<void>>& mine) {
    {
        std::lock_guard lock(mutex_);
        creating_.erase(id);
    }
    mine->set_value();
}

std::uint64_t local_host::next_generation() {
    std::lock_guard lock(mutex_);
    return ++generation_;
}

task<std::vector<actor_record>> local_host::list_actors(std::string name) {
    auto records = co_await store_->list_records(name);
    newest_first_of(records, name);
    co_return records;
}

task<void> local_host::destroy_actor(std::string actor_id) {
    // Wake it first, so on_destroy runs as for an actor that destroys itself.
    auto inst = co_await load_actor(actor_id);
    std::shared_ptr<oneshot<void>> stopped;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(actor_id);
        if (it != entries_.end() && it->second.state == phase::stopping) stopped = it->second.stopped();
    }
    if (!stopped) {
        co_await stop_flow(actor_id, stop_mode::destroy);
    } else {
        co_await stopped->wait();
    }
}

task<std::shared_ptr<actor_instance>> local_host::load_actor(std::string actor_id) {
    for (;;) {
        std::shared_ptr<oneshot<void>> stopping;
        bool destroying = false;
        std::shared_ptr<oneshot<std::shared_ptr<actor_instance>>> started;
        bool we_start = false;
        {
            std::lock_guard lock(mutex_);
            if (shut_down_) throw errors::internal("registry is shutting down");
            auto [it, inserted] = entries_.try_emplace(actor_id);
            entry& e = it->second;
            if (inserted) {
                e.state = phase::starting;
                started = oneshot<std::shared_ptr<actor_instance>>::make();
                e.waiter = started;
                we_start = true;
            } else if (e.state == phase::running) {
                co_return e.instance;
            } else if (e.state == phase::starting) {
                started = e.started();
            } else {
                stopping = e.stopped();
                destroying = e.stopping_for == stop_mode::destroy;
            }
        }
        if (stopping) {
            // Sleeping actors wake as soon as the sleep completes; destroyed ones are gone.
            try {
                co_await stopping->wait();
            } catch (...) {
            }
            if (destroying) throw errors::actor_not_found(actor_id);
            continue;
        }
        if (!we_start) co_return co_await started->wait();

        try {
            auto rec = co_await store_->load_record(actor_id);
            if (!rec) throw errors::actor_not_found(actor_id);
            auto inst = env_.registry->make_instance(*rec);
            auto starting = inst->start();  // named first (GCC 12 rule)
            co_await asio::co_spawn(inst->strand(), std::move(starting), asio::use_awaitable);
            rec->start_ts = rec->connectable_ts = env_.clock->now_ms();
            rec->sleep_ts.reset();
            co_await store_->update_record(*rec);
            {
                std::lock_guard lock(mutex_);
                entry& e = entries_[actor_id];
                e.state = phase::running;
                e.instance = inst;
                e.create_ts = rec->create_ts;
                e.start_ts = *rec->start_ts;
                e.generation = rec->generation;
                e.waiter.reset();
            }
            started->set_value(inst);
            co_return inst;
        } catch (...) {
            auto err = std::current_exception();
            {
                std::lock_guard lock(mutex_);
                entries_.erase(actor_id);
            }
            started->set_exception(err);
            std::rethrow_exception(err);
        }
    }
}

void local_host::start_sleep(const std::string& actor_id) {
    asio::co_spawn(env_.executor, stop_flow(actor_id, stop_mode::sleep), asio::detached);
}

void local_host::start_destroy(const std::string& actor_id) {
    asio::co_spawn(env_.executor, stop_flow(actor_id, stop_mode::destroy), asio::detached);
}

task<void> local_host::stop_flow(std::string actor_id, stop_mode mode) {
    std::shared_ptr<actor_instance> inst;
    std::shared_ptr<oneshot<void>> stopped;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(actor_id);
        if (it == entries_.end() || it->second.state != phase::running) co_return;
        it->second.state = phase::stopping;
        it->second.stopping_for = mode;
        it->second.waiter = stopped = oneshot<void>::make();
        inst = it->second.instance;
    }
    try {
        if (mode == stop_mode::sleep) {
            if (auto rec = co_await store_->load_record(actor_id)) {
                rec->sleep_ts = env_.clock->now_ms();
                co_await store_->update_record(*rec);
            }
        }
        auto stopping = inst->stop(mode);  // named first (GCC 12 rule)
        co_await asio::co_spawn(inst->strand(), std::move(stopping), asio::use_awaitable);
        if (mode == stop_mode::destroy) {
            {
                std::lock_guard lock(mutex_);
                if (auto a = alarms_.find(actor_id); a != alarms_.end()) {
                    if (a->second.timer) a->second.timer->cancel();
                    alarms_.erase(a);
                }
            }
            co_await store_->delete_actor(actor_id);
        }
    } catch (...) {
        inst->log().error("stopping actor failed", {{"error", describe_exception(std::current_exception())}});
    }
    {
        std::lock_guard lock(mutex_);
        entries_.erase(actor_id);
    }
    stopped->set_value();
}

task<void> local_host::shutdown() {
    {
        // From here on nothing new starts (loads fail); running actors are put to sleep.
        std::lock_guard lock(mutex_);
        shut_down_ = true;
        for (auto& [id, a] : alarms_) {
            if (a.timer) a.timer->cancel();
        }
        alarms_.clear();
    }
    for (;;) {
        std::vector<std::string> running;
        std::vector<std::shared_ptr<oneshot<std::shared_ptr<actor_instance>>>> starting;
        std::vector<std::shared_ptr<oneshot<void>>> stopping;
        {
            std::lock_guard lock(mutex_);
            for (auto& [id, e] : entries_) {
                if (e.state == phase::running) running.push_back(id);
                if (e.state == phase::starting) starting.push_back(e.started());
                if (e.state == phase::stopping) stopping.push_back(e.stopped());
            }
        }
        if (running.empty() && starting.empty() && stopping.empty()) break;
        // Starts already under way finish first, then get stopped like the others.
        for (auto& s : starting) {
            try {
                co_await s->wait();
            } catch (...) {
            }
        }
        for (auto& s : stopping) co_await s->wait();
        for (auto& id : running) co_await stop_flow(id, stop_mode::sleep);
    }
}

// ---- actor driver --------------------------------------------------------------------------

task<std::vector<std::optional<bytes>>> local_host::kv_get(std::string actor_id, std::vector<bytes> keys) {
    co_return co_await store_->kv_get(std::move(actor_id), std::move(keys));
}

task<void> local_host::kv_put(std::string actor_id, std::vector<kv_entry> entries) {
    co_await store_->kv_put(std::move(actor_id), std::move(entries));
}

task<void> local_host::kv_delete(std::string actor_id, std::vector<bytes> keys) {
    co_await store_->kv_delete(std::move(actor_id), std::move(keys));
}

task<std::vector<kv_entry>> local_host::kv_list_prefix(std::string actor_id, bytes prefix) {
    co_return co_await store_->kv_list_prefix(std::move(actor_id), std::move(prefix));
}

task<void> local_host::set_alarm(std::string actor_id, std::optional<std::int64_t> timestamp_ms) {
    {
        std::lock_guard lock(mutex_);
        if (is_being_destroyed(actor_id)) co_return;
    }
    co_await store_->store_alarm(actor_id, timestamp_ms);
    std::lock_guard lock(mutex_);
    if (auto a = alarms_.find(actor_id); a != alarms_.end()) {
        if (a->second.timer) a->second.timer->cancel();
        alarms_.erase(a);
    }
    if (timestamp_ms && !shut_down_) arm_alarm(actor_id, *timestamp_ms);
}

void local_host::arm_alarm(const std::string& actor_id, std::int64_t timestamp) {
    // Called with mutex_ held.
    if (auto a = alarms_.find(actor_id); a != alarms_.end() && a->second.timer) a->second.timer->cancel();
    auto delay = milliseconds(timestamp - env_.clock->now_ms());
    auto self = weak_from_this();
    auto t = env_.clock->start_timer(delay, env_.executor, [self, actor_id, timestamp] {
        if (auto host = self.lock()) {
            asio::co_spawn(host->env_.executor, host->alarm_flow(actor_id, timestamp), asio::detached);
        }
    });
    alarms_[actor_id] = alarm{timestamp, std::move(t)};
}

task<void> local_host::alarm_flow(std::string actor_id, std::int64_t timestamp) {
    {
        std::lock_guard lock(mutex_);
        auto a = alarms_.find(actor_id);
        if (a == alarms_.end() || a->second.timestamp != timestamp) co_return;  // superseded
        alarms_.erase(a);
    }
    try {
        // Wakes a sleeping actor; its start runs due events too, on_alarm then finds none.
        auto inst = co_await load_actor(actor_id);
        auto alarm = inst->on_alarm();  // named first (GCC 12 rule)
        co_await asio::co_spawn(inst->strand(), std::move(alarm), asio::use_awaitable);
    } catch (...) {
        env_.registry->log().warn("alarm could not run", {{"actorId", actor_id}, {"error", describe_exception(std::current_exception())}});
    }
}

std::shared_ptr<sql::database> local_store::open_database(const std::string& /*actor_id*/) {
    throw sql::not_enabled_error();
}

std::shared_ptr<sql::database> local_host::open_database(const std::string& actor_id) {
    return store_->open_database(actor_id);
}

task<void> local_host::restore_alarms() {
    auto alarms = co_await store_->load_alarms();
    std::lock_guard lock(mutex_);
    for (auto& [id, ts] : alarms) arm_alarm(id, ts);
}

}  // namespace rivetkit
