#pragma once
// Every timer in the runtime goes through a clock, so tests can run on virtual time: a test
// advances 30 seconds instantly and sees sleeps and scheduled actions happen deterministically.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <asio/any_io_executor.hpp>

#include "rivetkit/detail/unique_function.hpp"
#include "rivetkit/task.hpp"

namespace rivetkit {

using milliseconds = std::chrono::milliseconds;

/// A started timer. Cancelling is idempotent and safe from any thread; after it returns the
/// callback will not start (it may already be running on its executor).
class timer {
public:
    virtual ~timer() = default;
    virtual void cancel() noexcept = 0;
};

class clock {
public:
    virtual ~clock() = default;
    /// Wall-clock milliseconds since the Unix epoch (JS `Date.now()`).
    [[nodiscard]] virtual std::int64_t now_ms() const = 0;
    /// Runs `fn` on `ex` once `delay` has elapsed (a negative delay counts as zero), unless
    /// the returned timer is cancelled first.
    virtual std::shared_ptr<timer> start_timer(milliseconds delay, asio::any_io_executor ex,
                                               detail::unique_function<void()> fn) = 0;
};

/// Real time: `std::chrono::system_clock` for timestamps, Asio steady timers for delays.
[[nodiscard]] std::shared_ptr<clock> make_system_clock();

/// Virtual time for tests. Time stands still until `advance` moves it; due callbacks then run in
/// deadline order (ties in start order). After each callback is handed to its executor the
/// `settle` hook runs (the test harness uses it to run the io_context until it is idle), so work
/// a callback triggers, including new timers inside the window, happens before the next one.
class virtual_clock final : public clock, public std::enable_shared_from_this<virtual_clock> {
public:
    explicit virtual_clock(std::int64_t start_ms = 1'700'000'000'000);
    ~virtual_clock() override;

    [[nodiscard]] std::int64_t now_ms() const override;
    std::shared_ptr<timer> start_timer(milliseconds delay, asio::any_io_executor ex,
                                       detail::unique_function<void()> fn) override;

    /// Moves time forward by `d`, firing every timer that falls due; returns how many fired.
    std::size_t advance(milliseconds d);
    /// Moves time to the earliest pending timer and fires what is due then; false if none.
    bool advance_to_next();
    /// Number of timers waiting.
    [[nodiscard]] std::size_t pending() const;
    void set_settle(std::function<void()> settle);

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

/// Suspends the calling coroutine for `d` on `c`, resuming on the coroutine's executor.
[[nodiscard]] task<void> sleep_for(clock& c, milliseconds d);

}  // namespace rivetkit
