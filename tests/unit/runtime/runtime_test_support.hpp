#pragma once
// Shared helpers of the runtime tests: running client calls concurrently on the caller-driven
// test registry, checking protocol errors, and a local_store whose writes a test can hold back
// (to observe the output gate) and which can outlive a registry (to simulate a restart).

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio/co_spawn.hpp>

#include <rivetkit/detail/oneshot.hpp>
#include <rivetkit/error.hpp>
#include <rivetkit/local_host.hpp>
#include <rivetkit/testing.hpp>

#include "common/bare.hpp"
#include "common/cbor.hpp"

namespace rivetkit_test {

using namespace std::chrono_literals;

/// A client call started on the registry's io_context; it advances whenever the test registry
/// runs work (blocking calls, settle(), advance()).
template <class T>
class in_flight {
public:
    in_flight() : result_(rivetkit::detail::oneshot<T>::make()) {}
    [[nodiscard]] bool done() const { return result_->ready(); }
    /// The result; rethrows the call's error. Only once done().
    T get() const { return result_->get(); }
    [[nodiscard]] const std::shared_ptr<rivetkit::detail::oneshot<T>>& result() const { return result_; }

private:
    std::shared_ptr<rivetkit::detail::oneshot<T>> result_;
};

template <class T>
in_flight<T> start(rivetkit::testing::test_registry& t, rivetkit::task<T> work) {
    in_flight<T> f;
    asio::co_spawn(t.core().executor(), std::move(work), [r = f.result()](std::exception_ptr e, auto... v) {
        if (e) {
            r->set_exception(e);
        } else {
            r->set_value(std::move(v)...);
        }
    });
    return f;
}

/// Runs `f` and returns the rivetkit::error it throws, checking its group and code.
template <class F>
rivetkit::error require_error(F&& f, const std::string& group, const std::string& code) {
    try {
        f();
    } catch (const rivetkit::error& e) {
        INFO("error: " << e.what());
        CHECK(e.group() == group);
        CHECK(e.code() == code);
        return e;
    }
    FAIL("expected " << group << "/" << code << ", nothing was thrown");
    throw std::logic_error("unreachable");
}

/// A local_store in memory. Shared with the test, so it can outlive one registry (a "restart")
/// and hold kv_put calls back until the test releases them.
class test_store final : public rivetkit::local_store {
public:
    std::string display_name() const override { return "Test"; }

    rivetkit::task<std::optional<rivetkit::actor_record>> load_record(std::string actor_id) override {
        std::lock_guard lock(mutex_);
        auto it = actors_.find(actor_id);
        if (it == actors_.end()) co_return std::nullopt;
        co_return it->second.record;
    }
    rivetkit::task<void> create_record(rivetkit::actor_record record, std::vector<rivetkit::kv_entry> kv) override {
        std::lock_guard lock(mutex_);
        auto& a = actors_[record.actor_id];
        a = actor{};
        a.record = std::move(record);
        for (auto& [k, v] : kv) a.kv[std::move(k)] = std::move(v);
        co_return;
    }
    rivetkit::task<void> update_record(rivetkit::actor_record record) override {
        std::lock_guard lock(mutex_);
        if (auto it = actors_.find(record.actor_id); it != actors_.end()) it->second.record = std::move(record);
        co_return;
    }
    rivetkit::task<void> delete_actor(std::string actor_id) override {
        std::lock_guard lock(mutex_);
        actors_.erase(actor_id);
        alarms_.erase(actor_id);
        co_return;
    }
    rivetkit::task<std::vector<rivetkit::actor_record>> list_records(std::string name) override {
        std::lock_guard lock(mutex_);
        std::vector<rivetkit::actor_record> out;
        for (const auto& [id, a] : actors_) {
            if (a.record.name == name) out.push_back(a.record);
        }
        co_return out;
    }
    rivetkit::task<std::vector<std::optional<rivetkit::bytes>>> kv_get(
        std::string actor_id, std::vector<rivetkit::bytes> keys) override {
        std::lock_guard lock(mutex_);
        std::vector<std::optional<rivetkit::bytes>> out(keys.size());
        if (auto it = actors_.find(actor_id); it != actors_.end()) {
            for (std::size_t i = 0; i < keys.size(); ++i) {
                if (auto v = it->second.kv.find(keys[i]); v != it->second.kv.end()) out[i] = v->second;
            }
        }
        co_return out;
    }
    rivetkit::task<void> kv_put(std::string actor_id, std::vector<rivetkit::kv_entry> entries) override {
        std::shared_ptr<rivetkit::detail::oneshot<void>> gate;
        {
            std::lock_guard lock(mutex_);
            ++puts_started_;
            if (holding_) {
                gate = rivetkit::detail::oneshot<void>::make();
                gates_.push_back(gate);
            }
        }
        if (gate) co_await gate->wait();
        std::lock_guard lock(mutex_);
        ++puts_committed_;
        if (auto it = actors_.find(actor_id); it != actors_.end()) {
            for (auto& [k, v] : entries) it->second.kv[std::move(k)] = std::move(v);
        }
    }
    rivetkit::task<void> kv_delete(std::string actor_id, std::vector<rivetkit::bytes> keys) override {
        std::lock_guard lock(mutex_);
        if (auto it = actors_.find(actor_id); it != actors_.end()) {
            for (auto& k : keys) it->second.kv.erase(k);
        }
        co_return;
    }
    rivetkit::task<std::vector<rivetkit::kv_entry>> kv_list_prefix(std::string actor_id,
                                                                   rivetkit::bytes prefix) override {
        std::lock_guard lock(mutex_);
        std::vector<rivetkit::kv_entry> out;
        if (auto it = actors_.find(actor_id); it != actors_.end()) {
            for (const auto& [k, v] : it->second.kv) {
                if (k.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), k.begin())) {
                    out.emplace_back(k, v);
                }
            }
        }
        co_return out;
    }
    rivetkit::task<void> store_alarm(std::string actor_id, std::optional<std::int64_t> ts) override {
        std::lock_guard lock(mutex_);
        if (ts) {
            alarms_[actor_id] = *ts;
        } else {
            alarms_.erase(actor_id);
        }
        co_return;
    }
    rivetkit::task<std::vector<std::pair<std::string, std::int64_t>>> load_alarms() override {
        std::lock_guard lock(mutex_);
        co_return std::vector<std::pair<std::string, std::int64_t>>(alarms_.begin(), alarms_.end());
    }

    // ---- test controls ----

    /// From now on kv_put waits until release().
    void hold() {
        std::lock_guard lock(mutex_);
        holding_ = true;
    }
    /// Lets every held kv_put complete (their continuations run when the registry runs work);
    /// later puts are no longer held.
    void release() {
        std::vector<std::shared_ptr<rivetkit::detail::oneshot<void>>> gates;
        {
            std::lock_guard lock(mutex_);
            holding_ = false;
            gates.swap(gates_);
        }
        for (auto& g : gates) g->set_value();
    }
    [[nodiscard]] std::size_t held_puts() const {
        std::lock_guard lock(mutex_);
        return gates_.size();
    }
    [[nodiscard]] std::size_t puts_started() const {
        std::lock_guard lock(mutex_);
        return puts_started_;
    }
    [[nodiscard]] std::size_t puts_committed() const {
        std::lock_guard lock(mutex_);
        return puts_committed_;
    }
    [[nodiscard]] std::optional<std::int64_t> alarm(const std::string& actor_id) const {
        std::lock_guard lock(mutex_);
        auto it = alarms_.find(actor_id);
        if (it == alarms_.end()) return std::nullopt;
        return it->second;
    }
    [[nodiscard]] bool has_actor(const std::string& actor_id) const {
        std::lock_guard lock(mutex_);
        return actors_.contains(actor_id);
    }
    /// The actor state as committed to the store (decoded from its persisted record, KV [1]).
    [[nodiscard]] rivetkit::value committed_state(const std::string& actor_id) const {
        std::lock_guard lock(mutex_);
        auto it = actors_.find(actor_id);
        REQUIRE(it != actors_.end());
        auto kv = it->second.kv.find(rivetkit::bytes{1});
        REQUIRE(kv != it->second.kv.end());
        rivetkit::bare::reader r(kv->second);
        REQUIRE(r.u16() == 3);
        if (r.optional_tag()) (void)r.data();  // input
        (void)r.boolean();                      // has_initialized
        return rivetkit::cbor::decode(r.data());
    }

private:
    struct actor {
        rivetkit::actor_record record;
        std::map<rivetkit::bytes, rivetkit::bytes, rivetkit::bytes_less> kv;
    };
    mutable std::mutex mutex_;
    std::unordered_map<std::string, actor> actors_;
    std::unordered_map<std::string, std::int64_t> alarms_;
    bool holding_ = false;
    std::vector<std::shared_ptr<rivetkit::detail::oneshot<void>>> gates_;
    std::size_t puts_started_ = 0;
    std::size_t puts_committed_ = 0;
};

/// A driver factory hosting actors on `store` with rivetkit::local_host.
inline rivetkit::driver_factory driver_on(std::shared_ptr<test_store> store) {
    return {"test", [store](const rivetkit::driver_env& env) {
                auto host = std::make_shared<rivetkit::local_host>(env, store);
                return rivetkit::driver_pair{host, host};
            }};
}

inline rivetkit::testing::test_options options_on(std::shared_ptr<test_store> store,
                                                  rivetkit::durability mode = rivetkit::durability::durable,
                                                  std::int64_t start_ms = 1'700'000'000'000) {
    rivetkit::testing::test_options o;
    o.durability_mode = mode;
    o.start_ms = start_ms;
    o.driver = driver_on(std::move(store));
    return o;
}

/// Create options carrying connection params.
inline rivetkit::create_options with_params(rivetkit::value params) {
    rivetkit::create_options o;
    o.params = std::move(params);
    return o;
}

inline rivetkit::create_options with_input(rivetkit::value input) {
    rivetkit::create_options o;
    o.input = std::move(input);
    return o;
}

/// The local_host behind a test registry.
inline rivetkit::local_host& host_of(rivetkit::testing::test_registry& t) {
    auto* h = dynamic_cast<rivetkit::local_host*>(&t.core().manager());
    REQUIRE(h != nullptr);
    return *h;
}

}  // namespace rivetkit_test
