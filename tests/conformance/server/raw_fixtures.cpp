// Raw HTTP and raw WebSocket fixtures: raw-http.ts, raw-http-request-properties.ts and
// raw-websocket.ts of the reference suite.

#include <cctype>
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"

namespace conformance {
namespace {

using json = nlohmann::ordered_json;

// ---- helpers --------------------------------------------------------------------------------

/// JSON text as JSON.stringify writes it; invalid UTF-8 (as JavaScript would decode it) becomes U+FFFD.
std::string to_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

rivetkit::http_response json_response(const json& body, int status = 200) {
    return rivetkit::http_response::json(to_text(body), status);
}

std::span<const std::uint8_t> bytes_of(const std::string& data) {
    return {reinterpret_cast<const std::uint8_t*>(data.data()), data.size()};
}

int hex_digit(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/// Decodes %XX escapes, and '+' as a space when `plus_is_space` (form encoding); a malformed
/// escape stays as it is.
std::string percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

/// Object.fromEntries(url.searchParams): the form-encoded pairs of the query, the last value of a
/// repeated name winning.
json search_params(std::string_view query) {
    json out = json::object();
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        const std::string name = percent_decode(pair.substr(0, eq), true);
        out[name] = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
    }
    return out;
}

/// The headers as Headers.forEach visits them: lower-case names in order, a repeated header's
/// values joined by ", ".
json headers_object(const rivetkit::http_headers& headers) {
    std::map<std::string, std::string> merged;
    for (const auto& [name, value] : headers) {
        std::string lower = name;
        for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        auto [it, inserted] = merged.try_emplace(std::move(lower), value);
        if (!inserted) it->second += ", " + value;
    }
    return json(merged);
}

/// The parts of `new URL(request.url)` the fixtures report.
struct url_parts {
    std::string pathname;
    std::string search;  // "?<query>", or "" without a query
};

url_parts url_of(const rivetkit::http_request& req) {
    return {req.path, req.query.empty() ? std::string() : "?" + req.query};
}

// ---- raw-http.ts ----------------------------------------------------------------------------

struct request_count_state {
    std::int64_t requestCount = 0;
};
RIVETKIT_FIELDS(request_count_state, requestCount)

/// rawHttpActor: counts every request; hello, POST echo (body and headers), state and headers
/// endpoints, 404 otherwise.
const auto raw_http_actor = rivetkit::actor<request_count_state>().on_request(
    [](auto& c, const rivetkit::http_request& req) {
        c.state().requestCount += 1;
        if (req.path == "/api/hello") return json_response({{"message", "Hello from actor!"}});
        if (req.path == "/api/echo" && req.method == "POST") return rivetkit::http_response{200, req.headers, req.body};
        if (req.path == "/api/state") return json_response({{"requestCount", std::as_const(c).state().requestCount}});
        if (req.path == "/api/headers") return json_response(headers_object(req.headers));
        return rivetkit::http_response::text("Not Found", 404);
    });

/// rawHttpNoHandlerActor: no on_request (404 handler/request_not_defined).
const auto raw_http_no_handler_actor = rivetkit::actor();

/// rawHttpVoidReturnActor: the reference's onRequest returns nothing; here it answers no response
/// (std::nullopt), which the runtime turns into 500 handler/invalid_request_handler_response.
const auto raw_http_void_return_actor = rivetkit::actor().on_request(
    [](auto&, const rivetkit::http_request&) -> std::optional<rivetkit::http_response> { return std::nullopt; });

using route_params = std::map<std::string, std::string, std::less<>>;

/// The Hono router of rawHttpHonoActor, reduced to what it uses: routes by method and pattern
/// (":name" segments capture), strict trailing slashes, HEAD served by GET routes, 404
/// "404 Not Found" without a route and 500 "Internal Server Error" when a handler throws.
class mini_router {
public:
    using handler = std::function<rivetkit::http_response(const rivetkit::http_request&, const route_params&)>;

    void add(std::string method, std::string pattern, handler h) {
        routes_.push_back({std::move(method), std::move(pattern), std::move(h)});
    }

    [[nodiscard]] rivetkit::http_response fetch(const rivetkit::http_request& req) const {
        for (const auto& r : routes_) {
            if (r.method != req.method && !(req.method == "HEAD" && r.method == "GET")) continue;
            auto params = match(r.pattern, req.path);
            if (!params) continue;
            try {
                return r.fn(req, *params);
            } catch (const std::exception&) {
                return rivetkit::http_response::text("Internal Server Error", 500);
            }
        }
        return rivetkit::http_response::text("404 Not Found", 404);
    }

private:
    struct route {
        std::string method;
        std::string pattern;
        handler fn;
    };

    static std::vector<std::string_view> segments(std::string_view path) {
        std::vector<std::string_view> out;
        if (!path.empty() && path.front() == '/') path.remove_prefix(1);
        for (;;) {
            const auto slash = path.find('/');
            out.push_back(path.substr(0, slash));
            if (slash == std::string_view::npos) return out;
            path.remove_prefix(slash + 1);
        }
    }

    static std::optional<route_params> match(std::string_view pattern, std::string_view path) {
        const auto want = segments(pattern);
        const auto got = segments(path);
        if (want.size() != got.size()) return std::nullopt;
        route_params params;
        for (std::size_t i = 0; i < want.size(); ++i) {
            if (want[i].starts_with(':') && !got[i].empty()) {
                params.emplace(want[i].substr(1), percent_decode(got[i], false));
            } else if (want[i] != got[i]) {
                return std::nullopt;
            }
        }
        return params;
    }

    std::vector<route> routes_;
};

/// parseInt(s) for a route parameter: its leading decimal integer, NaN (JSON null) without one.
json parse_int(std::string_view s) {
    std::int64_t n = 0;
    if (std::from_chars(s.data(), s.data() + s.size(), n).ec != std::errc{}) return nullptr;
    return n;
}

/// `{...base, ...body}` for a JSON body (c.req.json(), which throws on malformed JSON).
json spread(json base, const std::string& body) {
    const json parsed = json::parse(body);
    if (parsed.is_object()) {
        for (const auto& [key, value] : parsed.items()) base[key] = value;
    }
    return base;
}

/// rawHttpHonoActor: create_vars builds a users router, on_request delegates to it.
const auto raw_http_hono_actor =
    rivetkit::actor<void, void, rivetkit::value, mini_router>()
        .create_vars([](auto&, const rivetkit::value&) {
            mini_router r;
            r.add("GET", "/", [](const auto&, const auto&) {
                return json_response({{"message", "Welcome to Hono actor!"}});
            });
            r.add("GET", "/users", [](const auto&, const auto&) {
                return json_response(json::array({{{"id", 1}, {"name", "Alice"}}, {{"id", 2}, {"name", "Bob"}}}));
            });
            r.add("GET", "/users/:id", [](const auto&, const route_params& p) {
                const std::string& id = p.at("id");
                return json_response({{"id", parse_int(id)}, {"name", id == "1" ? "Alice" : "Bob"}});
            });
            r.add("POST", "/users", [](const rivetkit::http_request& req, const auto&) {
                return json_response(spread({{"id", 3}}, req.body), 201);
            });
            r.add("PUT", "/users/:id", [](const rivetkit::http_request& req, const route_params& p) {
                return json_response(spread({{"id", parse_int(p.at("id"))}}, req.body));
            });
            r.add("DELETE", "/users/:id", [](const auto&, const route_params& p) {
                return json_response({{"message", "User " + p.at("id") + " deleted"}});
            });
            return r;
        })
        .on_request([](auto& c, const rivetkit::http_request& req) { return std::as_const(c).vars().fetch(req); });

// ---- raw-http-request-properties.ts ---------------------------------------------------------

/// Whether the request carried a body at all (JavaScript's `request.body !== null`).
bool has_body(const rivetkit::http_request& req) {
    return !req.body.empty() || req.header("content-length") != nullptr || req.header("transfer-encoding") != nullptr;
}

/// The body as the reference reads it: null without one; parsed JSON for a JSON content type
/// (null when empty or malformed); otherwise the text, null when empty.
json read_body(const rivetkit::http_request& req) {
    if (!has_body(req) || req.body.empty()) return nullptr;
    const std::string* type = req.header("content-type");
    if (type == nullptr || type->find("application/json") == std::string::npos) return req.body;
    json parsed = json::parse(req.body, nullptr, false);
    return parsed.is_discarded() ? json(nullptr) : parsed;
}

/// rawHttpRequestPropertiesActor: HEAD 200 and OPTIONS 204 without a body; any other method gets
/// the request as the actor saw it (URL parts, method, headers, body).
const auto raw_http_request_properties_actor =
    rivetkit::actor().on_request([](auto&, const rivetkit::http_request& req) {
        if (req.method == "HEAD") return rivetkit::http_response{200, {}, {}};
        if (req.method == "OPTIONS") return rivetkit::http_response{204, {}, {}};
        const url_parts url = url_of(req);
        const json body = read_body(req);
        json body_text = nullptr;
        if (body.is_string()) {
            body_text = body;
        } else if (body.is_null() && has_body(req)) {
            body_text = "";
        }
        json out = {{"url", "http://actor" + url.pathname + url.search},
                    {"pathname", url.pathname},
                    {"search", url.search},
                    {"searchParams", search_params(req.query)},
                    {"hash", ""},
                    {"method", req.method},
                    {"headers", headers_object(req.headers)},
                    {"body", body},
                    {"bodyText", body_text},
                    // The Fetch API's defaults for a Request the server builds.
                    {"cache", "default"},
                    {"credentials", "same-origin"},
                    {"mode", "cors"},
                    {"redirect", "follow"},
                    {"referrer", "about:client"}};
        return json_response(out);
    });

// ---- raw-websocket.ts -----------------------------------------------------------------------

struct websocket_stats {
    std::int64_t connectionCount = 0;
    std::int64_t messageCount = 0;
};
RIVETKIT_FIELDS(websocket_stats, connectionCount, messageCount)

/// rawWebSocketActor's answer to a text message: pong, stats and request info for those JSON
/// requests, the text itself for anything else.
template <class Ctx>
std::string websocket_reply(const Ctx& c, const std::string& text) {
    const json msg = json::parse(text, nullptr, false);
    const json type = msg.is_object() ? msg.value("type", json()) : json();
    if (type == "ping") return to_text({{"type", "pong"}, {"timestamp", c.now_ms()}});
    if (type == "getStats") {
        const auto& s = c.state();
        return to_text({{"type", "stats"}, {"connectionCount", s.connectionCount}, {"messageCount", s.messageCount}});
    }
    if (type == "getRequestInfo") {
        // The upgrade request's URL; without one, the reference's fallback ws://actor/websocket.
        const url_parts url = c.request() ? url_of(*c.request()) : url_parts{"/websocket", ""};
        return to_text({{"type", "requestInfo"},
                        {"url", "ws://actor" + url.pathname + url.search},
                        {"pathname", url.pathname},
                        {"search", url.search}});
    }
    return text;
}

/// rawWebSocketActor: counts open sockets and messages; welcomes each socket, answers JSON
/// requests (websocket_reply) and echoes everything else, binary included.
const auto raw_websocket_actor =
    rivetkit::actor<websocket_stats>()
        .action<"getStats">([](auto& c) { return std::as_const(c).state(); })
        .on_websocket([](auto& c, std::shared_ptr<rivetkit::websocket> ws) {
            c.state().connectionCount += 1;
            ws->send(to_text({{"type", "welcome"}, {"connectionCount", std::as_const(c).state().connectionCount}}));
            ws->on_message([c, ws](const rivetkit::websocket_message& m) mutable {
                c.state().messageCount += 1;
                if (m.binary) {
                    ws->send_binary(bytes_of(m.data));
                } else {
                    ws->send(websocket_reply(std::as_const(c), m.data));
                }
            });
            ws->on_close([c](std::uint16_t, const std::string&) mutable { c.state().connectionCount -= 1; });
        });

/// rawWebSocketBinaryActor: sends every binary message back reversed; ignores text.
const auto raw_websocket_binary_actor =
    rivetkit::actor().on_websocket([](auto&, std::shared_ptr<rivetkit::websocket> ws) {
        ws->on_message([ws](const rivetkit::websocket_message& m) {
            if (!m.binary) return;
            const std::string reversed(m.data.rbegin(), m.data.rend());
            ws->send_binary(bytes_of(reversed));
        });
    });

}  // namespace

std::vector<rivetkit::registration> raw_fixtures() {
    return {
        {"rawHttpActor", raw_http_actor},
        {"rawHttpNoHandlerActor", raw_http_no_handler_actor},
        {"rawHttpVoidReturnActor", raw_http_void_return_actor},
        {"rawHttpHonoActor", raw_http_hono_actor},
        {"rawHttpRequestPropertiesActor", raw_http_request_properties_actor},
        {"rawWebSocketActor", raw_websocket_actor},
        {"rawWebSocketBinaryActor", raw_websocket_binary_actor},
    };
}

}  // namespace conformance
