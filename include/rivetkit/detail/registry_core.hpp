#pragma once
// The registry's shared runtime state, seen by drivers and transports. Not public API.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include "rivetkit/clock.hpp"
#include "rivetkit/detail/oneshot.hpp"
#include "rivetkit/driver.hpp"
#include "rivetkit/log.hpp"
#include "rivetkit/options.hpp"
#include "rivetkit/task.hpp"

namespace rivetkit {

namespace detail {
struct definition_base;
class sleep_queue;
}

class client;

/// Thrown by blocking calls made where they would deadlock (on an io thread, or inside a
/// callback run by the test harness). Use the async_* form with co_await instead.
class blocking_call_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

class registry_core {
public:
    struct config {
        std::size_t threads = 0;  // 0: hardware concurrency
        /// One io_context per io thread (actors placed by id), or one shared by all threads.
        bool shared_context = false;
        std::shared_ptr<rivetkit::clock> clock;
        durability durability_mode = durability::durable;
        std::string default_region = "unknown";
        /// The test harness drives the io_context from the calling thread instead of threads.
        bool caller_driven = false;
    };

    registry_core(std::vector<std::pair<std::string, std::shared_ptr<const detail::definition_base>>> defs,
                  driver_factory driver, config cfg);
    ~registry_core();
    registry_core(const registry_core&) = delete;
    registry_core& operator=(const registry_core&) = delete;

    [[nodiscard]] const detail::definition_base* find_definition(std::string_view name) const noexcept;
    [[nodiscard]] std::vector<std::string> actor_names() const;
    /// The first io_context: the driver's, the server's, block_on's (the only one in shared
    /// and caller-driven modes).
    [[nodiscard]] asio::io_context& io() noexcept { return io_; }
    [[nodiscard]] asio::any_io_executor executor() noexcept { return io_.get_executor(); }
    /// How many io_contexts there are: one per io thread, or one in shared and caller-driven modes.
    [[nodiscard]] std::size_t context_count() const noexcept { return 1 + more_io_.size(); }
    /// The io_context an actor runs on, the same for its whole life (chosen from its id).
    [[nodiscard]] asio::io_context& context_for(std::string_view actor_id) noexcept;
    /// The i-th io_context (i < context_count(); 0 is io()).
    [[nodiscard]] asio::io_context& context_at(std::size_t i) noexcept { return i == 0 ? io_ : *more_io_[i - 1]; }
    [[nodiscard]] const std::shared_ptr<rivetkit::clock>& clock() const noexcept { return cfg_.clock; }
    [[nodiscard]] const config& settings() const noexcept { return cfg_; }
    [[nodiscard]] manager_driver& manager() { return *drivers_.manager; }
    [[nodiscard]] actor_driver& actor_host() { return *drivers_.actor; }
    [[nodiscard]] const std::string& driver_name() const noexcept { return driver_name_; }
    [[nodiscard]] const logger& log() const noexcept { return log_; }
    /// The idle-sleep checks of this registry's instances (one timer for all of them).
    [[nodiscard]] detail::sleep_queue& sleeps() noexcept { return *sleeps_; }

    /// Creates an instance for a stored actor (the definition is looked up by name).
    [[nodiscard]] std::shared_ptr<actor_instance> make_instance(const actor_record& record);

    /// The in-process client bound to this registry (also `c.client()` inside actors).
    [[nodiscard]] std::shared_ptr<rivetkit::client> shared_client();

    /// Starts the io threads (not in caller-driven mode).
    void start();
    /// Stops every actor as for sleep, then the io threads. Idempotent.
    void stop();
    [[nodiscard]] bool running() const noexcept { return started_ && !stopped_; }

    /// Runs `t` on the io_context and waits for its result from a non-io thread.
    template <class T>
    T block_on(task<T> t) {
        check_blocking_allowed();
        auto result = detail::oneshot<T>::make();
        asio::co_spawn(io_, std::move(t), [result](std::exception_ptr e, auto... v) {
            if (e) {
                result->set_exception(e);
            } else {
                result->set_value(std::move(v)...);
            }
        });
        wait_ready(*result);
        return result->get();
    }

    /// Runs ready handlers until `done` (caller-driven mode) or waits for it (threaded mode).
    template <class T>
    void wait_ready(detail::oneshot<T>& r) {
        if (cfg_.caller_driven) {
            pump_until([&] { return r.ready(); });
        } else {
            std::mutex m;
            std::condition_variable cv;
            bool done = false;
            r.on_ready([&] {
                std::lock_guard lock(m);
                done = true;
                cv.notify_all();
            });
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return done; });
        }
    }

    /// Caller-driven mode: runs handlers until `pred` holds or nothing is left to run.
    void pump_until(const std::function<bool()>& pred);
    /// Caller-driven mode: runs every ready handler.
    void settle();
    /// Caller-driven mode: called when a blocking wait finds no ready work; returns whether it
    /// made some (the test harness lets virtual time pass while shutting down).
    void set_idle_hook(std::function<bool()> hook) { idle_hook_ = std::move(hook); }
    /// Throws blocking_call_error when called from an io thread or a harness callback.
    void check_blocking_allowed() const;

    /// Runs `hook` at the start of stop(), before the actors stop (servers close there).
    void add_stop_hook(std::function<void()> hook);
    /// Blocks until stop() has finished.
    void wait_stopped();

private:
    config cfg_;
    std::unordered_map<std::string, std::shared_ptr<const detail::definition_base>> defs_;
    std::vector<std::string> names_;
    // Before io_, so that it outlives instances that handlers still hold when io_ goes.
    std::unique_ptr<detail::sleep_queue> sleeps_;
    // An io_context whose teardown can be split in two: every context's handlers are dropped
    // (shutdown) before any context's services go (destroy), as a dropped handler may hold an
    // actor whose strand belongs to another context.
    struct context : asio::io_context {
        using asio::io_context::io_context;
        using asio::io_context::destroy;
        using asio::io_context::shutdown;
    };
    context io_;
    // The other threads' io_contexts (one per thread after the first, unless shared).
    std::vector<std::unique_ptr<context>> more_io_;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::vector<std::thread> threads_;
    driver_pair drivers_;
    std::string driver_name_;
    logger log_;
    std::mutex client_mutex_;
    std::shared_ptr<rivetkit::client> client_;
    std::function<bool()> idle_hook_;
    std::mutex stop_mutex_;
    std::condition_variable stop_cv_;
    std::vector<std::function<void()>> stop_hooks_;
    bool stop_finished_ = false;
    bool started_ = false;
    bool stopped_ = false;
};

/// True on a thread currently running a registry's io_context handlers.
[[nodiscard]] bool on_io_thread() noexcept;

}  // namespace rivetkit
