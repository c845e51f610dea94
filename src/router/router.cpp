#include "router/router.hpp"

// GCC 12 at -O2 reports asio's awaitable frames (allocated and freed by asio's own operator
// new/delete pair) as mismatched in some coroutines here: a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <charconv>
#include <exception>

#include <asio/experimental/as_tuple.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/base64.hpp"
#include "common/json.hpp"
#include "common/utf8.hpp"
#include "protocol/client_protocol.hpp"
#include "rivetkit/detail/instance.hpp"
#include "rivetkit/error.hpp"
#include "rivetkit/ids.hpp"
#include "router/http_util.hpp"
#include "net/sse.hpp"
#include "net/websocket_handshake.hpp"
#include "router/sockets.hpp"

namespace rivetkit::detail {

namespace {

using ojson = nlohmann::ordered_json;

constexpr std::string_view server_text = "This is a RivetKit server.\n\nLearn more at https://rivetkit.org";
constexpr std::string_view actor_text = "This is an RivetKit actor.\n\nLearn more at https://rivetkit.org";
/// The RivetKit release whose protocol and behaviour this server follows (reported by /health
/// and /metadata, which clients only log).
constexpr std::string_view compatible_version = "2.0.33";

http_response text_response(std::string_view body, int status = 200) {
    http_response r;
    r.status = status;
    r.headers.emplace_back("content-type", "text/plain; charset=UTF-8");
    r.body = std::string(body);
    return r;
}

http_response json_response(const ojson& body, int status = 200) {
    http_response r;
    r.status = status;
    r.headers.emplace_back("content-type", "application/json");
    r.body = body.dump();
    return r;
}

http_response not_found_response() { return text_response("Not Found (RivetKit)", 404); }

/// A manager-API validation failure, shaped as the reference's zod errors.
http_response zod_error(std::string_view field, std::string_view expected) {
    ojson issue = {{"code", "invalid_type"},
                   {"expected", expected},
                   {"received", "undefined"},
                   {"path", ojson::array({field})},
                   {"message", "Required"}};
    ojson body = {{"success", false},
                  {"error", {{"name", "ZodError"}, {"message", ojson::array({issue}).dump()}}}};
    return json_response(body, 400);
}

http_response plain_error(std::string message) {
    ojson body = {{"error", std::move(message)}};
    return json_response(body, 400);
}

/// The request's encoding for replies; json when the header is missing or invalid.
protocol::encoding reply_encoding(const http_request& req) {
    if (const auto* h = req.header("x-rivet-encoding")) {
        if (auto e = protocol::parse_encoding(*h)) return *e;
    }
    return protocol::encoding::json;
}

http_response error_response(const client_error& err, protocol::encoding enc) {
    http_response r;
    r.status = err.http_status;
    r.headers.emplace_back("content-type", std::string(protocol::content_type(enc)));
    r.body = protocol::encode_http_error(enc, err);
    return r;
}

http_response error_response(std::exception_ptr e, protocol::encoding enc, const std::string& path, const logger& log) {
    auto shown = to_client_error(e);
    if (shown.group == "internal") log.error("request failed", {{"path", path}, {"error", describe_exception(e)}});
    return error_response(shown, enc);
}

/// The path below the base path, or nullopt when the request is outside it.
std::optional<std::string> strip_base(const std::string& base, const std::string& path) {
    if (base.empty()) return path.empty() ? std::string("/") : path;
    if (path.compare(0, base.size(), base) != 0) return std::nullopt;
    std::string rest = path.substr(base.size());
    if (rest.empty()) return std::string("/");
    if (rest.front() != '/') return std::nullopt;
    return rest;
}

/// Routes match with or without one trailing slash (Hono's strict: false).
std::string_view trim_slash(std::string_view p) {
    if (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
    return p;
}

ojson optional_ts(const std::optional<std::int64_t>& v) { return v ? ojson(*v) : ojson(nullptr); }

ojson actor_json(const actor_record& r) {
    ojson a;
    a["actor_id"] = r.actor_id;
    a["name"] = r.name;
    a["key"] = serialize_key(r.key);
    a["namespace_id"] = "default";
    a["runner_name_selector"] = "default";
    a["create_ts"] = r.create_ts;
    a["connectable_ts"] = optional_ts(r.connectable_ts);
    a["destroy_ts"] = optional_ts(r.destroy_ts);
    a["sleep_ts"] = optional_ts(r.sleep_ts);
    a["start_ts"] = optional_ts(r.start_ts);
    return a;
}

/// `input` of the manager API: standard base64 of a CBOR document.
value decode_input(const nlohmann::json& j) {
    if (j.is_null()) return value{};
    if (!j.is_string()) throw errors::invalid_request("input must be a base64 string of CBOR");
    auto raw = base64_decode(j.get<std::string>());
    if (!raw) throw errors::invalid_request("input is not valid base64");
    return protocol::decode_cbor_user_value(*raw);
}

nlohmann::json parse_json_body(const http_request& req) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw errors::invalid_request("the body must be a JSON object");
    return j;
}

const nlohmann::json* string_field(const nlohmann::json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return nullptr;
    return &*it;
}

struct gateway_match {
    actor_target target;
    std::string path;   // below the actor, starting with '/'
    std::string query;  // what the actor sees (rvt-* removed)
};

/// Removes the query form's rvt-* parameters from `raw`, keeping the rest byte for byte.
std::string strip_rvt_params(std::string_view raw) {
    std::string out;
    while (!raw.empty()) {
        auto amp = raw.find('&');
        std::string_view part = raw.substr(0, amp);
        raw = amp == std::string_view::npos ? std::string_view{} : raw.substr(amp + 1);
        if (part.empty() || part.starts_with("rvt-")) continue;
        if (!out.empty()) out.push_back('&');
        out.append(part);
    }
    return out;
}

/// The newer clients' query form: /gateway/{name}/...?rvt-method=get|getOrCreate&rvt-key=...
actor_target parse_query_target(std::string name, const std::vector<query_param>& params) {
    static constexpr std::string_view known[] = {"rvt-namespace", "rvt-method",       "rvt-runner",
                                                 "rvt-key",       "rvt-input",        "rvt-region",
                                                 "rvt-crash-policy", "rvt-token",     "rvt-skip-ready-wait"};
    std::vector<std::string_view> seen;
    for (const auto& p : params) {
        if (!p.name.starts_with("rvt-")) continue;
        if (std::find(std::begin(known), std::end(known), p.name) == std::end(known)) {
            throw errors::invalid_request(fmt::format("unknown gateway query parameter '{}'", p.name));
        }
        if (std::find(seen.begin(), seen.end(), p.name) != seen.end()) {
            throw errors::invalid_request(fmt::format("duplicate gateway query parameter '{}'", p.name));
        }
        seen.push_back(p.name);
    }
    actor_target t;
    t.by_query = true;
    t.name = std::move(name);
    const auto* method = find_param(params, "rvt-method");
    if (!method) throw errors::invalid_request("rvt-method is required");
    if (*method == "getOrCreate") {
        t.create = true;
    } else if (*method != "get") {
        throw errors::invalid_request(fmt::format("unknown rvt-method '{}' (expected get or getOrCreate)", *method));
    }
    if (const auto* k = find_param(params, "rvt-key"); k && !k->empty()) {
        // Parts are comma-joined without escaping; no key omits the parameter.
        std::string_view rest = *k;
        for (;;) {
            auto comma = rest.find(',');
            t.key.emplace_back(rest.substr(0, comma));
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    if (const auto* in = find_param(params, "rvt-input"); in && t.create) {
        auto raw = base64url_decode(*in);
        if (!raw) throw errors::invalid_request("rvt-input is not valid base64url");
        t.input = protocol::decode_cbor_user_value(*raw);
    }
    if (const auto* region = find_param(params, "rvt-region")) t.region = *region;
    for (const auto& part : t.key) {
        if (!is_valid_utf8(part)) throw errors::invalid_request("rvt-key is not valid UTF-8");
    }
    if (!is_valid_utf8(t.region)) throw errors::invalid_request("rvt-region is not valid UTF-8");
    return t;
}

/// Path-based gateway routing: /gateway/{actorId}[@token]/rest or the query form. nullopt when
/// the path is not a gateway path.
std::optional<gateway_match> match_gateway(std::string_view path, std::string_view query) {
    if (!path.starts_with("/gateway/")) return std::nullopt;
    if (path.find("//") != std::string_view::npos) return std::nullopt;
    std::string_view rest = path.substr(9);
    auto slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    if (segment.empty()) return std::nullopt;
    gateway_match m;
    m.path = slash == std::string_view::npos ? std::string("/") : std::string(rest.substr(slash));
    auto params = parse_query(query);
    bool query_form = std::any_of(params.begin(), params.end(), [](const auto& p) { return p.name.starts_with("rvt-"); });
    if (query_form) {
        auto name = percent_decode(segment);
        if (!name) return std::nullopt;
        m.target = parse_query_target(std::move(*name), params);
        m.query = strip_rvt_params(query);
        return m;
    }
    std::string_view id = segment;
    if (auto at = segment.find('@'); at != std::string_view::npos) {
        id = segment.substr(0, at);
        if (id.empty() || at + 1 == segment.size()) return std::nullopt;  // the token is not checked
    }
    auto decoded = percent_decode(id);
    if (!decoded) return std::nullopt;
    m.target.actor_id = std::move(*decoded);
    m.query = std::string(query);
    return m;
}

value parse_params_json(std::string_view text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) throw errors::invalid_params(fmt::format("Invalid params JSON: {}", text));
    return json::from_plain_json(j);
}

/// Connection params of an HTTP request: the x-rivet-conn-params header (Latin-1 JSON).
value http_conn_params(const http_request& req) {
    const auto* h = req.header("x-rivet-conn-params");
    if (!h) return value{};
    return parse_params_json(latin1_to_utf8(*h));
}

// ---- serverless (engine-protocol.md §6) ----------------------------------------------------

/// The serverless route a stripped path names ("/start", "/metadata", "/health", "/"), or
/// nullopt. With no base path, "/api/rivet/..." names the same routes (where the engine's runner
/// config usually points, and RivetKit's default from 2.0.34).
std::optional<std::string> serverless_route(const std::string& base, std::string_view path) {
    path = trim_slash(path);
    if (base.empty() && (path == "/api/rivet" || path.starts_with("/api/rivet/"))) {
        path = path.substr(10);
        if (path.empty()) path = "/";
    }
    for (std::string_view r : {"/", "/start", "/metadata", "/health"}) {
        if (path == r) return std::string(r);
    }
    return std::nullopt;
}

/// The x-rivet-* headers of GET /start (what RivetKit validates, in the same order).
serverless_start_request parse_serverless_start(const http_request& request) {
    auto required = [&](std::string_view name) -> std::string {
        const auto* v = request.header(name);
        if (v == nullptr || v->empty()) throw errors::invalid_request(fmt::format("{} header is required", name));
        return *v;
    };
    serverless_start_request out;
    out.endpoint = required("x-rivet-endpoint");
    if (const auto* t = request.header("x-rivet-token")) out.token = *t;
    const std::string slots = required("x-rivet-total-slots");
    std::uint32_t n = 0;
    auto [end, ec] = std::from_chars(slots.data(), slots.data() + slots.size(), n);
    if (ec != std::errc{} || end != slots.data() + slots.size() || n < 1) {
        throw errors::invalid_request(
            fmt::format("x-rivet-total-slots header must be an integer from 1 to 4294967295, got '{}'", slots));
    }
    out.total_slots = n;
    out.runner_name = required("x-rivet-runner-name");
    out.namespace_name = required("x-rivet-namespace-name");
    return out;
}

constexpr auto no_throw = asio::experimental::as_tuple(asio::use_awaitable);

/// Waits for the timer (expired or cancelled).
task<void> wait_timer(asio::steady_timer& timer) {
    auto [ec] = co_await timer.async_wait(no_throw);
    (void)ec;
}

/// The body of GET /start: the init packet once the runner is connected, then a ping every
/// second until the runner ends. When the engine goes away first, the runner stops gracefully
/// (its actors sleep) and the stream waits for that, as RivetKit does.
task<void> stream_serverless_runner(net::sse_writer& writer, std::shared_ptr<serverless_runner> runner) {
    auto executor = co_await asio::this_coro::executor;  // the connection's strand
    auto wake = std::make_shared<asio::steady_timer>(executor);
    std::weak_ptr<asio::steady_timer> weak = wake;
    // Runs on the strand, so it cannot slip between a check below and the wait after it.
    runner->set_observer([weak, executor] {
        asio::post(executor, [weak] {
            if (auto t = weak.lock()) t->cancel();
        });
    });
    constexpr auto ping_every = std::chrono::seconds(1);
    bool sent_init = false;
    auto next_ping = std::chrono::steady_clock::now() + ping_every;
    while (!runner->ended() && !writer.closed()) {
        if (!sent_init) {
            if (auto payload = runner->init_payload()) {
                // Named first, never temporaries inside a co_await (the GCC 12 rule).
                const std::string_view data = *payload;
                auto sending = writer.send(data);
                if (!co_await std::move(sending)) break;
                sent_init = true;
                next_ping = std::chrono::steady_clock::now() + ping_every;
                continue;
            }
            wake->expires_after(ping_every);  // until connected; the peer is checked meanwhile
        } else {
            wake->expires_at(next_ping);
        }
        co_await wait_timer(*wake);
        if (sent_init && std::chrono::steady_clock::now() >= next_ping) {
            const std::string_view empty;
            const std::string_view ping = "ping";
            auto sending = writer.send(empty, ping);
            if (!co_await std::move(sending)) break;
            next_ping += ping_every;
        }
    }
    if (!runner->ended()) {
        runner->stop();
        while (!runner->ended()) {
            wake->expires_after(ping_every);
            co_await wait_timer(*wake);
        }
    }
    runner->set_observer(nullptr);
}

}  // namespace

router::router(registry_core& core, handler_options options) : core_(&core), options_(std::move(options)) {
    std::string base = options_.base_path;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (!base.empty() && base.front() != '/') base.insert(base.begin(), '/');
    base_path_ = std::move(base);
}

task<net::reply> router::handle(http_request request) {
    net::reply out;
    if (auto* host = core_->manager().serverless(); host != nullptr && request.method == "GET") {
        auto stripped = strip_base(base_path_, request.path);
        if (stripped && serverless_route(base_path_, *stripped) == "/start") {
            try {
                auto runner = host->start_serverless_runner(parse_serverless_start(request));
                out.response.status = 200;
                out.response.headers.emplace_back("content-type", "text/event-stream");
                out.response.headers.emplace_back("cache-control", "no-cache");
                out.stream = [runner](net::sse_writer& w) { return stream_serverless_runner(w, runner); };
            } catch (const std::invalid_argument& e) {
                out.response = error_response(to_client_error(errors::invalid_request(e.what())), protocol::encoding::json);
            } catch (...) {
                out.response = error_response(std::current_exception(), protocol::encoding::json, request.path, core_->log());
            }
            co_return out;
        }
    }
    out.response = co_await respond(std::move(request));
    co_return out;
}

task<http_response> router::respond(http_request request) {
    std::string origin;
    if (const auto* o = request.header("origin")) origin = *o;
    const bool preflight = request.method == "OPTIONS";
    std::string requested_headers;
    if (const auto* h = request.header("access-control-request-headers")) requested_headers = *h;

    http_response res;
    if (preflight) {
        // CORS runs before everything else: OPTIONS never reaches the actors (reference §6).
        res.status = 204;
        res.headers.emplace_back("access-control-allow-methods", "GET, POST, PUT, DELETE, OPTIONS, PATCH");
        res.headers.emplace_back("access-control-allow-headers", requested_headers.empty() ? "*" : requested_headers);
        res.headers.emplace_back("access-control-max-age", "86400");
    } else {
        try {
            res = co_await route(std::move(request));
        } catch (...) {
            // route() answers its own errors; this is the last line of defence.
            auto shown = to_client_error(std::current_exception());
            core_->log().error("unhandled routing error", {{"error", describe_exception(std::current_exception())}});
            res = error_response(shown, protocol::encoding::json);
        }
    }
    erase_header(res.headers, "access-control-allow-origin");
    erase_header(res.headers, "access-control-allow-credentials");
    res.headers.reserve(res.headers.size() + 5);
    res.headers.emplace_back("access-control-allow-origin", origin.empty() ? "*" : origin);
    res.headers.emplace_back("access-control-allow-credentials", "true");
    res.headers.emplace_back("access-control-expose-headers", "*");
    if (!origin.empty()) res.headers.emplace_back("vary", "Origin");
    co_return res;
}

// route() and route_actor() only choose: plain functions that return the chosen coroutine, so
// a request does not pay for their frames (large, as they hold every alternative's locals;
// frames above 1 KiB are allocated afresh each time). answer_errors() is the one frame left.

task<http_response> router::route(http_request request) {
    auto stripped = strip_base(base_path_, request.path);
    if (!stripped) return ready_response(not_found_response());
    std::string path = std::move(*stripped);
    if (core_->manager().serverless() != nullptr) return ready_response(route_serverless(path, request));
    // Errors are answered after `request` has moved on: keep what the answer needs.
    const protocol::encoding enc = reply_encoding(request);
    std::string full_path = request.path;
    try {
        auto chosen = choose_route(std::move(path), std::move(request));
        return answer_errors(std::move(chosen), enc, std::move(full_path));
    } catch (...) {
        return ready_response(error_response(std::current_exception(), enc, full_path, core_->log()));
    }
}

task<http_response> router::choose_route(std::string path, http_request request) {
    if (is_test_path(path)) {
        // The test endpoints exist only in test mode; they never reach the gateway.
        if (!options_.test_mode) return ready_response(not_found_response());
        return route_test(std::move(path), std::move(request));
    }
    auto m = match_gateway(path, request.query);
    if (m) {
        request.query = m->query;
        return route_actor(std::move(m->target), std::move(m->path), std::move(request));
    }
    if (const auto* target = request.header("x-rivet-target"); target && *target == "actor") {
        const auto* actor = request.header("x-rivet-actor");
        if (!actor) throw errors::missing_actor_header();
        actor_target t;
        t.actor_id = *actor;
        erase_header(request.headers, "x-rivet-target");
        erase_header(request.headers, "x-rivet-actor");
        return route_actor(std::move(t), std::move(path), std::move(request));
    }
    return route_manager(std::move(path), std::move(request));
}

task<http_response> router::answer_errors(task<http_response> routed, protocol::encoding enc, std::string full_path) {
    try {
        co_return co_await std::move(routed);
    } catch (...) {
        co_return error_response(std::current_exception(), enc, full_path, core_->log());
    }
}

task<http_response> router::ready_response(http_response response) { co_return response; }

task<std::string> router::resolve(actor_target target) {
    auto& m = core_->manager();
    if (!target.by_query) co_return target.actor_id;
    if (target.create) {
        create_request req{target.name, target.key, target.input, target.region};  // named: GCC 12 rule
        auto rec = co_await m.get_or_create_with_key(std::move(req));
        co_return rec.actor_id;
    }
    auto rec = co_await m.get_with_key(target.name, target.key);
    if (!rec) throw errors::actor_not_found(fmt::format("{} with key {}", target.name, serialize_key(target.key)));
    co_return rec->actor_id;
}

task<http_response> router::respond_actor(std::string actor_id, http_request request) {
    const protocol::encoding enc = reply_encoding(request);
    const std::string full_path = request.path;
    try {
        actor_target target;
        target.actor_id = std::move(actor_id);
        std::string path = request.path;
        co_return co_await route_actor(std::move(target), std::move(path), std::move(request));
    } catch (...) {
        co_return error_response(std::current_exception(), enc, full_path, core_->log());
    }
}

net::upgrade_reply router::upgrade_actor(std::string actor_id, http_request request) {
    net::upgrade_reply reply;
    auto offered = net::offered_protocols(request);
    const bool offers_rivet = std::find(offered.begin(), offered.end(), "rivet") != offered.end();
    try {
        socket_request sr;
        sr.protocols = std::move(offered);
        sr.target.actor_id = std::move(actor_id);
        sr.path = request.path;
        sr.request = std::move(request);
        reply = open_socket(shared_from_this(), std::move(sr));
    } catch (...) {
        auto shown = to_client_error(std::current_exception());
        reply = net::upgrade_reply{};
        reply.reject = error_response(shown, protocol::encoding::json);
    }
    if (!reply.reject && offers_rivet) reply.protocol = "rivet";
    return reply;
}

task<http_response> router::route_actor(actor_target target, std::string path, http_request request) {
    std::string_view p = trim_slash(path);
    if (p == "/request" || p.starts_with("/request/")) {
        std::string rest = path.substr(8);
        if (rest.empty()) rest = "/";
        return raw_request(std::move(target), std::move(rest), std::move(request));
    }
    if (p.starts_with("/action/") && request.method == "POST") {
        std::string_view raw_name = p.substr(8);
        if (!raw_name.empty() && raw_name.find('/') == std::string_view::npos) {
            std::string name = percent_decode(raw_name).value_or(std::string(raw_name));
            return action(std::move(target), std::move(name), std::move(request));
        }
    }
    if (request.method == "GET" && (p == "/" || p == "/health")) return actor_health(std::move(target), p == "/");
    return ready_response(not_found_response());
}

task<http_response> router::actor_health(actor_target target, bool root) {
    // As the reference, the actor is loaded (woken) to answer.
    auto id = co_await resolve(std::move(target));
    auto inst = co_await core_->manager().load_actor(id);
    (void)inst;
    co_return text_response(root ? actor_text : std::string_view("ok"));
}

namespace {
// How many times a call that found its instance stopping loads the actor again.
constexpr int max_stopped_retries = 3;
}  // namespace

task<http_response> router::action(actor_target target, std::string name, http_request request) {
    protocol::encoding enc = protocol::encoding::json;
    bool ran = false;  // the instance logs failures of the action itself
    try {
        if (const auto* h = request.header("x-rivet-encoding")) {
            auto e = protocol::parse_encoding(*h);
            if (!e) throw errors::invalid_encoding(*h);  // answered in JSON
            enc = *e;
        }
        if (request.body.size() > options_.max_incoming_message_bytes) throw errors::incoming_too_long();
        value params = http_conn_params(request);
        array args = protocol::decode_http_action_request(enc, request.body);
        std::string id;  // resolve() only for a query: no coroutine frame for a plain id
        if (target.by_query) {
            id = co_await resolve(std::move(target));
        } else {
            id = std::move(target.actor_id);
        }
        value out;
        for (int attempt = 0;; ++attempt) {
            // A call that reaches an instance whose stop (a sleep) began after the load gets its
            // arguments back; loading again waits for that stop and wakes the actor.
            auto inst = co_await core_->manager().load_actor(id);
            try {
                auto call = inst->call_transient(std::move(params), &request, name, std::move(args));
                ran = true;
                out = co_await asio::co_spawn(inst->strand(), std::move(call), asio::use_awaitable);
                break;
            } catch (detail::not_accepting& e) {
                if (attempt == max_stopped_retries) throw;
                params = std::move(e.params);
                args = std::move(e.args);
                ran = false;
            }
        }
        http_response res;
        res.headers.reserve(8);  // this one and respond()'s CORS headers, without regrowing
        res.body = protocol::encode_http_action_response(enc, out);
        if (res.body.size() > options_.max_outgoing_message_bytes) throw errors::outgoing_too_long();
        res.headers.emplace_back("content-type", std::string(protocol::content_type(enc)));
        co_return res;
    } catch (...) {
        auto e = std::current_exception();
        auto shown = to_client_error(e);
        if (shown.group == "internal" && !ran) {
            core_->log().error("action request failed", {{"action", name}, {"error", describe_exception(e)}});
        }
        co_return error_response(shown, enc);
    }
}

task<http_response> router::raw_request(actor_target target, std::string path, http_request request) {
    value params = http_conn_params(request);
    std::string id;  // resolve() only for a query: no coroutine frame for a plain id
    if (target.by_query) {
        id = co_await resolve(std::move(target));
    } else {
        id = std::move(target.actor_id);
    }
    request.path = std::move(path);
    for (int attempt = 0;; ++attempt) {
        auto inst = co_await core_->manager().load_actor(id);
        try {
            auto call = inst->request_transient(std::move(params), std::move(request));
            co_return co_await asio::co_spawn(inst->strand(), std::move(call), asio::use_awaitable);
        } catch (detail::not_accepting& e) {
            if (attempt == max_stopped_retries) throw;  // as action() above
            params = std::move(e.params);
            request = std::move(e.request);
        }
    }
}

task<http_response> router::route_manager(std::string full_path, http_request request) {
    std::string_view path = trim_slash(full_path);
    const std::string& method = request.method;
    if (method == "GET" || method == "HEAD") {
        if (path == "/") co_return text_response(server_text);
        if (path == "/health") co_return health_response();
        if (path == "/metadata") co_return metadata_response("normal");
        if (path == "/actors/names") {
            auto params = parse_query(request.query);
            if (!find_param(params, "namespace")) co_return zod_error("namespace", "string");
            ojson names = ojson::object();
            for (const auto& n : core_->actor_names()) names[n] = {{"metadata", ojson::object()}};
            ojson body = {{"names", names}};
            co_return json_response(body);
        }
        if (path == "/actors") co_return co_await list_actors(request);
    } else if (method == "PUT" && path == "/actors") {
        co_return co_await put_actor(request);
    } else if (method == "POST" && path == "/actors") {
        co_return co_await post_actor(request);
    } else if (method == "DELETE" && path.starts_with("/actors/")) {
        std::string_view raw = path.substr(8);
        if (!raw.empty() && raw.find('/') == std::string_view::npos) {
            std::string id = percent_decode(raw).value_or(std::string(raw));
            co_return co_await delete_actor(std::move(id));
        }
    }
    co_return not_found_response();
}

task<http_response> router::list_actors(const http_request& request) {
    auto params = parse_query(request.query);
    const auto* name = find_param(params, "name");
    const auto* ids_param = find_param(params, "actor_ids");
    const auto* key = find_param(params, "key");
    auto& m = core_->manager();
    ojson list = ojson::array();
    if (ids_param) {
        if (name && key) co_return plain_error("Cannot provide both actor_ids and (name + key). Use either actor_ids or (name + key).");
        std::vector<std::string> ids;
        for (auto& id : split_trimmed(*ids_param, ',')) {
            if (!id.empty()) ids.push_back(std::move(id));
        }
        if (ids.size() > 32) co_return plain_error(fmt::format("Too many actor IDs. Maximum is 32, got {}.", ids.size()));
        for (auto& id : ids) {
            auto rec = co_await m.get_for_id(id);
            if (rec && (!name || rec->name == *name)) list.push_back(actor_json(*rec));
        }
    } else if (key) {
        if (!name) co_return plain_error("Name is required when key is provided.");
        actor_key k = deserialize_key(*key);
        auto rec = co_await m.get_with_key(*name, std::move(k));
        if (rec) list.push_back(actor_json(*rec));
    } else {
        if (!name) co_return plain_error("Name is required when not using actor_ids.");
        auto recs = co_await m.list_actors(*name);
        for (const auto& r : recs) list.push_back(actor_json(r));
    }
    ojson body = {{"actors", list}};
    co_return json_response(body);
}

task<http_response> router::put_actor(const http_request& request) {
    auto body = parse_json_body(request);
    for (const char* field : {"name", "key", "runner_name_selector", "crash_policy"}) {
        if (!string_field(body, field)) co_return zod_error(field, "string");
    }
    auto name = body["name"].get<std::string>();
    auto key = deserialize_key(body["key"].get<std::string>());
    auto& m = core_->manager();
    auto existing = co_await m.get_with_key(name, key);
    if (existing) {
        ojson out = {{"actor", actor_json(*existing)}, {"created", false}};
        co_return json_response(out);
    }
    create_request req;
    req.name = std::move(name);
    req.key = std::move(key);
    if (auto it = body.find("input"); it != body.end()) req.input = decode_input(*it);
    if (const auto* dc = string_field(body, "datacenter")) req.region = dc->get<std::string>();
    auto rec = co_await m.get_or_create_with_key(std::move(req));
    ojson out = {{"actor", actor_json(rec)}, {"created", true}};
    co_return json_response(out);
}

task<http_response> router::post_actor(const http_request& request) {
    auto body = parse_json_body(request);
    for (const char* field : {"name", "runner_name_selector", "crash_policy"}) {
        if (!string_field(body, field)) co_return zod_error(field, "string");
    }
    create_request req;
    req.name = body["name"].get<std::string>();
    if (const auto* k = string_field(body, "key")) {
        req.key = deserialize_key(k->get<std::string>());
    } else {
        req.key = {random_uuid()};  // as the reference: no key, a random one
    }
    if (auto it = body.find("input"); it != body.end()) req.input = decode_input(*it);
    if (const auto* dc = string_field(body, "datacenter")) req.region = dc->get<std::string>();
    auto rec = co_await core_->manager().create_actor(std::move(req));
    ojson out = {{"actor", actor_json(rec)}};
    co_return json_response(out);
}

task<http_response> router::delete_actor(std::string actor_id) {
    co_await core_->manager().destroy_actor(std::move(actor_id));
    co_return json_response(ojson::object());
}

// ---- serverless routes, /health and /metadata -----------------------------------------------

http_response router::route_serverless(const std::string& path, const http_request& request) {
    // Serverless: the engine reaches the actors through its runners; this server answers only
    // the engine's requests.
    auto route = serverless_route(base_path_, path);
    if (!route || (request.method != "GET" && request.method != "HEAD")) return not_found_response();
    if (*route == "/") return text_response(server_text);
    if (*route == "/health") return health_response();
    if (*route == "/metadata") return metadata_response("serverless");
    // GET /start streams (handle()); the public handler has no streaming replies.
    auto err = rivetkit::error("request", "streaming_unsupported",
                               "GET /start answers with an event stream, which registry.handler() cannot send; "
                               "serve the serverless routes with registry.listen() or registry.serve()");
    return error_response(to_client_error(err), protocol::encoding::json);
}

http_response router::health_response() {
    ojson body = {{"status", "ok"}, {"runtime", "rivetkit"}, {"version", compatible_version}};
    return json_response(body);
}

http_response router::metadata_response(std::string_view runner_kind) {
    ojson names = ojson::object();
    for (const auto& n : core_->actor_names()) names[n] = {{"metadata", ojson::object()}};
    ojson body = {{"runtime", "rivetkit"},
                  {"version", compatible_version},
                  {"runner", {{"kind", {{std::string(runner_kind), ojson::object()}}}}},
                  {"actorNames", names}};
    return json_response(body);
}

// ---- WebSocket upgrades ---------------------------------------------------------------------

task<net::upgrade_reply> router::upgrade(http_request request) {
    net::upgrade_reply reply;
    if (core_->manager().serverless() != nullptr) {
        reply.reject = not_found_response();  // serverless: WebSockets arrive through the runners
        co_return reply;
    }
    auto offered = net::offered_protocols(request);
    const bool offers_rivet = std::find(offered.begin(), offered.end(), "rivet") != offered.end();
    try {
        auto stripped = strip_base(base_path_, request.path);
        if (!stripped) {
            reply.reject = not_found_response();
            co_return reply;
        }
        socket_request sr;
        sr.protocols = offered;
        auto m = match_gateway(*stripped, request.query);
        std::optional<socket_request> inline_socket;
        if (is_test_path(*stripped)) {
            if (options_.test_mode) inline_socket = inline_driver_socket(*stripped, offered);
            if (!inline_socket) {
                reply.reject = not_found_response();
                co_return reply;
            }
            std::string query = std::move(inline_socket->request.query);
            sr = std::move(*inline_socket);
            request.query = std::move(query);
        } else if (m) {
            sr.target = std::move(m->target);
            sr.path = std::move(m->path);
            request.query = std::move(m->query);
        } else {
            // Header routing: the rivet_target.actor and rivet_actor.{id} subprotocols.
            if (std::find(offered.begin(), offered.end(), "rivet_target.actor") == offered.end()) {
                http_response refused;
                refused.status = 400;
                refused.headers.emplace_back("content-type", "text/plain; charset=UTF-8");
                refused.body = "WebSocket upgrade requires target.actor protocol";
                reply.reject = std::move(refused);
                co_return reply;
            }
            auto it = std::find_if(offered.begin(), offered.end(),
                                   [](const std::string& p) { return p.starts_with("rivet_actor."); });
            if (it == offered.end()) throw errors::missing_actor_header();
            auto id = percent_decode(std::string_view(*it).substr(12));
            if (!id) throw errors::missing_actor_header();
            sr.target.actor_id = std::move(*id);
            sr.path = *stripped;
        }
        sr.request = std::move(request);
        reply = open_socket(shared_from_this(), std::move(sr));
    } catch (...) {
        auto shown = to_client_error(std::current_exception());
        reply = net::upgrade_reply{};
        reply.reject = error_response(shown, protocol::encoding::json);
    }
    if (!reply.reject && offers_rivet) reply.protocol = "rivet";
    co_return reply;
}

}  // namespace rivetkit::detail
