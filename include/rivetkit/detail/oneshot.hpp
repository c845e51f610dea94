#pragma once
// A one-shot result that coroutines on any executor can await. Each waiter resumes on its own
// executor (never inline on the thread that sets the result), which keeps strand guarantees.

#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "rivetkit/detail/unique_function.hpp"
#include "rivetkit/task.hpp"

namespace rivetkit::detail {

struct empty {};

template <class T = void>
class oneshot : public std::enable_shared_from_this<oneshot<T>> {
    using stored = std::conditional_t<std::is_void_v<T>, empty, T>;

public:
    static std::shared_ptr<oneshot> make() { return std::make_shared<oneshot>(); }

    /// The first result wins; returns false if one was already set.
    template <class... A>
    bool set_value(A&&... a) {
        unique_function<void()> first;
        std::vector<unique_function<void()>> more;
        {
            std::lock_guard lock(mutex_);
            if (done_) return false;
            done_ = true;
            if constexpr (std::is_void_v<T>) {
                value_.emplace();
            } else {
                value_.emplace(std::forward<A>(a)...);
            }
            first = std::move(first_waiter_);
            more.swap(more_waiters_);
        }
        run_waiters(first, more);
        return true;
    }

    bool set_exception(std::exception_ptr e) {
        unique_function<void()> first;
        std::vector<unique_function<void()>> more;
        {
            std::lock_guard lock(mutex_);
            if (done_) return false;
            done_ = true;
            error_ = std::move(e);
            first = std::move(first_waiter_);
            more.swap(more_waiters_);
        }
        run_waiters(first, more);
        return true;
    }

    [[nodiscard]] bool ready() const {
        std::lock_guard lock(mutex_);
        return done_;
    }

    /// Calls `fn()` once the result is set (immediately, inline, if it already is).
    void on_ready(unique_function<void()> fn) {
        {
            std::lock_guard lock(mutex_);
            if (!done_) {
                // The first waiter (usually the only one) is kept without a vector.
                if (!first_waiter_) {
                    first_waiter_ = std::move(fn);
                } else {
                    more_waiters_.push_back(std::move(fn));
                }
                return;
            }
        }
        fn();
    }

    /// Rethrows the stored exception or returns (a copy of) the value. Only after ready().
    T get() const {
        std::lock_guard lock(mutex_);
        if (error_) std::rethrow_exception(error_);
        if constexpr (!std::is_void_v<T>) return *value_;
    }

    /// Suspends until the result is set; resumes on the awaiting coroutine's executor.
    task<T> wait() {
        auto self = this->shared_from_this();  // keeps the result alive while suspended
        if (ready()) co_return get();  // already set: no suspension, no handler
        co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(initiation{self.get()},
                                                                             asio::use_awaitable);
        co_return get();
    }

private:
    // Trivially destructible on purpose: GCC 12 destroys temporaries inside a co_await
    // expression twice, so nothing there may own a resource.
    struct initiation {
        oneshot* self;
        template <class Handler>
        void operator()(Handler handler) const {
            self->on_ready([h = std::move(handler)]() mutable {
                auto ex = asio::get_associated_executor(h);
                asio::post(ex, std::move(h));
            });
        }
    };

    mutable std::mutex mutex_;
    bool done_ = false;
    std::optional<stored> value_;
    std::exception_ptr error_;
    unique_function<void()> first_waiter_;
    std::vector<unique_function<void()>> more_waiters_;

    // In the order they registered.
    static void run_waiters(unique_function<void()>& first, std::vector<unique_function<void()>>& more) {
        if (first) first();
        for (auto& w : more) w();
    }
};

}  // namespace rivetkit::detail
