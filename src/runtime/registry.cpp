#include "rivetkit/registry.hpp"

#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>

#include "client/inprocess_transport.hpp"
#include "rivetkit/detail/instance.hpp"
#include "rivetkit/detail/sleep_queue.hpp"
#include "rivetkit/detail/thread_name.hpp"
#include "rivetkit/error.hpp"

namespace rivetkit {

namespace {
thread_local int io_thread_depth = 0;

struct io_thread_scope {
    io_thread_scope() { ++io_thread_depth; }
    ~io_thread_scope() { --io_thread_depth; }
    io_thread_scope(const io_thread_scope&) = delete;
    io_thread_scope& operator=(const io_thread_scope&) = delete;
};
}  // namespace

bool on_io_thread() noexcept { return io_thread_depth > 0; }

registry_core::registry_core(std::vector<std::pair<std::string, std::shared_ptr<const detail::definition_base>>> defs,
                             driver_factory driver, config cfg)
    // One thread runs each io_context unless they share one; Asio then queues handlers posted
    // from that thread without its lock.
    : cfg_(std::move(cfg)),
      io_(cfg_.shared_context && !cfg_.caller_driven ? ASIO_CONCURRENCY_HINT_DEFAULT : 1),
      log_("registry") {
    if (!cfg_.clock) cfg_.clock = make_system_clock();
    if (cfg_.threads == 0) cfg_.threads = std::max(1u, std::thread::hardware_concurrency());
    if (!cfg_.shared_context && !cfg_.caller_driven) {
        for (std::size_t i = 1; i < cfg_.threads; ++i) {
            more_io_.push_back(std::make_unique<context>(1));
            // Opens the context's reactor (its descriptors) now rather than under the first
            // connection or timer that lands on it.
            asio::steady_timer open_reactor(*more_io_.back());
        }
    }
    sleeps_ = std::make_unique<detail::sleep_queue>(cfg_.clock, io_.get_executor());
    for (auto& [name, def] : defs) {
        if (name.empty()) throw std::invalid_argument("rivetkit: an actor name must not be empty");
        if (!def) throw std::invalid_argument("rivetkit: actor '" + name + "' has no definition");
        if (!defs_.emplace(name, def).second) {
            throw std::invalid_argument("rivetkit: actor name '" + name + "' is registered twice");
        }
        names_.push_back(name);
    }
    if (!driver.make) {
        throw std::invalid_argument(
            "rivetkit: no driver configured; set registry_config::driver (e.g. rivetkit::drivers::memory())");
    }
    driver_name_ = driver.name;
    drivers_ = driver.make(driver_env{io_.get_executor(), cfg_.clock, this});
    if (!drivers_.manager || !drivers_.actor) {
        throw std::invalid_argument("rivetkit: driver '" + driver_name_ + "' returned no implementation");
    }
}

registry_core::~registry_core() {
    try {
        stop();
    } catch (const std::exception& e) {
        log_.error("stopping the registry failed", {{"error", e.what()}});
    }
    client_.reset();
    drivers_ = {};
    sleeps_->shutdown();  // its timer goes while io_ is still there
    // Every context's pending handlers go before any context's services: a dropped handler may
    // hold the last reference to an actor whose strand lives on another context. (The work
    // guards first: stop() clears them, unless it threw.)
    work_.clear();
    io_.shutdown();
    for (auto& c : more_io_) c->shutdown();
    for (auto& c : more_io_) c->destroy();
    io_.destroy();
}

asio::io_context& registry_core::context_for(std::string_view actor_id) noexcept {
    if (more_io_.empty()) return io_;
    // FNV-1a: stable across runs and sleeps, so an actor wakes on the thread it slept on.
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char ch : actor_id) h = (h ^ ch) * 1099511628211ull;
    return context_at(static_cast<std::size_t>(h % context_count()));
}

const detail::definition_base* registry_core::find_definition(std::string_view name) const noexcept {
    auto it = defs_.find(std::string(name));
    return it == defs_.end() ? nullptr : it->second.get();
}

std::vector<std::string> registry_core::actor_names() const { return names_; }

std::shared_ptr<actor_instance> registry_core::make_instance(const actor_record& record) {
    auto it = defs_.find(record.name);
    if (it == defs_.end()) {
        throw errors::internal(fmt::format("actor {} has name '{}', which this registry does not define",
                                           record.actor_id, record.name));
    }
    actor_instance::init in;
    in.actor_id = record.actor_id;
    in.name = record.name;
    in.key = record.key;
    in.region = cfg_.default_region;
    in.definition = it->second;
    in.driver = drivers_.actor.get();
    in.clock = cfg_.clock;
    in.io = &context_for(record.actor_id);
    in.registry = this;
    in.durability_mode = cfg_.durability_mode;
    return std::make_shared<actor_instance>(std::move(in));
}

std::shared_ptr<rivetkit::client> registry_core::shared_client() {
    std::lock_guard lock(client_mutex_);
    if (!client_) client_ = manager().make_client();
    if (!client_) client_ = std::make_shared<rivetkit::client>(std::make_shared<detail::inprocess_transport>(*this));
    return client_;
}

void registry_core::start() {
    if (started_) return;
    started_ = true;
    asio::co_spawn(io_, manager().start(), [this](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log_.error("starting the driver failed", {{"error", ex.what()}});
        }
    });
    if (cfg_.caller_driven) return;
    work_.emplace_back(io_.get_executor());
    for (auto& c : more_io_) work_.emplace_back(c->get_executor());
    for (std::size_t i = 0; i < cfg_.threads; ++i) {
        // Thread i runs context i, or all run the shared one.
        asio::io_context* ctx = &context_at(more_io_.empty() ? 0 : i);
        threads_.emplace_back([this, i, ctx] {
            detail::name_this_thread(fmt::format("rivetkit-io-{}", i).c_str());
            io_thread_scope scope;
            for (;;) {
                try {
                    ctx->run();
                    break;
                } catch (const std::exception& e) {
                    // A handler threw past every catch: log it and keep serving.
                    log_.error("unhandled exception on an io thread", {{"error", e.what()}});
                }
            }
        });
    }
}

void registry_core::stop() {
    if (stopped_) return;
    if (on_io_thread() && !cfg_.caller_driven) {
        throw blocking_call_error("rivetkit: registry::stop() called from one of its own io threads");
    }
    stopped_ = true;
    std::vector<std::function<void()>> hooks;
    {
        std::lock_guard lock(stop_mutex_);
        hooks.swap(stop_hooks_);
    }
    for (auto& hook : hooks) {
        try {
            hook();
        } catch (const std::exception& e) {
            log_.error("a stop hook failed", {{"error", e.what()}});
        }
    }
    if (started_ || cfg_.caller_driven) {
        try {
            if (cfg_.caller_driven || !threads_.empty()) block_on(manager().shutdown());
            // Let work that shutdown posted (close notifications, last deliveries) run.
            if (cfg_.caller_driven) settle();
        } catch (const std::exception& e) {
            log_.error("shutting the driver down failed", {{"error", e.what()}});
        }
    }
    work_.clear();
    io_.stop();
    for (auto& c : more_io_) c->stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    {
        std::lock_guard lock(stop_mutex_);
        stop_finished_ = true;
    }
    stop_cv_.notify_all();
}

void registry_core::add_stop_hook(std::function<void()> hook) {
    std::lock_guard lock(stop_mutex_);
    stop_hooks_.push_back(std::move(hook));
}

void registry_core::wait_stopped() {
    std::unique_lock lock(stop_mutex_);
    stop_cv_.wait(lock, [this] { return stop_finished_; });
}

void registry_core::check_blocking_allowed() const {
    if (on_io_thread()) {
        throw blocking_call_error(
            "rivetkit: blocking call on an io thread or inside a callback would deadlock; use the async_* form "
            "with co_await");
    }
    if (!cfg_.caller_driven && !started_) {
        throw blocking_call_error("rivetkit: the registry is not started; call start() first");
    }
}

void registry_core::pump_until(const std::function<bool()>& pred) {
    io_thread_scope scope;
    while (!pred()) {
        if (io_.stopped()) io_.restart();
        if (io_.poll_one() == 0) {
            if (idle_hook_ && idle_hook_()) continue;
            throw blocking_call_error(
                "rivetkit::testing: the awaited operation cannot complete: no work is ready (advance the "
                "virtual clock?)");
        }
    }
}

void registry_core::settle() {
    io_thread_scope scope;
    if (io_.stopped()) io_.restart();
    while (io_.poll_one() > 0) {
    }
}

// ---- registry ------------------------------------------------------------------------------

namespace {
std::vector<std::pair<std::string, std::shared_ptr<const detail::definition_base>>> to_defs(
    std::vector<registration>& actors) {
    std::vector<std::pair<std::string, std::shared_ptr<const detail::definition_base>>> out;
    out.reserve(actors.size());
    for (auto& a : actors) out.emplace_back(std::move(a.name), std::move(a.definition));
    return out;
}
}  // namespace

registry::registry(std::vector<registration> actors, registry_config config, driver_chosen) {
    registry_core::config cfg;
    cfg.threads = config.threads;
    cfg.shared_context = config.contexts == io_contexts::shared;
    cfg.clock = std::move(config.clock);
    cfg.durability_mode = config.durability_mode;
    core_ = std::make_unique<registry_core>(to_defs(actors), config.driver.value_or(driver_factory{}), std::move(cfg));
}

registry::~registry() = default;
registry::registry(registry&&) noexcept = default;
registry& registry::operator=(registry&&) noexcept = default;

void registry::start() { core_->start(); }
void registry::stop() { core_->stop(); }

void registry::start_runner() {
    if (core_->driver_name() != "engine") {
        throw std::logic_error("rivetkit: start_runner() needs the engine driver (registry_config::driver = "
                               "rivetkit::drivers::engine()); this registry uses '" +
                               core_->driver_name() + "'");
    }
    if (core_->manager().serverless() != nullptr) {
        throw std::logic_error("rivetkit: this engine driver is serverless (engine_options::kind, RIVET_RUNNER_KIND): "
                               "the engine starts its runners through GET /start; serve it with registry.serve() "
                               "or registry.listen()");
    }
    core_->start();
}
rivetkit::client registry::client() { return *core_->shared_client(); }

}  // namespace rivetkit
