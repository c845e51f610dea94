#pragma once
// Waiting in tests without sleeps: a recorder of values pushed from other threads (client
// callbacks) that the test thread waits on with a deadline, and expect_error for calls that must
// fail with a given group and code. Shared by the client and engine tests.

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "rivetkit/error.hpp"

namespace client_test {

using namespace std::chrono_literals;

/// The longest any test waits for something that should happen.
inline constexpr auto guard = 10s;

/// Runs `fn`, which must throw rivetkit::error with this group and code; returns the error.
template <class F>
rivetkit::client_error expect_error(F&& fn, std::string_view group, std::string_view code) {
    try {
        fn();
    } catch (const rivetkit::error& e) {
        INFO("error: " << e.what());
        CHECK(e.group() == group);
        CHECK(e.code() == code);
        return rivetkit::client_error{e.group(), e.code(), e.message(), e.metadata(), e.http_status()};
    }
    FAIL("no error thrown; expected " << group << "/" << code);
    return {};
}

/// Collects values from callbacks on other threads; waits for them with a deadline.
template <class T>
class recorder {
public:
    void push(T v) {
        std::lock_guard lock(mutex_);
        items_.push_back(std::move(v));
        cv_.notify_all();
    }
    /// Waits until at least `n` items arrived (fails the test after the guard).
    std::vector<T> wait_for(std::size_t n, std::chrono::milliseconds timeout = guard) {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, timeout, [&] { return items_.size() >= n; })) {
            FAIL("waited for " << n << " items, got " << items_.size());
        }
        return items_;
    }
    /// Waits until `pred(items)` holds.
    template <class P>
    std::vector<T> wait_until(P pred, std::chrono::milliseconds timeout = guard) {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, timeout, [&] { return pred(items_); })) FAIL("the expected items did not arrive");
        return items_;
    }
    std::vector<T> items() {
        std::lock_guard lock(mutex_);
        return items_;
    }
    std::size_t size() {
        std::lock_guard lock(mutex_);
        return items_.size();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<T> items_;
};

}  // namespace client_test
