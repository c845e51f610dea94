#pragma once
// A one-shot result that coroutines on any executor can await. Each waiter resumes on its own
// executor (never inline on the thread that sets the result), which keeps strand guarantees.
// The waiters on one executor resume together, in one handler posted to it: a strand given a
// burst of separately posted handlers runs the first one alone and the rest only after all
// else already queued on the io_context, so the replies of a batch of actions committed
// together would leave in two writes.

#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
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
        waiter first;
        std::vector<waiter> more;
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
        waiter first;
        std::vector<waiter> more;
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
    void on_ready(unique_function<void()> fn) { add_waiter(waiter{{}, std::move(fn)}); }

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
            // The awaiting coroutine's executor; the handler is called there, by what
            // run_waiters() posts.
            asio::any_io_executor ex = asio::get_associated_executor(handler);
            self->add_waiter(waiter{std::move(ex), [h = std::move(handler)]() mutable { h(); }});
        }
    };

    /// A callback: `executor` empty, run inline by the thread that sets the result; or a
    /// suspended coroutine's handler, to be called on `executor`.
    struct waiter {
        asio::any_io_executor executor;
        unique_function<void()> fn;
    };

    void add_waiter(waiter w) {
        {
            std::lock_guard lock(mutex_);
            if (!done_) {
                // The first waiter (usually the only one) is kept without a vector.
                if (!first_waiter_.fn) {
                    first_waiter_ = std::move(w);
                } else {
                    more_waiters_.push_back(std::move(w));
                }
                return;
            }
        }
        if (!w.executor) {
            w.fn();
            return;
        }
        asio::post(w.executor, std::move(w.fn));
    }

    mutable std::mutex mutex_;
    bool done_ = false;
    std::optional<stored> value_;
    std::exception_ptr error_;
    waiter first_waiter_;
    std::vector<waiter> more_waiters_;

    // In the order they registered; the waiters of one executor share a posted handler, which
    // resumes them in their order (no order holds between different executors anyway).
    static void run_waiters(waiter& first, std::vector<waiter>& more) {
        const std::size_t offset = first.fn ? 1 : 0;
        const std::size_t n = offset + more.size();
        auto at = [&](std::size_t i) -> waiter& { return i < offset ? first : more[i - offset]; };
        for (std::size_t i = 0; i < n; ++i) {
            waiter& w = at(i);
            if (!w.fn) continue;  // taken into an earlier waiter's group
            if (!w.executor) {
                w.fn();
                continue;
            }
            std::vector<unique_function<void()>> group;
            for (std::size_t k = i + 1; k < n; ++k) {
                waiter& other = at(k);
                if (other.fn && other.executor && other.executor == w.executor) group.push_back(std::move(other.fn));
            }
            if (group.empty()) {
                asio::post(w.executor, std::move(w.fn));
                continue;
            }
            group.insert(group.begin(), std::move(w.fn));
            asio::post(w.executor, [group = std::move(group)]() mutable {
                // A resumed coroutine that finishes may run a completion handler that throws
                // (out of io_context::run(), as from a handler of its own): the others in the
                // group still resume first.
                std::exception_ptr first_error;
                for (auto& fn : group) {
                    try {
                        fn();
                    } catch (...) {
                        if (!first_error) first_error = std::current_exception();
                    }
                }
                if (first_error) std::rethrow_exception(first_error);
            });
        }
    }
};

}  // namespace rivetkit::detail
