#include "rivetkit/drivers/memory.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>

#include "rivetkit/error.hpp"
#include "rivetkit/ids.hpp"
#include "rivetkit/local_host.hpp"
#include "rivetkit/sql.hpp"

namespace rivetkit::drivers {

namespace {

class memory_store final : public local_store {
public:
    std::string display_name() const override { return "Memory"; }

    task<std::optional<actor_record>> load_record(std::string actor_id) override {
        std::lock_guard lock(mutex_);
        auto it = actors_.find(actor_id);
        if (it == actors_.end()) co_return std::nullopt;
        co_return it->second.record;
    }

    task<void> create_record(actor_record record, std::vector<kv_entry> initial_kv) override {
        std::lock_guard lock(mutex_);
        auto& a = actors_[record.actor_id];
        a = actor{};
        a.record = std::move(record);
        for (auto& [k, v] : initial_kv) a.kv[std::move(k)] = std::move(v);
        co_return;
    }

    task<void> update_record(actor_record record) override {
        std::lock_guard lock(mutex_);
        auto it = actors_.find(record.actor_id);
        if (it != actors_.end()) it->second.record = std::move(record);
        co_return;
    }

    task<void> delete_actor(std::string actor_id) override {
        std::lock_guard lock(mutex_);
        actors_.erase(actor_id);
        alarms_.erase(actor_id);
        co_return;
    }

    task<std::vector<actor_record>> list_records(std::string name) override {
        std::lock_guard lock(mutex_);
        std::vector<actor_record> out;
        for (const auto& [id, a] : actors_) {
            if (a.record.name == name) out.push_back(a.record);
        }
        co_return out;
    }

    task<std::vector<std::optional<bytes>>> kv_get(std::string actor_id, std::vector<bytes> keys) override {
        std::lock_guard lock(mutex_);
        std::vector<std::optional<bytes>> out(keys.size());
        auto it = actors_.find(actor_id);
        if (it != actors_.end()) {
            for (std::size_t i = 0; i < keys.size(); ++i) {
                auto v = it->second.kv.find(keys[i]);
                if (v != it->second.kv.end()) out[i] = v->second;
            }
        }
        co_return out;
    }

    task<void> kv_put(std::string actor_id, std::vector<kv_entry> entries) override {
        std::lock_guard lock(mutex_);
        auto it = actors_.find(actor_id);
        if (it == actors_.end()) co_return;  // destroyed meanwhile: nothing to keep
        for (auto& [k, v] : entries) it->second.kv[std::move(k)] = std::move(v);
        co_return;
    }

    task<void> kv_delete(std::string actor_id, std::vector<bytes> keys) override {
        std::lock_guard lock(mutex_);
        auto it = actors_.find(actor_id);
        if (it != actors_.end()) {
            for (auto& k : keys) it->second.kv.erase(k);
        }
        co_return;
    }

    task<std::vector<kv_entry>> kv_list_prefix(std::string actor_id, bytes prefix) override {
        std::lock_guard lock(mutex_);
        std::vector<kv_entry> out;
        auto it = actors_.find(actor_id);
        if (it != actors_.end()) {
            for (auto kv = it->second.kv.lower_bound(prefix); kv != it->second.kv.end(); ++kv) {
                if (kv->first.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), kv->first.begin())) break;
                out.push_back(*kv);
            }
        }
        co_return out;
    }

    task<void> store_alarm(std::string actor_id, std::optional<std::int64_t> timestamp_ms) override {
        std::lock_guard lock(mutex_);
        if (timestamp_ms) {
            alarms_[actor_id] = *timestamp_ms;
        } else {
            alarms_.erase(actor_id);
        }
        co_return;
    }

    task<std::vector<std::pair<std::string, std::int64_t>>> load_alarms() override {
        std::lock_guard lock(mutex_);
        co_return std::vector<std::pair<std::string, std::int64_t>>(alarms_.begin(), alarms_.end());
    }

    // An in-memory SQLite database per actor. The store keeps one idle connection to it with the
    // record (so it survives sleep like the state does, and goes with delete_actor or a
    // re-creation under the same id); each awake period gets a connection of its own, which the
    // runtime closes when the actor stops, as with a file.
    std::shared_ptr<sql::database> open_database(const std::string& actor_id) override {
        std::string name = db_prefix_ + actor_id;
        {
            std::lock_guard lock(mutex_);
            auto it = actors_.find(actor_id);
            if (it == actors_.end()) throw errors::actor_not_found(actor_id);
            if (!it->second.db_anchor) it->second.db_anchor = sql::database::open_named_in_memory(name);
        }
        return sql::database::open_named_in_memory(name);
    }

private:
    struct actor {
        actor_record record;
        std::map<bytes, bytes, bytes_less> kv;
        std::shared_ptr<sql::database> db_anchor;  // keeps the actor's database; made by its first c.db()
    };
    // Names of in-memory databases are process-wide: this store's are unique to it.
    const std::string db_prefix_ = "rivetkit-" + random_uuid() + "-";
    std::mutex mutex_;
    std::unordered_map<std::string, actor> actors_;
    std::unordered_map<std::string, std::int64_t> alarms_;
};

}  // namespace

driver_factory memory() {
    return {"memory", [](const driver_env& env) {
                auto host = std::make_shared<local_host>(env, std::make_shared<memory_store>());
                return driver_pair{host, host};
            }};
}

}  // namespace rivetkit::drivers
