#include "rivetkit/drivers/file_system.hpp"

#include "data_dir.hpp"
#include "rivetkit/detail/registry_core.hpp"
#include "rivetkit/local_host.hpp"
#include "rivetkit/registry.hpp"
#include "sqlite_store.hpp"

namespace rivetkit::drivers {

driver_factory file_system(file_system_options options) {
    return {"file-system", [options = std::move(options)](const driver_env& env) {
                auto mode = env.registry != nullptr ? env.registry->settings().durability_mode : durability::durable;
                auto store = std::make_shared<fs::sqlite_store>(fs::resolve_data_path(options.path), mode);
                auto host = std::make_shared<local_host>(env, std::move(store));
                return driver_pair{host, host};
            }};
}

// Declared in rivetkit/registry.hpp: what a registry without a configured driver uses.
driver_factory default_driver() { return file_system(); }

std::filesystem::path file_system_data_path(const file_system_options& options) {
    return fs::resolve_data_path(options.path);
}

std::optional<file_system_stats> file_system_statistics(registry_core& registry) {
    auto* host = dynamic_cast<local_host*>(&registry.manager());
    if (host == nullptr) return std::nullopt;
    auto* store = dynamic_cast<fs::sqlite_store*>(&host->store());
    if (store == nullptr) return std::nullopt;
    return store->stats();
}

}  // namespace rivetkit::drivers
