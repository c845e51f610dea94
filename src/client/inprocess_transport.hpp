#pragma once
// The client transport with no sockets: calls go straight to actor instances of a registry.
// Errors are masked exactly as a remote client would see them.

#include <memory>

#include "rivetkit/client.hpp"
#include "rivetkit/detail/registry_core.hpp"

namespace rivetkit::detail {

class inprocess_transport final : public client_transport,
                                  public std::enable_shared_from_this<inprocess_transport> {
public:
    explicit inprocess_transport(registry_core& core) : core_(&core) {}

    task<std::string> resolve(actor_query query) override;
    task<value> action(actor_query query, value params, std::string name, array args) override;
    task<http_response> fetch(actor_query query, value params, http_request request) override;
    std::shared_ptr<client_connection> connect(actor_query query, value params) override;
    task<std::shared_ptr<websocket>> open_websocket(actor_query query, value params, std::string path) override;
    void block(task<void> t) override { core_->block_on(std::move(t)); }
    void dispose() override;

    [[nodiscard]] registry_core& core() const noexcept { return *core_; }

private:
    registry_core* core_;
    std::mutex mutex_;
    std::vector<std::weak_ptr<client_connection>> connections_;
};

/// Rethrows any exception as what a client is allowed to see (public errors as they are,
/// everything else as internal/internal_error).
[[noreturn]] void rethrow_masked(std::exception_ptr e);

}  // namespace rivetkit::detail
