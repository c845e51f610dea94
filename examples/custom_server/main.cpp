// Mounting a registry in your own HTTP server: registry.handler() under /api/rivet, next to the
// program's own routes, on rivetkit::http_server (any server that can hand over requests and
// WebSocket upgrades works the same way).
//
//   custom_server          runs a short session against itself with plain HTTP requests
//   custom_server --serve  keeps serving on $PORT (default 8080) until Ctrl-C

#include <csignal>
#include <cstdlib>
#include <cstdint>
#include <future>
#include <iostream>
#include <string>
#include <string_view>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/signal_set.hpp>
#include <asio/write.hpp>

#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/http_server.hpp>
#include <rivetkit/rivetkit.hpp>

namespace app {

struct hits_state {
    std::int64_t hits = 0;
};
RIVETKIT_FIELDS(hits_state, hits)

inline const auto page = rivetkit::actor<hits_state>()
    .action<"hit">([](auto& c) { return ++c.state().hits; });

/// The program's own routes; everything under /api/rivet belongs to the registry.
rivetkit::task<rivetkit::http_response> route(rivetkit::handler api, rivetkit::http_request req) {
    if (req.path == "/api/rivet" || req.path.starts_with("/api/rivet/")) {
        auto answering = api.handle(std::move(req));
        co_return co_await std::move(answering);
    }
    if (req.path == "/") co_return rivetkit::http_response::text("Welcome to my app. RivetKit lives under /api/rivet.\n");
    if (req.path == "/version") co_return rivetkit::http_response::json(R"({"app":"custom_server","version":1})");
    co_return rivetkit::http_response::text("no such page\n", 404);
}

/// A minimal blocking HTTP/1.1 client for the self-run session (Connection: close).
std::string request(std::uint16_t port, std::string_view method, std::string_view path, std::string_view body = {}) {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    std::string req = std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n" +
                      "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
    asio::write(socket, asio::buffer(req));
    std::string response;
    asio::error_code ec;
    asio::read(socket, asio::dynamic_buffer(response), ec);  // until the server closes
    auto status_end = response.find("\r\n");
    auto body_start = response.find("\r\n\r\n");
    return response.substr(0, status_end) + "  " + (body_start == std::string::npos ? "" : response.substr(body_start + 4));
}

}  // namespace app

/// PORT from the environment, as every RivetKit server honours it.
std::uint16_t port_from_environment(std::uint16_t fallback) {
    const char* p = std::getenv("PORT");
    if (!p || !*p) return fallback;
    const long v = std::strtol(p, nullptr, 10);
    return v > 0 && v < 65536 ? static_cast<std::uint16_t>(v) : fallback;
}

int main(int argc, char** argv) {
    const bool serve = argc > 1 && std::string_view(argv[1]) == "--serve";
    auto registry = rivetkit::setup({{"page", app::page}}, {.driver = rivetkit::drivers::memory()});
    registry.start();

    auto api = registry.handler({.base_path = "/api/rivet"});
    rivetkit::http_server server(
        registry.executor(), [api](rivetkit::http_request req) { return app::route(api, std::move(req)); },
        [api](rivetkit::http_request req) { return api.upgrade(std::move(req)); },
        {.host = "127.0.0.1", .port = serve ? port_from_environment(8080) : std::uint16_t{0}});
    const std::uint16_t port = server.listen();
    std::cout << "serving on http://127.0.0.1:" << port << " (RivetKit under /api/rivet)\n";

    if (serve) {
        std::cout << "try: curl http://127.0.0.1:" << port << "/api/rivet/metadata" << std::endl;
        // Serve until Ctrl-C (the program's own signal handling; the library installs none).
        std::promise<void> interrupted;
        asio::signal_set signals(registry.executor(), SIGINT, SIGTERM);
        signals.async_wait([&](const asio::error_code&, int) { interrupted.set_value(); });
        interrupted.get_future().wait();
        server.close();
        registry.stop();
        return 0;
    }

    std::cout << "GET /                 -> " << app::request(port, "GET", "/");
    std::cout << "GET /version          -> " << app::request(port, "GET", "/version") << "\n";
    std::cout << "GET /api/rivet/health -> " << app::request(port, "GET", "/api/rivet/health") << "\n";
    auto created = app::request(port, "PUT", "/api/rivet/actors",
                                R"({"name":"page","key":"home","runner_name_selector":"default","crash_policy":"sleep"})");
    std::cout << "PUT /api/rivet/actors -> " << created << "\n";
    auto id_at = created.find("\"actor_id\":\"");
    if (id_at == std::string::npos) return 1;
    std::string id = created.substr(id_at + 12, 16);
    for (int i = 0; i < 2; ++i) {
        std::cout << "POST /api/rivet/gateway/" << id << "/action/hit -> "
                  << app::request(port, "POST", "/api/rivet/gateway/" + id + "/action/hit", R"({"args":[]})") << "\n";
    }
    server.close();
    registry.stop();
    return 0;
}
