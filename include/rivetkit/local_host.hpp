#pragma once
// Hosting actors in this process on top of a storage backend: the shared machinery of the
// memory and file-system drivers (instances, wake on demand, sleep, destroy, alarms).
// A driver supplies a local_store; local_host implements both driver interfaces over it.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rivetkit/detail/instance.hpp"
#include "rivetkit/detail/oneshot.hpp"
#include "rivetkit/driver.hpp"

namespace rivetkit {

/// Persistence for local_host. Every operation of one actor is applied in call order.
class local_store {
public:
    virtual ~local_store() = default;
    [[nodiscard]] virtual std::string display_name() const = 0;
    virtual task<std::optional<actor_record>> load_record(std::string actor_id) = 0;
    /// Stores a new actor (replacing any remains under the id) with its first KV entries.
    virtual task<void> create_record(actor_record record, std::vector<kv_entry> initial_kv) = 0;
    virtual task<void> update_record(actor_record record) = 0;
    /// Deletes the actor's record, KV data and alarm.
    virtual task<void> delete_actor(std::string actor_id) = 0;
    virtual task<std::vector<actor_record>> list_records(std::string name) = 0;

    virtual task<std::vector<std::optional<bytes>>> kv_get(std::string actor_id, std::vector<bytes> keys) = 0;
    virtual task<void> kv_put(std::string actor_id, std::vector<kv_entry> entries) = 0;
    virtual task<void> kv_delete(std::string actor_id, std::vector<bytes> keys) = 0;
    virtual task<std::vector<kv_entry>> kv_list_prefix(std::string actor_id, bytes prefix) = 0;

    /// Remembers (or with nullopt forgets) the actor's alarm so it survives a restart.
    virtual task<void> store_alarm(std::string actor_id, std::optional<std::int64_t> timestamp_ms) = 0;
    virtual task<std::vector<std::pair<std::string, std::int64_t>>> load_alarms() = 0;

    /// A new connection to the actor's SQL database (see actor_driver::open_database). The
    /// runtime closes it before delete_actor runs, which must then delete the data.
    /// Default: database/not_enabled.
    [[nodiscard]] virtual std::shared_ptr<sql::database> open_database(const std::string& actor_id);
};

class local_host final : public manager_driver,
                         public actor_driver,
                         public std::enable_shared_from_this<local_host> {
public:
    local_host(const driver_env& env, std::shared_ptr<local_store> store);
    ~local_host() override;

    /// Re-arms the alarms the store remembers (missed ones fire at once). Runs at registry start.
    task<void> restore_alarms();

    // manager_driver
    task<std::optional<actor_record>> get_for_id(std::string actor_id) override;
    task<std::optional<actor_record>> get_with_key(std::string name, actor_key key) override;
    task<actor_record> get_or_create_with_key(create_request request) override;
    task<actor_record> create_actor(create_request request) override;
    task<std::vector<actor_record>> list_actors(std::string name) override;
    task<void> destroy_actor(std::string actor_id) override;
    task<std::shared_ptr<actor_instance>> load_actor(std::string actor_id) override;
    /// Re-arms the alarms the store remembers.
    task<void> start() override { return restore_alarms(); }
    task<void> shutdown() override;
    [[nodiscard]] std::string display_name() const override { return store_->display_name(); }

    // actor_driver
    task<std::vector<std::optional<bytes>>> kv_get(std::string actor_id, std::vector<bytes> keys) override;
    task<void> kv_put(std::string actor_id, std::vector<kv_entry> entries) override;
    task<void> kv_delete(std::string actor_id, std::vector<bytes> keys) override;
    task<std::vector<kv_entry>> kv_list_prefix(std::string actor_id, bytes prefix) override;
    task<void> set_alarm(std::string actor_id, std::optional<std::int64_t> timestamp_ms) override;
    [[nodiscard]] bool supports_sleep() const noexcept override { return true; }
    void start_sleep(const std::string& actor_id) override;
    void start_destroy(const std::string& actor_id) override;
    /// Forwards to the store.
    [[nodiscard]] std::shared_ptr<sql::database> open_database(const std::string& actor_id) override;

    /// The number of running instances.
    [[nodiscard]] std::size_t running_count() const;
    [[nodiscard]] local_store& store() noexcept { return *store_; }

private:
    enum class phase { starting, running, stopping };
    struct entry {
        phase state = phase::starting;
        stop_mode stopping_for = stop_mode::sleep;
        std::shared_ptr<actor_instance> instance;
        // While running, with the instance's id, name and key: the record the store holds
        // (answers lookups of running actors without a store read).
        std::int64_t create_ts = 0;
        std::int64_t start_ts = 0;
        std::uint64_t generation = 0;
        // Starting: the start's oneshot (started()); stopping: the stop's (stopped()). One
        // member for both, as an entry is never in both phases (an entry per running actor).
        std::shared_ptr<void> waiter;
        [[nodiscard]] std::shared_ptr<detail::oneshot<std::shared_ptr<actor_instance>>> started() const {
            if (state != phase::starting) return nullptr;
            return std::static_pointer_cast<detail::oneshot<std::shared_ptr<actor_instance>>>(waiter);
        }
        [[nodiscard]] std::shared_ptr<detail::oneshot<void>> stopped() const {
            if (state != phase::stopping) return nullptr;
            return std::static_pointer_cast<detail::oneshot<void>>(waiter);
        }
    };
    /// A noexcept hash, so the map keeps no hash code in each node (libstdc++ caches it for
    /// std::hash<std::string>): 8 bytes less per running actor.
    struct id_hash {
        std::size_t operator()(const std::string& id) const noexcept { return std::hash<std::string_view>{}(id); }
    };
    struct alarm {
        std::int64_t timestamp = 0;
        std::shared_ptr<rivetkit::timer> timer;
    };

    task<actor_record> create_impl(create_request request, bool fail_if_exists);
    void finish_create(const std::string& id, const std::shared_ptr<detail::oneshot<void>>& mine);
    std::uint64_t next_generation();
    task<void> stop_flow(std::string actor_id, stop_mode mode);
    task<void> alarm_flow(std::string actor_id, std::int64_t timestamp);
    void arm_alarm(const std::string& actor_id, std::int64_t timestamp);
    [[nodiscard]] bool is_being_destroyed(const std::string& actor_id) const;
    [[nodiscard]] static actor_record running_record(const entry& e);

    driver_env env_;
    std::shared_ptr<local_store> store_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry, id_hash> entries_;
    std::unordered_map<std::string, std::shared_ptr<detail::oneshot<void>>> creating_;
    std::unordered_map<std::string, alarm> alarms_;
    std::uint64_t generation_ = 0;
    bool shut_down_ = false;
};

/// The initial KV entries of a new actor: its persisted record, not yet initialised.
[[nodiscard]] std::vector<kv_entry> initial_actor_kv(const value& input);

}  // namespace rivetkit
