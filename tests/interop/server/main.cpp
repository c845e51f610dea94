// The server the interop tests drive with the official JavaScript clients: a registry served
// with registry.serve() on the default driver, hosting the actors the tests need.
//
// Environment: PORT and HOST (as every RivetKit server), RIVETKIT_DATA_PATH (file-system data).
// Prints "listening on <port>" once it accepts connections; stops on SIGINT/SIGTERM.

#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <rivetkit/rivetkit.hpp>

namespace interop {

/// Connection params as the tests check them: a string param as it is, an object's "token".
inline std::string to_string_param(const rivetkit::value& v) {
    if (v.is_string()) return v.as_string();
    if (const auto* t = v.as_object().find("token"); t && t->is_string()) return t->as_string();
    return {};
}

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

inline const auto counter = rivetkit::actor<counter_state, rivetkit::value, rivetkit::value, rivetkit::value,
                                            rivetkit::value>()
    .action<"increment">([](auto& c, std::int64_t by) {
        c.state().count += by;
        c.broadcast("newCount", c.state().count);
        return c.state().count;
    })
    .action<"getCount">([](auto& c) { return std::as_const(c).state().count; })
    .action<"echo">([](auto&, rivetkit::value v) { return v; })
    .action<"echoArgs">([](auto&, rivetkit::value a, rivetkit::value b) { return rivetkit::array{a, b}; })
    .action<"noop">([](auto&) {})
    .action<"getParams">([](auto& c) { return c.conn().raw_params(); })
    .action<"getInput">([](auto& c) { return c.input(); })
    .action<"sized">([](auto&, std::int64_t n) { return std::string(static_cast<std::size_t>(n), 'x'); })
    .action<"throwUser">([](auto&) -> std::int64_t {
        throw rivetkit::user_error("bad thing", "my_code", rivetkit::object{{"a", std::int64_t{1}}});
    })
    .action<"throwInternal">([](auto&) -> std::int64_t { throw std::runtime_error("secret detail"); })
    .action<"emit">([](auto& c, std::string name, rivetkit::value payload) { c.broadcast(name, payload); })
    .on_before_connect([](auto&, const rivetkit::value& params) {
        if (params.is_object()) {
            const auto& o = params.as_object();
            if (auto* reject = o.find("reject"); reject && reject->is_bool() && reject->as_bool()) {
                throw rivetkit::user_error("not allowed", "forbidden");
            }
        }
    })
    .on_request([](auto& c, const rivetkit::http_request& req) {
        nlohmann::json o;
        o["method"] = req.method;
        o["path"] = req.path;
        o["query"] = req.query;
        o["body"] = req.body;
        const std::string* h = req.header("x-test");
        o["xTest"] = h ? nlohmann::json(*h) : nlohmann::json(nullptr);
        const auto& params = c.conn().raw_params();
        o["params"] = params.is_object() || params.is_string() ? nlohmann::json(to_string_param(params)) : nlohmann::json(nullptr);
        auto res = rivetkit::http_response::json(o.dump());
        res.headers.emplace_back("x-actor", "counter");
        return res;
    })
    .on_websocket([](auto& c, std::shared_ptr<rivetkit::websocket> ws) {
        // "path" asks for the path and query the actor saw; anything else is echoed.
        std::string seen = c.request() ? c.request()->path : std::string();
        if (c.request() && !c.request()->query.empty()) seen += "?" + c.request()->query;
        ws->on_message([ws, seen](const rivetkit::websocket_message& m) {
            if (m.binary) {
                ws->send_binary(std::span(reinterpret_cast<const std::uint8_t*>(m.data.data()), m.data.size()));
            } else if (m.data == "path") {
                ws->send("path:" + seen);
            } else {
                ws->send("echo:" + m.data);
            }
        });
    });

}  // namespace interop

int main() {
    try {
        auto registry = rivetkit::setup({{"counter", interop::counter}});
        rivetkit::server_options options;
        options.handle_signals = true;
        options.on_listening = [](std::uint16_t port) { std::cout << "listening on " << port << std::endl; };
        registry.serve(options);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "interop server: " << e.what() << "\n";
        return 1;
    }
}
