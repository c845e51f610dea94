#pragma once
// The registry: named actor definitions, a driver, and the io threads that run them.
//
//   auto reg = rivetkit::setup({{"counter", counter}});
//   reg.start();
//   auto client = reg.client();
//   auto h = client.get_or_create(counter, "counter", {"my-key"});
//   std::int64_t n = h.call<"increment">(5);

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rivetkit/actor.hpp"
#include "rivetkit/client.hpp"
#include "rivetkit/detail/registry_core.hpp"
#include "rivetkit/driver.hpp"
#include "rivetkit/options.hpp"

namespace rivetkit {

/// One named definition of a registry.
struct registration {
    std::string name;
    std::shared_ptr<const detail::definition_base> definition;

    template <class Types, class... Actions>
    registration(std::string n, const actor_definition<Types, Actions...>& def)
        : name(std::move(n)), definition(def.erase()) {}
};

struct registry_config {
    /// The driver; default: the memory driver (the file-system driver becomes the default once
    /// it is available).
    std::optional<driver_factory> driver{};
    /// io threads; 0 means one per hardware thread.
    std::size_t threads = 0;
    /// The clock every timer uses; default: the system clock.
    std::shared_ptr<rivetkit::clock> clock{};
    durability durability_mode = durability::durable;
};

class registry {
public:
    registry(std::vector<registration> actors, registry_config config = {});
    ~registry();
    registry(registry&&) noexcept;
    registry& operator=(registry&&) noexcept;

    /// Starts the io threads; returns at once.
    void start();
    /// Stops all actors (as for sleep: state saved, connections closed) and the io threads.
    void stop();
    /// A client for this registry's actors, in process (no sockets).
    [[nodiscard]] rivetkit::client client();
    [[nodiscard]] registry_core& core() noexcept { return *core_; }

private:
    std::unique_ptr<registry_core> core_;
};

/// Builds a registry from named definitions.
[[nodiscard]] registry setup(std::vector<registration> actors, registry_config config = {});

}  // namespace rivetkit
