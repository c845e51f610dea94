#include "rivetkit/testing.hpp"

#include "rivetkit/drivers/memory.hpp"
#include "rivetkit/local_host.hpp"

namespace rivetkit::testing {

namespace {
std::unique_ptr<registry_core> make_core(std::vector<registration>& actors, const std::shared_ptr<virtual_clock>& clock,
                                         const test_options& options) {
    std::vector<std::pair<std::string, std::shared_ptr<const detail::definition_base>>> defs;
    for (auto& a : actors) defs.emplace_back(std::move(a.name), std::move(a.definition));
    registry_core::config cfg;
    cfg.threads = 1;
    cfg.clock = clock;
    cfg.durability_mode = options.durability_mode;
    cfg.caller_driven = true;
    return std::make_unique<registry_core>(std::move(defs), options.driver.value_or(drivers::memory()), std::move(cfg));
}
}  // namespace

test_registry::test_registry(std::vector<registration> actors, test_options options)
    : clock_(std::make_shared<virtual_clock>(options.start_ms)),
      core_(make_core(actors, clock_, options)),
      client_(*core_->shared_client()) {
    core_->start();
    clock_->set_settle([core = core_.get()] { core->settle(); });
}

test_registry::~test_registry() {
    // Shutting down runs on_sleep hooks and waits for wait_until work, which may wait on
    // timers: let virtual time pass as far as that takes.
    core_->set_idle_hook([clock = clock_] { return clock->advance_to_next(); });
    core_->stop();
    clock_->set_settle(nullptr);
}

void test_registry::advance(milliseconds d) { clock_->advance(d); }

void test_registry::settle() { core_->settle(); }

std::size_t test_registry::awake_count() const {
    auto* host = dynamic_cast<local_host*>(&core_->manager());
    return host ? host->running_count() : 0;
}

}  // namespace rivetkit::testing
