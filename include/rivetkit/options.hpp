#pragma once
// Per-actor options (reference defaults) and the registry's durability mode.

#include <chrono>

namespace rivetkit {

/// When an action's reply (and the events it broadcast) may leave the process.
enum class durability {
    /// Default: only after the state change they reflect is committed to the driver's store.
    durable,
    /// Like durable, and the store is also flushed to the device (power-loss safe).
    fsync,
    /// The reference's behaviour: replies leave at once; state is saved at most once per
    /// `state_save_interval` and on stop.
    relaxed,
};

struct actor_options {
    /// Deadline of coroutine actions (plain functions are never timed out).
    std::chrono::milliseconds action_timeout{60'000};
    /// Idle time after which an actor with no connections and no requests goes to sleep.
    std::chrono::milliseconds sleep_timeout{30'000};
    /// Disables the idle sleep (an explicit `c.sleep()` still works).
    bool no_sleep = false;
    std::chrono::milliseconds create_vars_timeout{5'000};
    std::chrono::milliseconds create_conn_state_timeout{5'000};
    std::chrono::milliseconds on_connect_timeout{5'000};
    std::chrono::milliseconds on_sleep_timeout{5'000};
    std::chrono::milliseconds on_destroy_timeout{5'000};
    /// How long a stop waits for `wait_until` work.
    std::chrono::milliseconds wait_until_timeout{15'000};
    /// Save throttle in `durability::relaxed` mode.
    std::chrono::milliseconds state_save_interval{10'000};
};

}  // namespace rivetkit
