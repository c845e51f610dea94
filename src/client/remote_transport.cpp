#include "client/remote_transport.hpp"

// GCC 12 at -O2 reports asio's awaitable frames (allocated and freed by asio's own operator
// new/delete pair) as mismatched in some coroutines here: a known false positive (router.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/base64.hpp"
#include "common/cbor.hpp"
#include "common/json.hpp"
#include "net/http_client.hpp"
#include "protocol/client_protocol.hpp"
#include "rivetkit/detail/oneshot.hpp"
#include "rivetkit/detail/registry_core.hpp"
#include "rivetkit/detail/thread_name.hpp"
#include "rivetkit/log.hpp"

namespace rivetkit::detail {

// ---- io_runtime ---------------------------------------------------------------------------------

namespace {
thread_local const void* current_runtime = nullptr;
}

struct io_runtime::impl {
    std::shared_ptr<asio::io_context> io = std::make_shared<asio::io_context>();
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::vector<std::thread> threads;
};

io_runtime::io_runtime(std::size_t threads) : impl_(std::make_shared<impl>()) {
    impl_->work.emplace(impl_->io->get_executor());
    const void* id = impl_.get();
    for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) {
        impl_->threads.emplace_back([io = impl_->io, id, i] {
            detail::name_this_thread(fmt::format("rivetkit-cli-{}", i).c_str());
            current_runtime = id;
            for (;;) {
                try {
                    io->run();
                    break;
                } catch (const std::exception& e) {
                    logger("client").error("a client io handler threw", {{"error", e.what()}});
                } catch (...) {
                    logger("client").error("a client io handler threw");
                }
            }
            current_runtime = nullptr;
        });
    }
}

io_runtime::~io_runtime() { stop(); }

void io_runtime::stop() {
    impl_->work.reset();
    impl_->io->stop();
    for (auto& t : impl_->threads) {
        if (!t.joinable()) continue;
        if (t.get_id() == std::this_thread::get_id()) {
            t.detach();  // the thread finishes run() and releases the io_context itself
        } else {
            t.join();
        }
    }
}

asio::any_io_executor io_runtime::executor() const { return impl_->io->get_executor(); }

bool io_runtime::on_own_thread() const noexcept { return current_runtime == impl_.get(); }

// ---- options ----------------------------------------------------------------------------------

namespace {

std::string env_or(const char* name, std::string fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

}  // namespace

client_options resolve_client_options(client_options o) {
    if (o.endpoint.empty()) o.endpoint = env_or("RIVET_ENGINE", env_or("RIVET_ENDPOINT", "http://127.0.0.1:6420"));
    if (o.token.empty()) o.token = env_or("RIVET_TOKEN", "");
    if (o.namespace_name.empty()) o.namespace_name = env_or("RIVET_NAMESPACE", "default");
    if (o.runner_name.empty()) o.runner_name = env_or("RIVET_RUNNER", "default");
    return o;
}

namespace {

using ojson = nlohmann::ordered_json;
constexpr auto as_result = asio::experimental::as_tuple(asio::use_awaitable);
using std::chrono::milliseconds;

[[noreturn]] void client_fail(std::string code, std::string message, value metadata = {}) {
    throw rivetkit::error("client", std::move(code), std::move(message), std::move(metadata), true);
}

/// An error the server gave as its definitive answer (a structured 4xx): retrying the same
/// request cannot succeed, so a connection does not reconnect after it.
class definitive_error : public rivetkit::error {
public:
    using rivetkit::error::error;
};

protocol::encoding to_protocol(client_encoding e) {
    switch (e) {
        case client_encoding::bare: return protocol::encoding::bare;
        case client_encoding::cbor: return protocol::encoding::cbor;
        case client_encoding::json: return protocol::encoding::json;
    }
    return protocol::encoding::bare;
}

std::string truncate(std::string_view s, std::size_t n = 300) {
    if (s.size() <= n) return std::string(s);
    return std::string(s.substr(0, n)) + "...";
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

/// Throws the error an HTTP error response stands for: the structured HttpResponseError body
/// (JSON when the Content-Type says so, otherwise in `enc`), or client/http_error with the status
/// and the start of the body. A structured 4xx (but 408 and 429) is thrown as definitive_error
/// (thrown, not returned: a returned error would be sliced to rivetkit::error). A non-empty
/// `hint` is appended to a structured error's message in parentheses.
[[noreturn]] void throw_response_error(const http_response& r, protocol::encoding enc, std::string_view what,
                                       std::string_view hint = {}) {
    const std::string* ct = r.header("content-type");
    const bool is_json = ct != nullptr && ct->find("application/json") != std::string::npos;
    std::optional<client_error> parsed;
    try {
        parsed = protocol::decode_http_error(is_json ? protocol::encoding::json : enc, r.body);
    } catch (const std::exception&) {
        if (!is_json && enc != protocol::encoding::json) {
            try {
                parsed = protocol::decode_http_error(protocol::encoding::json, r.body);
            } catch (const std::exception&) {
            }
        }
    }
    if (parsed && !parsed->group.empty() && !parsed->code.empty()) {
        std::string message = std::move(parsed->message);
        if (!hint.empty()) message += fmt::format("{}({})", message.empty() ? "" : " ", hint);
        const bool definitive = r.status >= 400 && r.status < 500 && r.status != 408 && r.status != 429;
        if (definitive) throw definitive_error(parsed->group, parsed->code, std::move(message), parsed->metadata, true);
        throw rivetkit::error(parsed->group, parsed->code, std::move(message), parsed->metadata, true);
    }
    object meta;
    meta.insert_or_assign("status", std::int64_t{r.status});
    throw rivetkit::error("client", "http_error",
                          fmt::format("{} answered HTTP {}: {}", what, r.status, truncate(r.body)), value(std::move(meta)),
                          true);
}

/// JSON.stringify(params) with every non-ASCII character escaped, so the bytes read the same as
/// Latin-1 (how the reference server decodes header values) and as UTF-8.
std::string params_json(const value& params) {
    try {
        return json::to_plain_json(params).dump(-1, ' ', true);
    } catch (const std::exception& e) {
        client_fail("invalid_params", std::string("the connection params cannot be sent as JSON: ") + e.what());
    }
}

nlohmann::json parse_json_body(const http_response& r, std::string_view what) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded()) client_fail("malformed_response", fmt::format("{} answered invalid JSON: {}", what, truncate(r.body)));
    return j;
}

const nlohmann::json* member(const nlohmann::json& j, const char* name) {
    if (!j.is_object()) return nullptr;
    auto it = j.find(name);
    return it == j.end() ? nullptr : &*it;
}

std::string actor_id_of(const nlohmann::json& actor, std::string_view what) {
    const auto* id = member(actor, "actor_id");
    if (id == nullptr || !id->is_string() || id->get<std::string>().empty()) {
        client_fail("malformed_response", fmt::format("{} answered an actor without actor_id", what));
    }
    return id->get<std::string>();
}

std::string key_json(const actor_key& key) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& p : key) j.push_back(p);
    return j.dump();
}

}  // namespace

// ---- the shared client state ----------------------------------------------------------------

class remote_context : public std::enable_shared_from_this<remote_context> {
public:
    remote_context(client_options options, net::url endpoint, asio::any_io_executor ex)
        : opts_(std::move(options)),
          enc_(to_protocol(opts_.encoding)),
          ex_(std::move(ex)),
          http_(ex_, http_options(opts_)),
          endpoint_(std::move(endpoint)),
          log_(logger("client")) {}

    [[nodiscard]] const client_options& options() const noexcept { return opts_; }
    [[nodiscard]] protocol::encoding encoding() const noexcept { return enc_; }
    [[nodiscard]] const asio::any_io_executor& executor() const noexcept { return ex_; }
    [[nodiscard]] const logger& log() const noexcept { return log_; }
    [[nodiscard]] net::http_client& http() noexcept { return http_; }

    [[nodiscard]] net::url endpoint() const {
        std::lock_guard lock(mutex_);
        return endpoint_;
    }

    /// GET /metadata once (client-protocol.md §2.2); a clientEndpoint there replaces the
    /// endpoint. A failure fails this call only: the next one tries again.
    task<void> ensure_metadata() {
        if (opts_.disable_metadata_lookup) co_return;
        std::shared_ptr<oneshot<void>> waiter;
        bool mine = false;
        {
            std::lock_guard lock(mutex_);
            if (metadata_done_) co_return;
            if (!metadata_pending_) {
                metadata_pending_ = oneshot<void>::make();
                mine = true;
            }
            waiter = metadata_pending_;
        }
        if (mine) {
            std::exception_ptr err;
            try {
                auto lookup = lookup_metadata();
                co_await std::move(lookup);
            } catch (...) {
                err = std::current_exception();
            }
            {
                std::lock_guard lock(mutex_);
                metadata_pending_.reset();
                if (!err) metadata_done_ = true;
            }
            if (err) {
                waiter->set_exception(err);
            } else {
                waiter->set_value();
            }
        }
        auto waiting = waiter->wait();
        co_await std::move(waiting);
    }

    /// A manager API request (JSON; `Authorization: Bearer <token>`; namespace in the query).
    task<http_response> manager_request(std::string method, std::string path, std::string query, std::string body) {
        const net::url ep = endpoint();
        std::string target = path + "?" + query;
        if (!query.empty()) target += "&";
        target += "namespace=" + net::percent_encode_component(opts_.namespace_name);
        http_headers headers = opts_.headers;
        if (!opts_.token.empty()) headers.emplace_back("Authorization", "Bearer " + opts_.token);
        if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
        auto req = http_.request(ep, std::move(method), ep.target(target), std::move(headers), std::move(body),
                                 opts_.request_timeout);
        co_return co_await std::move(req);
    }

    /// Throws the error of a manager API answer; a refused token (401, 403) says so.
    [[noreturn]] void throw_manager_error(const http_response& r, std::string_view what) const {
        std::string hint;
        if (r.status == 401 || r.status == 403) {
            hint = fmt::format("HTTP {} from {}: {}; set client_options::token or RIVET_TOKEN", r.status, what,
                               opts_.token.empty() ? "no token was sent" : "the token was refused");
        }
        throw_response_error(r, protocol::encoding::json, what, hint);
    }

    /// The actor id of `q` (client-protocol.md §2.3).
    task<std::string> resolve(actor_query q) {
        auto meta = ensure_metadata();
        co_await std::move(meta);
        switch (q.how) {
            case actor_query::kind::get: {
                std::string query = "name=" + net::percent_encode_component(q.name) +
                                    "&key=" + net::percent_encode_component(serialize_key(q.key));
                auto listing = list_actors(std::move(query));
                const auto actors = co_await std::move(listing);
                if (actors.empty()) {
                    throw definitive_error("actor", "not_found",
                                           fmt::format("Actor not found: {}:{}", q.name, key_json(q.key)), {}, true);
                }
                co_return actor_id_of(actors[0], "GET /actors");
            }
            case actor_query::kind::get_or_create:
            case actor_query::kind::create: {
                const bool create = q.how == actor_query::kind::create;
                ojson body = ojson::object();
                if (!q.region.empty()) body["datacenter"] = q.region;
                body["name"] = q.name;
                if (create) {
                    body["runner_name_selector"] = opts_.runner_name;
                    body["key"] = serialize_key(q.key);
                } else {
                    body["key"] = serialize_key(q.key);
                    body["runner_name_selector"] = opts_.runner_name;
                }
                if (!q.input.is_undefined()) {
                    const auto cbor_bytes = cbor::encode(q.input);
                    body["input"] = base64_encode(cbor_bytes);
                }
                body["crash_policy"] = "sleep";
                const char* what = create ? "POST /actors" : "PUT /actors";
                auto req = manager_request(create ? "POST" : "PUT", "/actors", {}, body.dump());
                auto r = co_await std::move(req);
                if (r.status < 200 || r.status >= 300) throw_manager_error(r, what);
                const auto j = parse_json_body(r, what);
                const auto* actor = member(j, "actor");
                if (actor == nullptr) client_fail("malformed_response", fmt::format("{} answered without an actor", what));
                co_return actor_id_of(*actor, what);
            }
            case actor_query::kind::get_for_id: {
                std::string query = "actor_ids=" + net::percent_encode_component(q.actor_id);
                auto listing = list_actors(std::move(query));
                const auto actors = co_await std::move(listing);
                if (actors.empty()) {
                    throw definitive_error("actor", "not_found", fmt::format("Actor not found: {}", q.actor_id), {}, true);
                }
                const auto& actor = actors[0];
                const auto* name = member(actor, "name");
                if (name == nullptr || !name->is_string() || name->get<std::string>() != q.name) {
                    throw definitive_error("actor", "not_found",
                                           fmt::format("Actor not found: {} (not a {})", q.actor_id, q.name), {}, true);
                }
                co_return actor_id_of(actor, "GET /actors");
            }
        }
        client_fail("internal", "unknown actor query");
    }

    /// GET /actors?<query>: the `actors` list of the answer (empty when nothing matched).
    task<nlohmann::json> list_actors(std::string query) {
        auto req = manager_request("GET", "/actors", std::move(query), {});
        auto r = co_await std::move(req);
        if (r.status < 200 || r.status >= 300) throw_manager_error(r, "GET /actors");
        const auto j = parse_json_body(r, "GET /actors");
        const auto* actors = member(j, "actors");
        if (actors == nullptr || !actors->is_array()) {
            client_fail("malformed_response", "GET /actors answered without an actors list");
        }
        co_return *actors;
    }

    /// Headers of every gateway request: the extra headers, then x-rivet-token.
    http_headers gateway_headers() const {
        http_headers h = opts_.headers;
        if (!opts_.token.empty()) h.emplace_back("x-rivet-token", opts_.token);
        return h;
    }

    /// "/gateway/{id}" + rest.
    static std::string gateway_path(const std::string& id, std::string_view rest) {
        return "/gateway/" + net::percent_encode_component(id) + std::string(rest);
    }

    task<value> action(actor_query q, value params, std::string name, array args) {
        auto resolving = resolve(std::move(q));
        const std::string id = co_await std::move(resolving);
        http_headers headers = gateway_headers();
        headers.emplace_back("x-rivet-encoding", std::string(protocol::to_string(enc_)));
        headers.emplace_back("Content-Type", std::string(protocol::content_type(enc_)));
        if (!params.is_undefined()) headers.emplace_back("x-rivet-conn-params", params_json(params));
        std::string body;
        try {
            body = protocol::encode_http_action_request(enc_, args);
        } catch (const std::exception& e) {
            client_fail("invalid_arguments", std::string("the arguments cannot be encoded: ") + e.what());
        }
        const net::url ep = endpoint();
        const std::string path = gateway_path(id, "/action/" + net::percent_encode_component(name));
        auto req = http_.request(ep, "POST", ep.target(path), std::move(headers), std::move(body), opts_.request_timeout);
        auto r = co_await std::move(req);
        if (r.status < 200 || r.status >= 300) throw_response_error(r, enc_, "action " + name);
        try {
            co_return protocol::decode_http_action_response(enc_, r.body);
        } catch (const std::exception& e) {
            client_fail("malformed_response", fmt::format("the response of action {} cannot be decoded: {}", name, e.what()));
        }
    }

    task<http_response> fetch(actor_query q, value params, http_request request) {
        auto resolving = resolve(std::move(q));
        const std::string id = co_await std::move(resolving);
        http_headers headers;
        for (auto& [n, v] : request.headers) {
            if (iequals(n, "host") || iequals(n, "content-length") || iequals(n, "transfer-encoding") ||
                iequals(n, "connection")) {
                continue;
            }
            headers.emplace_back(std::move(n), std::move(v));
        }
        if (!params.is_nullish()) headers.emplace_back("x-rivet-conn-params", params_json(params));
        for (auto& h : gateway_headers()) headers.push_back(std::move(h));
        std::string path = request.path;
        if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
        std::string rest = "/request" + path;
        if (!request.query.empty()) rest += "?" + request.query;
        const net::url ep = endpoint();
        std::string method = request.method.empty() ? std::string("GET") : request.method;
        auto req = http_.request(ep, std::move(method), ep.target(gateway_path(id, rest)), std::move(headers),
                                 std::move(request.body), opts_.request_timeout);
        co_return co_await std::move(req);
    }

    /// Opens a WebSocket to /gateway/{id}{rest}; throws when the server refuses the upgrade.
    task<std::shared_ptr<net::websocket_session>> open_socket(std::string id, std::string rest,
                                                              std::vector<std::string> protocols,
                                                              protocol::encoding error_enc) {
        const net::url ep = endpoint();
        net::websocket_limits limits;
        limits.max_message_bytes = 64u << 20;
        auto opening = http_.open_websocket(ep, ep.target(gateway_path(id, rest)), opts_.headers, std::move(protocols),
                                            limits, opts_.connect_timeout);
        auto res = co_await std::move(opening);
        if (res.socket) co_return res.socket;
        if (!res.problem.empty()) client_fail("malformed_response", "invalid WebSocket handshake answer: " + res.problem);
        throw_response_error(res.response, error_enc, "the WebSocket upgrade");
    }

    /// Subprotocols of a gateway WebSocket (client-protocol.md §5.1).
    std::vector<std::string> protocols(protocol::encoding enc, const value& params) const {
        std::vector<std::string> p{"rivet", "rivet_encoding." + std::string(protocol::to_string(enc))};
        if (!params.is_nullish()) p.push_back("rivet_conn_params." + net::percent_encode_component(params_json(params)));
        if (!opts_.token.empty()) p.push_back("rivet_token." + net::percent_encode_component(opts_.token));
        return p;
    }

    /// After the io_context stopped for good: completes the pending metadata lookup, so the
    /// coroutines parked on it are queued (and destroyed with the io_context) instead of
    /// keeping this context alive through a reference cycle.
    void abandon() {
        std::shared_ptr<oneshot<void>> pending;
        {
            std::lock_guard lock(mutex_);
            pending = std::move(metadata_pending_);
        }
        if (pending) {
            pending->set_exception(std::make_exception_ptr(
                rivetkit::error("client", "disposed", "The client was destroyed", {}, true)));
        }
    }

private:
    static net::http_client_options http_options(const client_options& o) {
        net::http_client_options h;
        h.connect_timeout = o.connect_timeout;
        h.tls.verify_peer = o.tls_verify_peer;
        h.tls.ca_file = o.tls_ca_file;
        return h;
    }

    task<void> lookup_metadata() {
        auto req = manager_request("GET", "/metadata", {}, {});
        auto r = co_await std::move(req);
        if (r.status < 200 || r.status >= 300) throw_manager_error(r, "GET /metadata");
        const auto j = parse_json_body(r, "GET /metadata");
        const auto* ce = member(j, "clientEndpoint");
        if (ce != nullptr && ce->is_string() && !ce->get<std::string>().empty()) {
            std::string why;
            auto u = net::parse_url(ce->get<std::string>(), &why);
            if (!u) {
                client_fail("malformed_response",
                            fmt::format("GET /metadata answered an invalid clientEndpoint \"{}\": {}", ce->get<std::string>(), why));
            }
            log_.debug("using the server's clientEndpoint", {{"endpoint", ce->get<std::string>()}});
            std::lock_guard lock(mutex_);
            endpoint_ = std::move(*u);
        }
    }

    const client_options opts_;
    const protocol::encoding enc_;
    asio::any_io_executor ex_;
    net::http_client http_;
    mutable std::mutex mutex_;
    net::url endpoint_;
    bool metadata_done_ = false;
    std::shared_ptr<oneshot<void>> metadata_pending_;
    logger log_;
};

// ---- connections --------------------------------------------------------------------------------

namespace {

client_error to_shown(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const rivetkit::error& err) {
        return client_error{err.group(), err.code(), err.message(), err.metadata(), err.http_status()};
    } catch (const std::exception& err) {
        return client_error{"client", "internal_error", err.what(), {}, 500};
    } catch (...) {
        return client_error{"client", "internal_error", "unknown error", {}, 500};
    }
}

std::exception_ptr as_exception(const client_error& e) {
    return std::make_exception_ptr(rivetkit::error(e.group, e.code, e.message, e.metadata, true));
}

bool is_definitive(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const definitive_error&) {
        return true;
    } catch (...) {
        return false;
    }
}

}  // namespace

class remote_connection final : public client_connection, public std::enable_shared_from_this<remote_connection> {
    friend class remote_transport;

public:
    remote_connection(std::shared_ptr<remote_context> ctx, actor_query q, value params)
        : ctx_(std::move(ctx)),
          strand_(asio::make_strand(ctx_->executor())),
          query_(std::move(q)),
          params_(std::move(params)),
          attempt_(oneshot<void>::make()),
          rng_(std::random_device{}()) {}

    void start() { asio::co_spawn(strand_, run(shared_from_this()), asio::detached); }

    std::uint64_t add_listener(std::string event, std::function<void(const array&)> fn, bool once) override {
        bool first = false;
        std::uint64_t id;
        {
            std::lock_guard lock(mutex_);
            id = ++next_listener_;
            first = !has_listener_locked(event);
            listeners_.emplace(id, listener{event, std::move(fn), once});
        }
        if (first) post_subscription(std::move(event), true);
        return id;
    }

    void remove_listener(std::uint64_t id) override {
        std::string event;
        bool last = false;
        {
            std::lock_guard lock(mutex_);
            auto it = listeners_.find(id);
            if (it == listeners_.end()) return;
            event = it->second.event;
            listeners_.erase(it);
            last = !has_listener_locked(event);
        }
        if (last) post_subscription(std::move(event), false);
    }

    void add_error_listener(std::function<void(const client_error&)> fn) override {
        std::lock_guard lock(mutex_);
        error_listeners_.push_back(std::move(fn));
    }
    void add_status_listener(std::function<void(connection_status)> fn) override {
        std::lock_guard lock(mutex_);
        status_listeners_.push_back(std::move(fn));
    }

    task<value> action(std::string name, array args) override {
        auto work = action_impl(shared_from_this(), std::move(name), std::move(args));
        auto op = asio::co_spawn(strand_, std::move(work), asio::use_awaitable);
        co_return co_await std::move(op);
    }

    void dispose() override {
        // Destroyed last, outside every lock: a listener may own the last reference to the
        // client, whose destruction disposes this connection again.
        std::vector<std::function<void(connection_status)>> status_cbs;
        std::map<std::uint64_t, listener> listeners;
        std::vector<std::function<void(const client_error&)>> error_cbs;
        {
            std::lock_guard cb(callback_mutex_);
            {
                std::lock_guard lock(mutex_);
                if (status_ == connection_status::disposed) return;
                status_ = connection_status::disposed;
                status_cbs.swap(status_listeners_);
                listeners.swap(listeners_);
                error_cbs.swap(error_listeners_);
            }
            asio::post(strand_, [self = shared_from_this()] { self->finish_disposed(); });
            for (auto& f : status_cbs) {
                try {
                    f(connection_status::disposed);
                } catch (...) {
                }
            }
        }
    }

    connection_status status() const override {
        std::lock_guard lock(mutex_);
        return status_;
    }
    std::string connection_id() const override {
        std::lock_guard lock(mutex_);
        return conn_id_;
    }

    task<void> wait_connected() override {
        auto work = current_attempt(shared_from_this());
        auto op = asio::co_spawn(strand_, std::move(work), asio::use_awaitable);
        auto waiter = co_await std::move(op);
        if (waiter) {
            auto waiting = waiter->wait();
            co_await std::move(waiting);
        }
    }

private:
    struct listener {
        std::string event;
        std::function<void(const array&)> fn;
        bool once = false;
    };
    struct pending_action {
        std::string name;
        array args;
        std::shared_ptr<oneshot<value>> result;
        bool sent = false;
    };

    bool has_listener_locked(const std::string& event) const {
        return std::any_of(listeners_.begin(), listeners_.end(), [&](const auto& l) { return l.second.event == event; });
    }

    // ---- the connection loop (strand) ----

    static task<std::shared_ptr<oneshot<void>>> current_attempt(std::shared_ptr<remote_connection> self) {
        if (self->open_) co_return nullptr;
        if (self->lost_) std::rethrow_exception(self->lost_);
        co_return self->attempt_;
    }

    static task<void> run(std::shared_ptr<remote_connection> self) {
        std::size_t failures = 0;
        const auto& rc = self->ctx_->options().reconnect;
        while (!self->disposed_) {
            self->set_status(connection_status::connecting);
            std::exception_ptr failure;
            try {
                auto a = self->attempt();
                co_await std::move(a);
            } catch (...) {
                failure = std::current_exception();
            }
            if (self->disposed_) break;
            if (failure) {
                const client_error shown = to_shown(failure);
                self->ctx_->log().debug("connection attempt failed",
                                        {{"actor", self->query_.name}, {"group", shown.group}, {"code", shown.code},
                                         {"message", shown.message}});
                self->notify_error(shown);
                auto failed = std::exchange(self->attempt_, oneshot<void>::make());
                failed->set_exception(as_exception(shown));
                self->set_status(connection_status::disconnected);
                ++failures;
                if (is_definitive(failure) || !rc.enabled || (rc.max_attempts != 0 && failures >= rc.max_attempts)) {
                    self->lose(shown);
                    break;
                }
            } else {
                self->set_status(connection_status::disconnected);
                failures = 0;
                if (!rc.enabled) {
                    self->lose(client_error{"client", "connection_lost", "The connection was closed", {}, 500});
                    break;
                }
            }
            const milliseconds delay = self->backoff(failures);
            self->ctx_->log().debug("reconnecting", {{"actor", self->query_.name}, {"delayMs", delay.count()}});
            if (delay.count() > 0) {
                auto waiting = self->sleep(delay);
                co_await std::move(waiting);
            }
        }
    }

    /// 0 after a drop (failures == 0); then initial * multiplier^(failures-1), capped, jittered.
    milliseconds backoff(std::size_t failures) {
        if (failures == 0) return milliseconds(0);
        const auto& rc = ctx_->options().reconnect;
        double d = static_cast<double>(rc.initial_delay.count()) *
                   std::pow(std::max(rc.multiplier, 1.0), static_cast<double>(failures - 1));
        d = std::min(d, static_cast<double>(rc.max_delay.count()));
        const double j = std::clamp(rc.jitter, 0.0, 1.0);
        if (j > 0) {
            std::uniform_real_distribution<double> dist(1.0 - j, 1.0 + j);
            d *= dist(rng_);
        }
        return milliseconds(static_cast<std::int64_t>(d));
    }

    task<void> sleep(milliseconds delay) {
        if (disposed_) co_return;  // dispose() ran meanwhile (same strand): do not wait
        timer_ = std::make_shared<asio::steady_timer>(strand_);
        timer_->expires_after(delay);
        auto t = timer_;
        auto [ec] = co_await t->async_wait(as_result);
        (void)ec;
    }

    /// One connection: resolve, open the socket, then wait until it closes. Throws when it
    /// could not be opened (up to the Init message).
    task<void> attempt() {
        auto resolving = ctx_->resolve(query_);
        const std::string id = co_await std::move(resolving);
        auto protocols = ctx_->protocols(ctx_->encoding(), params_);
        auto opening = ctx_->open_socket(id, "/connect", std::move(protocols), ctx_->encoding());
        auto ws = co_await std::move(opening);
        if (disposed_) {
            ws->close(1000, "Disposed");
            ws->start();
            co_return;
        }
        const std::uint64_t gen = ++generation_;
        ws_ = ws;
        open_ = false;
        opened_in_generation_ = false;
        close_code_ = 0;
        close_reason_.clear();
        closed_ = oneshot<void>::make();
        auto closed = closed_;
        install_handlers(ws, weak_from_this(), gen);
        arm_init_timer(gen);
        ws->start();
        auto waiting = closed->wait();
        co_await std::move(waiting);
        if (disposed_) co_return;
        if (!opened_in_generation_) {
            object meta;
            meta.insert_or_assign("closeCode", std::int64_t{close_code_});
            meta.insert_or_assign("reason", close_reason_);
            if (close_code_ == 1011 && !close_reason_.empty()) {
                // The server refused the connection (client-protocol.md §4.3): the reason is the
                // error's code.
                throw rivetkit::error("connection", close_reason_,
                                      fmt::format("The server closed the connection before it was open (code {}, reason {})",
                                                  close_code_, close_reason_),
                                      value(std::move(meta)), true);
            }
            client_fail("connection_lost",
                        fmt::format("The connection closed before it was open (code {}{}{})", close_code_,
                                    close_reason_.empty() ? "" : ", reason ", close_reason_),
                        value(std::move(meta)));
        }
    }

    static void install_handlers(const std::shared_ptr<net::websocket_session>& ws, std::weak_ptr<remote_connection> w,
                                 std::uint64_t gen) {
        ws->on_message([w, gen](const websocket_message& m) {
            if (auto self = w.lock()) {
                asio::post(self->strand_, [self, gen, m] { self->on_message(gen, m); });
            }
        });
        ws->on_close([w, gen](std::uint16_t code, const std::string& reason) {
            if (auto self = w.lock()) {
                asio::post(self->strand_, [self, gen, code, reason] { self->on_socket_closed(gen, code, reason); });
            }
        });
    }

    void arm_init_timer(std::uint64_t gen) {
        init_timer_ = std::make_shared<asio::steady_timer>(strand_);
        init_timer_->expires_after(ctx_->options().connect_timeout);
        init_timer_->async_wait([w = weak_from_this(), gen](const std::error_code& ec) {
            if (ec) return;
            auto self = w.lock();
            if (!self || self->generation_ != gen || self->open_ || !self->ws_) return;
            self->ctx_->log().debug("no Init within the connect timeout; dropping the socket");
            self->ws_->terminate();
        });
    }

    void on_socket_closed(std::uint64_t gen, std::uint16_t code, std::string reason) {
        if (gen != generation_) return;
        if (init_timer_) init_timer_->cancel();
        ws_.reset();
        close_code_ = code;
        close_reason_ = std::move(reason);
        opened_in_generation_ = open_;
        if (open_) {
            open_ = false;
            {
                std::lock_guard lock(mutex_);
                conn_id_.clear();
            }
            // Sent actions cannot be replayed safely (they may have run): they fail now. Actions
            // not sent yet stay queued for the next connection.
            const auto lost = client_error{
                "client", "connection_lost",
                fmt::format("The connection was lost before the action's response arrived (code {}{}{})", code,
                            close_reason_.empty() ? "" : ", reason ", close_reason_),
                {}, 500};
            for (auto it = pending_.begin(); it != pending_.end();) {
                if (it->second.sent) {
                    it->second.result->set_exception(as_exception(lost));
                    it = pending_.erase(it);
                } else {
                    ++it;
                }
            }
            ctx_->log().debug("connection lost", {{"code", code}, {"reason", close_reason_}});
        }
        if (closed_) closed_->set_value();
    }

    void on_message(std::uint64_t gen, const websocket_message& m) {
        if (gen != generation_ || !ws_) return;
        protocol::to_client msg;
        try {
            msg = protocol::decode_to_client(ctx_->encoding(), m.data);
        } catch (const std::exception& e) {
            notify_error(client_error{"client", "malformed_message",
                                      std::string("the server sent a message that cannot be decoded: ") + e.what(), {},
                                      500});
            ws_->close(1011, "malformed_message");
            return;
        }
        if (auto* init = std::get_if<protocol::init_message>(&msg)) {
            on_init(*init);
        } else if (auto* resp = std::get_if<protocol::action_response>(&msg)) {
            auto it = pending_.find(resp->id);
            if (it == pending_.end() || !it->second.sent) {
                ctx_->log().warn("response to an unknown action", {{"id", resp->id}});
                return;
            }
            auto result = it->second.result;
            pending_.erase(it);
            result->set_value(std::move(resp->output));
        } else if (auto* err = std::get_if<protocol::error_message>(&msg)) {
            client_error shown{err->group, err->code, err->message, err->metadata, 400};
            if (err->action_id) {
                auto it = pending_.find(*err->action_id);
                if (it != pending_.end() && it->second.sent) {
                    auto result = it->second.result;
                    pending_.erase(it);
                    result->set_exception(as_exception(shown));
                    return;
                }
                ctx_->log().warn("error for an unknown action", {{"id", *err->action_id}});
            }
            notify_error(shown);
        } else if (auto* ev = std::get_if<protocol::event_message>(&msg)) {
            dispatch_event(*ev);
        }
    }

    void on_init(const protocol::init_message& init) {
        if (open_) {
            ctx_->log().warn("a second Init on the same connection; ignored");
            return;
        }
        if (init_timer_) init_timer_->cancel();
        open_ = true;
        {
            std::lock_guard lock(mutex_);
            conn_id_ = init.connection_id;
        }
        // Subscriptions for every event with listeners, then the queued actions, in order.
        std::vector<std::string> events;
        {
            std::lock_guard lock(mutex_);
            for (const auto& [id, l] : listeners_) {
                if (std::find(events.begin(), events.end(), l.event) == events.end()) events.push_back(l.event);
            }
        }
        for (auto& e : events) send(protocol::subscription_request{std::move(e), true});
        for (auto& [id, p] : pending_) {
            if (!p.sent) send_action(id, p);
        }
        set_status(connection_status::connected);
        auto a = std::exchange(attempt_, oneshot<void>::make());
        a->set_value();
    }

    void send(const protocol::to_server& msg) {
        if (!ws_) return;
        const std::string payload = protocol::encode_to_server(ctx_->encoding(), msg);
        if (protocol::uses_text_frames(ctx_->encoding())) {
            ws_->send(payload);
        } else {
            ws_->send_binary(std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
        }
    }

    void send_action(std::uint64_t id, pending_action& p) {
        try {
            send(protocol::action_request{id, p.name, p.args});
            p.sent = true;
        } catch (const std::exception& e) {
            p.result->set_exception(as_exception(client_error{
                "client", "invalid_arguments", std::string("the arguments cannot be encoded: ") + e.what(), {}, 400}));
            p.sent = true;  // failed: removed below by the caller's lookup (never answered)
        }
    }

    static task<value> action_impl(std::shared_ptr<remote_connection> self, std::string name, array args) {
        if (self->disposed_) client_fail("disposed", "The connection was disposed");
        if (self->lost_) std::rethrow_exception(self->lost_);
        const std::uint64_t id = self->next_action_id_++;
        auto result = oneshot<value>::make();
        auto& p = self->pending_[id];
        p.name = std::move(name);
        p.args = std::move(args);
        p.result = result;
        if (self->open_ && self->ws_) self->send_action(id, p);
        if (result->ready()) self->pending_.erase(id);
        auto waiting = result->wait();
        co_return co_await std::move(waiting);
    }

    void post_subscription(std::string event, bool subscribe) {
        asio::post(strand_, [self = shared_from_this(), event = std::move(event), subscribe]() mutable {
            if (!self->open_ || !self->ws_) return;  // sent after the next Init
            try {
                self->send(protocol::subscription_request{std::move(event), subscribe});
            } catch (const std::exception& e) {
                self->ctx_->log().warn("cannot send a subscription", {{"error", e.what()}});
            }
        });
    }

    void dispatch_event(const protocol::event_message& ev) {
        std::lock_guard cb(callback_mutex_);
        std::vector<std::function<void(const array&)>> targets;
        bool emptied = false;
        {
            std::lock_guard lock(mutex_);
            bool had = false;
            for (auto it = listeners_.begin(); it != listeners_.end();) {
                if (it->second.event == ev.name) {
                    had = true;
                    targets.push_back(it->second.fn);
                    if (it->second.once) {
                        it = listeners_.erase(it);
                        continue;
                    }
                }
                ++it;
            }
            emptied = had && !has_listener_locked(ev.name);
        }
        if (emptied) post_subscription(ev.name, false);
        for (auto& fn : targets) {
            try {
                fn(ev.args);
            } catch (const std::exception& e) {
                ctx_->log().error("event listener threw", {{"event", ev.name}, {"error", e.what()}});
            } catch (...) {
                ctx_->log().error("event listener threw", {{"event", ev.name}});
            }
        }
    }

    void notify_error(const client_error& e) {
        std::lock_guard cb(callback_mutex_);
        std::vector<std::function<void(const client_error&)>> cbs;
        {
            std::lock_guard lock(mutex_);
            cbs = error_listeners_;
        }
        for (auto& f : cbs) {
            try {
                f(e);
            } catch (...) {
            }
        }
    }

    void set_status(connection_status s) {
        std::lock_guard cb(callback_mutex_);
        std::vector<std::function<void(connection_status)>> cbs;
        {
            std::lock_guard lock(mutex_);
            if (status_ == connection_status::disposed || status_ == s) return;
            status_ = s;
            cbs = status_listeners_;
        }
        for (auto& f : cbs) {
            try {
                f(s);
            } catch (...) {
            }
        }
    }

    /// Lost for good: every action fails with `why`, and so does every later call.
    void lose(const client_error& why) {
        lost_ = as_exception(why);
        fail_all(why);
        attempt_->set_exception(lost_);
        ctx_->log().warn("connection lost for good", {{"actor", query_.name}, {"group", why.group}, {"code", why.code},
                                                      {"message", why.message}});
    }

    void fail_all(const client_error& why) {
        auto pending = std::move(pending_);
        pending_.clear();
        for (auto& [id, p] : pending) p.result->set_exception(as_exception(why));
    }

    /// After the io_context stopped for good (no handler runs any more): completes every
    /// oneshot a coroutine of this connection may be parked on, so those coroutines are queued
    /// and destroyed with the io_context instead of leaking through a cycle (connection ->
    /// oneshot -> parked coroutine -> connection).
    void abandon() {
        finish_disposed();
        ws_.reset();
    }

    void finish_disposed() {
        disposed_ = true;
        if (timer_) timer_->cancel();
        if (init_timer_) init_timer_->cancel();
        const client_error why{"client", "disposed", "The connection was disposed", {}, 500};
        fail_all(why);
        attempt_->set_exception(as_exception(why));
        if (!lost_) lost_ = as_exception(why);
        if (ws_) ws_->close(1000, "Disposed");
        // The loop waits for the close (on_socket_closed) or its timer; wake it now.
        if (closed_) closed_->set_value();
    }

    std::shared_ptr<remote_context> ctx_;
    asio::strand<asio::any_io_executor> strand_;
    actor_query query_;
    value params_;

    mutable std::mutex mutex_;
    std::map<std::uint64_t, listener> listeners_;
    std::uint64_t next_listener_ = 0;
    std::vector<std::function<void(const client_error&)>> error_listeners_;
    std::vector<std::function<void(connection_status)>> status_listeners_;
    std::recursive_mutex callback_mutex_;  // held while user callbacks run
    connection_status status_ = connection_status::connecting;
    std::string conn_id_;

    // strand only
    std::shared_ptr<net::websocket_session> ws_;
    std::uint64_t generation_ = 0;
    bool open_ = false;  // Init received on ws_
    bool opened_in_generation_ = false;
    bool disposed_ = false;
    std::exception_ptr lost_;
    std::uint16_t close_code_ = 0;
    std::string close_reason_;
    std::shared_ptr<oneshot<void>> closed_;
    std::shared_ptr<oneshot<void>> attempt_;
    std::map<std::uint64_t, pending_action> pending_;
    std::uint64_t next_action_id_ = 0;
    std::shared_ptr<asio::steady_timer> timer_;
    std::shared_ptr<asio::steady_timer> init_timer_;
    std::mt19937 rng_;
};

// ---- the transport ------------------------------------------------------------------------------

namespace {

net::url parse_endpoint(const std::string& endpoint) {
    std::string why;
    auto u = net::parse_url(endpoint, &why);
    if (!u) client_fail("invalid_endpoint", fmt::format("invalid endpoint \"{}\": {}", endpoint, why));
    return *u;
}

/// Keeps the client's io threads (and so the socket's io_context) alive as long as the user
/// holds the socket.
struct websocket_holder {
    std::shared_ptr<io_runtime> runtime;
    std::shared_ptr<net::websocket_session> socket;
};

task<std::shared_ptr<websocket>> open_raw_websocket(std::shared_ptr<remote_context> ctx,
                                                    std::shared_ptr<io_runtime> runtime, actor_query q, value params,
                                                    std::string path) {
    auto resolving = ctx->resolve(std::move(q));
    const std::string id = co_await std::move(resolving);
    std::string query;
    if (auto pos = path.find('?'); pos != std::string::npos) {
        query = path.substr(pos);
        path.resize(pos);
    }
    while (!path.empty() && path.front() == '/') path.erase(path.begin());
    std::string rest = "/websocket";
    if (!path.empty()) rest += "/" + path;
    rest += query;
    auto protocols = ctx->protocols(protocol::encoding::bare, params);
    auto opening = ctx->open_socket(id, std::move(rest), std::move(protocols), protocol::encoding::json);
    auto ws = co_await std::move(opening);
    ws->start();
    auto holder = std::make_shared<websocket_holder>(websocket_holder{std::move(runtime), ws});
    co_return std::shared_ptr<websocket>(holder, ws.get());
}

task<std::string> resolve_on(std::shared_ptr<remote_context> ctx, actor_query q) {
    auto r = ctx->resolve(std::move(q));
    co_return co_await std::move(r);
}
task<value> action_on(std::shared_ptr<remote_context> ctx, actor_query q, value params, std::string name, array args) {
    auto r = ctx->action(std::move(q), std::move(params), std::move(name), std::move(args));
    co_return co_await std::move(r);
}
task<http_response> fetch_on(std::shared_ptr<remote_context> ctx, actor_query q, value params, http_request req) {
    auto r = ctx->fetch(std::move(q), std::move(params), std::move(req));
    co_return co_await std::move(r);
}

}  // namespace

remote_transport::remote_transport(client_options options) {
    options = resolve_client_options(std::move(options));
    if (options.reconnect.multiplier < 1.0 || options.reconnect.initial_delay.count() < 0 ||
        options.reconnect.max_delay < options.reconnect.initial_delay) {
        client_fail("invalid_option", "reconnect: need multiplier >= 1 and 0 <= initial_delay <= max_delay");
    }
    auto endpoint = parse_endpoint(options.endpoint);
    runtime_ = std::make_shared<io_runtime>(options.io_threads);
    ctx_ = std::make_shared<remote_context>(std::move(options), std::move(endpoint), runtime_->executor());
}

remote_transport::~remote_transport() {
    std::vector<std::shared_ptr<remote_connection>> conns;
    {
        std::lock_guard lock(mutex_);
        for (auto& w : connections_) {
            if (auto c = w.lock()) conns.push_back(std::move(c));
        }
        connections_.clear();
    }
    for (auto& c : conns) c->dispose();
    ctx_->http().close_idle();
    if (runtime_.use_count() == 1) {
        // Nobody else (no raw websocket) keeps the io threads: stop them now, then release
        // what coroutines parked on the connections' oneshots hold.
        runtime_->stop();
        for (auto& c : conns) c->abandon();
        ctx_->abandon();
    }
    conns.clear();
    ctx_.reset();
    // runtime_ goes last (member order): the io_context is destroyed with every queued handler.
}

std::string remote_transport::endpoint() const {
    const auto u = ctx_->endpoint();
    return u.origin() + u.base_path;
}

task<std::string> remote_transport::resolve(actor_query query) {
    auto work = resolve_on(ctx_, std::move(query));
    auto op = asio::co_spawn(ctx_->executor(), std::move(work), asio::use_awaitable);
    co_return co_await std::move(op);
}

task<value> remote_transport::action(actor_query query, value params, std::string name, array args) {
    auto work = action_on(ctx_, std::move(query), std::move(params), std::move(name), std::move(args));
    auto op = asio::co_spawn(ctx_->executor(), std::move(work), asio::use_awaitable);
    co_return co_await std::move(op);
}

task<http_response> remote_transport::fetch(actor_query query, value params, http_request request) {
    auto work = fetch_on(ctx_, std::move(query), std::move(params), std::move(request));
    auto op = asio::co_spawn(ctx_->executor(), std::move(work), asio::use_awaitable);
    co_return co_await std::move(op);
}

task<std::shared_ptr<websocket>> remote_transport::open_websocket(actor_query query, value params, std::string path) {
    auto work = open_raw_websocket(ctx_, runtime_, std::move(query), std::move(params), std::move(path));
    auto op = asio::co_spawn(ctx_->executor(), std::move(work), asio::use_awaitable);
    co_return co_await std::move(op);
}

std::shared_ptr<client_connection> remote_transport::connect(actor_query query, value params) {
    auto c = std::make_shared<remote_connection>(ctx_, std::move(query), std::move(params));
    c->start();
    std::lock_guard lock(mutex_);
    std::erase_if(connections_, [](const auto& w) { return w.expired(); });
    connections_.push_back(c);
    return c;
}

void remote_transport::block(task<void> t) {
    if (runtime_->on_own_thread() || rivetkit::on_io_thread()) {
        throw blocking_call_error(
            "rivetkit: blocking client call on an io thread or inside a client callback would deadlock; use the "
            "async_* form with co_await");
    }
    auto result = oneshot<void>::make();
    asio::co_spawn(runtime_->executor(), std::move(t), [result](std::exception_ptr e) {
        if (e) {
            result->set_exception(e);
        } else {
            result->set_value();
        }
    });
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    result->on_ready([&] {
        std::lock_guard lock(m);
        done = true;
        cv.notify_all();
    });
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return done; });
    result->get();
}

void remote_transport::dispose() {
    std::vector<std::weak_ptr<remote_connection>> conns;
    {
        // Kept in the list: the destructor still needs them (see ~remote_transport).
        std::lock_guard lock(mutex_);
        std::erase_if(connections_, [](const auto& w) { return w.expired(); });
        conns = connections_;
    }
    for (auto& w : conns) {
        if (auto c = w.lock()) c->dispose();
    }
}

}  // namespace rivetkit::detail

namespace rivetkit {

client create_client(client_options options) {
    return client(std::make_shared<detail::remote_transport>(std::move(options)));
}

client create_client(std::string endpoint) {
    client_options o;
    o.endpoint = std::move(endpoint);
    return create_client(std::move(o));
}

}  // namespace rivetkit
