#pragma once
// rivetkit::testing: a registry on the memory driver with a virtual clock, driven by the
// calling thread. Nothing happens in the background: blocking client calls run the actors'
// work until they complete, and `advance(30s)` moves time forward, running every timer that
// falls due (sleep, scheduled actions, action timeouts) in order. Tests are deterministic.
//
//   rivetkit::testing::test_registry t({{"counter", counter}});
//   auto h = t.client().get_or_create(counter, "counter", {"a"});
//   h.call<"increment">(1);
//   t.advance(std::chrono::seconds(30));   // the idle actor goes to sleep

#include <chrono>
#include <memory>
#include <vector>

#include "rivetkit/clock.hpp"
#include "rivetkit/registry.hpp"

namespace rivetkit::testing {

struct test_options {
    durability durability_mode = durability::durable;
    /// Virtual start time, ms since the Unix epoch.
    std::int64_t start_ms = 1'700'000'000'000;
    /// The driver; default: the memory driver. Tests of custom stores build one with
    /// rivetkit::local_host (see rivetkit/local_host.hpp).
    std::optional<driver_factory> driver{};
};

class test_registry {
public:
    explicit test_registry(std::vector<registration> actors, test_options options = {});
    ~test_registry();
    test_registry(const test_registry&) = delete;
    test_registry& operator=(const test_registry&) = delete;

    /// The in-process client (blocking calls drive the registry).
    [[nodiscard]] rivetkit::client& client() noexcept { return client_; }
    /// Moves virtual time forward by `d`, running everything that falls due.
    void advance(milliseconds d);
    /// Runs every piece of work that is ready, without moving time.
    void settle();
    [[nodiscard]] std::int64_t now_ms() const { return clock_->now_ms(); }
    [[nodiscard]] virtual_clock& clock() noexcept { return *clock_; }
    [[nodiscard]] registry_core& core() noexcept { return *core_; }
    /// Instances currently awake.
    [[nodiscard]] std::size_t awake_count() const;

private:
    std::shared_ptr<virtual_clock> clock_;
    std::unique_ptr<registry_core> core_;
    rivetkit::client client_;
};

}  // namespace rivetkit::testing
