// rivetkit::http_server: the public face of net::http_server.

#include <utility>

#include "net/http_server.hpp"
#include "rivetkit/http_server.hpp"

namespace rivetkit {

namespace {

class function_handler final : public net::server_handler {
public:
    function_handler(http_server::request_handler on_request, http_server::upgrade_handler on_upgrade)
        : on_request_(std::move(on_request)), on_upgrade_(std::move(on_upgrade)) {}

    task<net::reply> handle(http_request request) override {
        net::reply out;
        auto answering = on_request_(std::move(request));
        out.response = co_await std::move(answering);
        co_return out;
    }

    task<net::upgrade_reply> upgrade(http_request request) override {
        if (!on_upgrade_) {
            net::upgrade_reply refused;
            refused.reject = http_response::text("Not Found\n", 404);
            co_return refused;
        }
        auto deciding = on_upgrade_(std::move(request));
        co_return co_await std::move(deciding);
    }

private:
    http_server::request_handler on_request_;
    http_server::upgrade_handler on_upgrade_;
};

}  // namespace

struct http_server::impl {
    impl(asio::any_io_executor ex, std::shared_ptr<net::server_handler> h, net::http_server_options o)
        : server(std::move(ex), std::move(h), std::move(o), logger("http_server")) {}
    net::http_server server;
};

http_server::http_server(asio::any_io_executor executor, request_handler on_request, upgrade_handler on_upgrade,
                         http_server_options options) {
    net::http_server_options o;
    o.host = std::move(options.host);
    o.port = options.port;
    o.max_header_bytes = options.max_header_bytes;
    o.max_body_bytes = options.max_body_bytes;
    auto handler = std::make_shared<function_handler>(std::move(on_request), std::move(on_upgrade));
    impl_ = std::make_unique<impl>(std::move(executor), std::move(handler), std::move(o));
}

http_server::~http_server() = default;

std::uint16_t http_server::listen() { return impl_->server.listen(); }
void http_server::close() { impl_->server.close(); }

}  // namespace rivetkit
