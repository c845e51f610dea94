#include "rivetkit/clock.hpp"

#include <atomic>
#include <map>
#include <mutex>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace rivetkit {

namespace {

class system_timer final : public timer, public std::enable_shared_from_this<system_timer> {
public:
    explicit system_timer(asio::any_io_executor ex) : ex_(ex), timer_(ex) {}

    void start(milliseconds delay, detail::unique_function<void()> fn) {
        timer_.expires_after(std::max(delay, milliseconds(0)));
        timer_.async_wait([self = shared_from_this(), fn = std::move(fn)](std::error_code ec) mutable {
            if (!ec && !self->cancelled_.load(std::memory_order_acquire)) fn();
        });
    }

    void cancel() noexcept override {
        if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
        // steady_timer is not thread-safe: cancel on its own executor. The flag already
        // guarantees the callback will not start.
        try {
            asio::post(ex_, [self = shared_from_this()] { self->timer_.cancel(); });
        } catch (...) {
        }
    }

private:
    asio::any_io_executor ex_;
    asio::steady_timer timer_;
    std::atomic<bool> cancelled_{false};
};

class system_clock_impl final : public clock {
public:
    std::int64_t now_ms() const override {
        return std::chrono::duration_cast<milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
    std::shared_ptr<timer> start_timer(milliseconds delay, asio::any_io_executor ex,
                                       detail::unique_function<void()> fn) override {
        auto t = std::make_shared<system_timer>(ex);
        t->start(delay, std::move(fn));
        return t;
    }
};

}  // namespace

std::shared_ptr<clock> make_system_clock() { return std::make_shared<system_clock_impl>(); }

// ---- virtual clock ----

struct virtual_clock::impl {
    struct entry {
        asio::any_io_executor ex;
        detail::unique_function<void()> fn;
    };
    struct vtimer final : timer {
        std::weak_ptr<impl> owner;
        std::pair<std::int64_t, std::uint64_t> slot;
        void cancel() noexcept override {
            if (auto o = owner.lock()) {
                std::lock_guard lock(o->mutex);
                o->timers.erase(slot);
            }
        }
    };

    mutable std::mutex mutex;
    std::int64_t now;
    std::uint64_t seq = 0;
    std::map<std::pair<std::int64_t, std::uint64_t>, entry> timers;
    std::function<void()> settle;
};

virtual_clock::virtual_clock(std::int64_t start_ms) : impl_(std::make_shared<impl>()) {
    impl_->now = start_ms;
}

virtual_clock::~virtual_clock() = default;

std::int64_t virtual_clock::now_ms() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->now;
}

std::shared_ptr<timer> virtual_clock::start_timer(milliseconds delay, asio::any_io_executor ex,
                                                  detail::unique_function<void()> fn) {
    auto t = std::make_shared<impl::vtimer>();
    t->owner = impl_;
    std::lock_guard lock(impl_->mutex);
    t->slot = {impl_->now + std::max<std::int64_t>(delay.count(), 0), impl_->seq++};
    impl_->timers.emplace(t->slot, impl::entry{std::move(ex), std::move(fn)});
    return t;
}

std::size_t virtual_clock::advance(milliseconds d) {
    std::int64_t target;
    {
        std::lock_guard lock(impl_->mutex);
        target = impl_->now + d.count();
    }
    std::size_t fired = 0;
    for (;;) {
        impl::entry e;
        {
            std::lock_guard lock(impl_->mutex);
            auto it = impl_->timers.begin();
            if (it == impl_->timers.end() || it->first.first > target) break;
            impl_->now = std::max(impl_->now, it->first.first);
            e = std::move(it->second);
            impl_->timers.erase(it);
        }
        ++fired;
        asio::post(e.ex, std::move(e.fn));
        if (impl_->settle) impl_->settle();
    }
    {
        std::lock_guard lock(impl_->mutex);
        impl_->now = std::max(impl_->now, target);
    }
    if (impl_->settle) impl_->settle();
    return fired;
}

bool virtual_clock::advance_to_next() {
    std::int64_t delta;
    {
        std::lock_guard lock(impl_->mutex);
        if (impl_->timers.empty()) return false;
        delta = std::max<std::int64_t>(0, impl_->timers.begin()->first.first - impl_->now);
    }
    return advance(milliseconds(delta)) > 0;
}

std::size_t virtual_clock::pending() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->timers.size();
}

void virtual_clock::set_settle(std::function<void()> settle) { impl_->settle = std::move(settle); }

namespace {
// Trivially destructible: GCC 12 destroys temporaries inside a co_await expression twice.
struct sleep_initiation {
    clock* c;
    const asio::any_io_executor* ex;
    milliseconds d;
    template <class Handler>
    void operator()(Handler handler) const {
        c->start_timer(d, *ex, [h = std::move(handler)]() mutable { std::move(h)(); });
    }
};
}  // namespace

task<void> sleep_for(clock& c, milliseconds d) {
    auto ex = co_await asio::this_coro::executor;
    co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(sleep_initiation{&c, &ex, d},
                                                                         asio::use_awaitable);
}

}  // namespace rivetkit
