#pragma once
// The idle-sleep checks of every instance of a registry: one deadline-ordered heap and one clock
// timer for its earliest entry, instead of a timer object per actor. Not public API.

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "rivetkit/clock.hpp"

namespace rivetkit {

class actor_instance;

namespace detail {

/// An instance is in the queue at most once; its position lives in the instance
/// (`actor_instance::sleep_slot_`, read and written only under this queue's mutex). When an
/// entry falls due it leaves the queue and the instance's `sleep_check()` is posted to its
/// strand. Thread-safe.
class sleep_queue {
public:
    sleep_queue(std::shared_ptr<rivetkit::clock> clock, asio::any_io_executor executor);
    ~sleep_queue();
    sleep_queue(const sleep_queue&) = delete;
    sleep_queue& operator=(const sleep_queue&) = delete;

    /// Queues `inst`'s check at `due_ms` (clock time, `clock::now_ms`). `inst` must not be queued.
    void arm(actor_instance& inst, std::int64_t due_ms);
    /// Takes `inst` out of the queue if it is there (a check already posted still runs).
    void cancel(actor_instance& inst) noexcept;
    /// Whether `inst` is queued.
    [[nodiscard]] bool queued(const actor_instance& inst) const noexcept;
    /// Stops the timer; nothing fires afterwards (the registry calls it before its io_context
    /// goes). Idempotent.
    void shutdown() noexcept;
    /// Number of queued instances (tests).
    [[nodiscard]] std::size_t size() const noexcept;

private:
    struct slot {
        std::int64_t due;
        actor_instance* inst;
    };
    void fire(std::uint64_t gen);
    /// Makes the timer match the earliest entry (none when the queue is empty). Mutex held.
    void retime_locked();
    void place_locked(std::size_t i);  // writes heap_[i]'s index into its instance
    void sift_up_locked(std::size_t i);
    void sift_down_locked(std::size_t i);
    void remove_at_locked(std::size_t i);

    std::shared_ptr<rivetkit::clock> clock_;
    asio::any_io_executor executor_;
    mutable std::mutex mutex_;
    std::vector<slot> heap_;  // a binary min-heap on `due`
    std::shared_ptr<timer> timer_;
    std::int64_t timer_due_ = 0;   // when timer_ fires
    std::uint64_t timer_gen_ = 0;  // the newest timer's; older ones that still fire do nothing
    bool shut_down_ = false;
};

}  // namespace detail
}  // namespace rivetkit
