#include "engine_host.hpp"

// GCC 12 at -O2 reports asio's awaitable frames (allocated and freed by asio's own operator
// new/delete pair) as mismatched in some coroutines: a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "common/base64.hpp"
#include "protocol/client_protocol.hpp"
#include "rivetkit/ids.hpp"
#include "rivetkit/client.hpp"
#include "rivetkit/detail/instance.hpp"
#include "rivetkit/detail/registry_core.hpp"
#include "rivetkit/drivers/engine.hpp"
#include "rivetkit/error.hpp"
#include "rivetkit/local_host.hpp"
#include "router/router.hpp"
#include "router/sockets.hpp"

namespace rivetkit::engine {

namespace rp = runner_protocol;
using detail::oneshot;

namespace {

// The engine's KV limits (engine-protocol.md §5.1).
constexpr std::size_t kv_max_keys = 128;
constexpr std::size_t kv_max_key_bytes = 2046;
constexpr std::size_t kv_max_value_bytes = 128 * 1024;
constexpr std::size_t kv_max_put_payload = 976 * 1024;
/// Entries per list request; a full page asks for the next one.
constexpr std::uint64_t kv_list_page = 16'384;

std::exception_ptr engine_error(std::string code, std::string message) {
    return std::make_exception_ptr(rivetkit::error("engine", std::move(code), std::move(message), {}, true));
}

void check_key(const bytes& key) {
    if (key.size() > kv_max_key_bytes) {
        std::rethrow_exception(engine_error(
            "kv_key_too_large", fmt::format("a KV key is {} bytes; the engine allows {}", key.size(), kv_max_key_bytes)));
    }
}

/// A path without its trailing '/'.
std::string_view trim_path(std::string_view p) {
    while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
    return p;
}

std::uint64_t request_key(const rp::message_id& id) {
    std::uint64_t k = 0;
    for (auto b : id.gateway_id) k = (k << 8) | b;
    for (auto b : id.request_id) k = (k << 8) | b;
    return k;
}

template <class T>
T expect_response(rp::kv_response_data data, const char* what) {
    if (auto* r = std::get_if<T>(&data)) return std::move(*r);
    std::rethrow_exception(engine_error("kv_error", fmt::format("the engine answered a KV {} with another kind", what)));
}

bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }
std::string to_string(const bytes& b) { return std::string(b.begin(), b.end()); }

/// Lower-cased names, repeated headers joined with ", " (the protocol's header map has unique
/// keys).
rp::string_map<std::string> header_map(const http_headers& headers) {
    rp::string_map<std::string> out;
    for (const auto& [name, v] : headers) {
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == lower; });
        if (it == out.end()) {
            out.emplace_back(std::move(lower), v);
        } else {
            it->second += ", ";
            it->second += v;
        }
    }
    return out;
}

/// A tunnelled request as the router sees it: the path split from its query.
http_request make_request(std::string method, const std::string& path_and_query, const rp::string_map<std::string>& headers) {
    http_request r;
    r.method = std::move(method);
    auto q = path_and_query.find('?');
    r.path = path_and_query.substr(0, q);
    if (r.path.empty() || r.path.front() != '/') r.path.insert(r.path.begin(), '/');
    if (q != std::string::npos) r.query = path_and_query.substr(q + 1);
    r.headers.assign(headers.begin(), headers.end());
    return r;
}

rp::to_server_tunnel_message tunnel_message(const rp::message_id& base, std::uint16_t index,
                                            rp::to_server_tunnel_message_kind kind) {
    rp::to_server_tunnel_message m;
    m.message_id = base;
    m.message_id.message_index = index;
    m.message_kind = std::move(kind);
    return m;
}

rp::to_server_response_start response_start(http_response res) {
    rp::to_server_response_start start;
    start.status = static_cast<std::uint16_t>(res.status);
    if (!res.header("content-length")) res.headers.emplace_back("content-length", std::to_string(res.body.size()));
    start.headers = header_map(res.headers);
    if (!res.body.empty()) start.body = to_bytes(res.body);
    start.stream = false;
    return start;
}

}  // namespace

// ---- tunnelled WebSockets -------------------------------------------------------------------

/// The runner's end of a WebSocket the gateway opened: frames become tunnel messages with this
/// request's message indexes; callbacks run on a strand of their own. A socket of a RivetKit
/// connection can hibernate (engine-protocol.md §4.4): client messages then carry indexes that
/// must follow each other (a resent one already seen is dropped, a gap closes the socket), and
/// the actor acknowledges them once persisted.
class tunnel_websocket final : public websocket,
                               public detail::hibernatable_socket,
                               public std::enable_shared_from_this<tunnel_websocket> {
public:
    tunnel_websocket(std::weak_ptr<engine_host> host, std::weak_ptr<runner_connection> conn, std::uint64_t runner,
                     rp::message_id id, asio::any_io_executor executor)
        : host_(std::move(host)),
          conn_(std::move(conn)),
          runner_(runner),
          id_(id),
          strand_(asio::make_strand(executor)) {}

    void send(std::string_view text) override { send_frame(to_bytes(text), false); }
    void send_binary(std::span<const std::uint8_t> data) override {
        send_frame(bytes(data.begin(), data.end()), true);
    }
    void close(std::uint16_t code, std::string_view reason) override {
        {
            std::lock_guard lock(mutex_);
            if (closed_ || hibernated_) return;
            closed_ = true;
            rp::to_server_web_socket_close c;
            c.code = code;
            if (!reason.empty()) c.reason = std::string(reason);
            c.hibernate = false;
            send_locked(std::move(c));
        }
        finish(code, std::string(reason));
    }
    [[nodiscard]] bool is_open() const override {
        std::lock_guard lock(mutex_);
        return opened_ && !closed_;
    }

    /// The open succeeded: ToServerWebSocketOpen (index 0).
    void opened(bool can_hibernate) {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        opened_ = true;
        can_hibernate_ = can_hibernate;
        rp::to_server_web_socket_open o;
        o.can_hibernate = can_hibernate;
        send_locked(o);
    }
    /// A hibernated socket coming back with its actor: open, without a new open message, with
    /// the indexes its connection persisted.
    void restored(std::uint16_t server_index, std::uint16_t client_index) {
        std::lock_guard lock(mutex_);
        opened_ = true;
        can_hibernate_ = true;
        next_index_ = server_index;
        last_client_index_ = client_index;
    }
    /// The open failed: close without an open (the gateway reroutes or closes the client).
    void refuse(std::uint16_t code, std::string reason) {
        close(code, reason);
    }
    /// A frame from the client, the request's message `index`.
    void deliver(websocket_message m, std::uint16_t index) {
        bool gap = false;
        {
            std::lock_guard lock(mutex_);
            if (closed_ || hibernated_) return;
            if (can_hibernate_) {
                if (!detail::index_after(index, last_client_index_)) return;  // resent, already handled
                gap = index != static_cast<std::uint16_t>(last_client_index_ + 1);
                if (!gap) {
                    last_client_index_ = index;
                    pending_indexes_.push_back(index);
                }
            }
        }
        if (gap) {
            close(1008, "ws.message_index_skip");
            return;
        }
        asio::post(strand_, [self = shared_from_this(), m = std::move(m)] { self->emit_message(m); });
    }
    /// The client (or gateway) closed: no close is sent back.
    void remote_closed(std::uint16_t code, std::string reason) {
        {
            std::lock_guard lock(mutex_);
            if (closed_ || hibernated_) return;
            closed_ = true;
        }
        finish(code, std::move(reason));
    }
    [[nodiscard]] engine_host::tunnel_key key() const noexcept { return {runner_, request_key(id_)}; }

    // detail::hibernatable_socket
    [[nodiscard]] bool can_hibernate() const noexcept override {
        std::lock_guard lock(mutex_);
        return can_hibernate_;
    }
    [[nodiscard]] bytes gateway_id() const override { return bytes(id_.gateway_id.begin(), id_.gateway_id.end()); }
    [[nodiscard]] bytes request_id() const override { return bytes(id_.request_id.begin(), id_.request_id.end()); }
    [[nodiscard]] std::uint16_t server_message_index() const override {
        std::lock_guard lock(mutex_);
        return next_index_;
    }
    std::uint16_t take_message_index() override {
        std::lock_guard lock(mutex_);
        if (pending_indexes_.empty()) return last_client_index_;
        auto index = pending_indexes_.front();
        pending_indexes_.pop_front();
        return index;
    }
    void acknowledge(std::uint16_t index) override {
        std::lock_guard lock(mutex_);
        if (closed_ || !can_hibernate_) return;
        send_locked(rp::to_server_web_socket_message_ack{index});
    }
    /// No client frame is taken any more (the gateway resends what was not acknowledged), and
    /// the socket is never closed from here: the gateway keeps the client connected. What the
    /// stopping actor still sends (replies of actions under way, acknowledgements of its final
    /// save) goes out until the actor reports Stopped.
    void hibernate() override {
        {
            std::lock_guard lock(mutex_);
            if (closed_ || hibernated_) return;
            hibernated_ = true;
        }
        if (auto host = host_.lock()) host->forget_socket(key());
        drop_message_handler();
    }

protected:
    void run_on_executor(std::function<void()> fn) override {
        asio::post(strand_, [self = shared_from_this(), fn = std::move(fn)] { fn(); });
    }

private:
    void send_frame(bytes data, bool binary) {
        std::lock_guard lock(mutex_);
        if (closed_ || !opened_) return;
        rp::to_server_web_socket_message m;
        m.data = std::move(data);
        m.binary = binary;
        send_locked(std::move(m));
    }
    /// With mutex_ held: the next index, sent in index order.
    void send_locked(rp::to_server_tunnel_message_kind kind) {
        if (auto conn = conn_.lock()) conn->send_tunnel_message(tunnel_message(id_, next_index_++, std::move(kind)));
    }
    void finish(std::uint16_t code, std::string reason) {
        if (auto host = host_.lock()) host->forget_socket(key());
        asio::post(strand_, [self = shared_from_this(), code, reason = std::move(reason)] {
            self->emit_close(code, reason);
        });
    }

    std::weak_ptr<engine_host> host_;
    std::weak_ptr<runner_connection> conn_;
    std::uint64_t runner_;
    rp::message_id id_;
    asio::strand<asio::any_io_executor> strand_;
    mutable std::mutex mutex_;
    std::uint16_t next_index_ = 0;
    bool opened_ = false;
    bool closed_ = false;
    bool can_hibernate_ = false;
    bool hibernated_ = false;
    /// Hibernatable: the index of the newest client message accepted (0: the open), and those
    /// handed to the handler and not taken yet.
    std::uint16_t last_client_index_ = 0;
    std::deque<std::uint16_t> pending_indexes_;
};

// ---- connection callbacks -------------------------------------------------------------------

class engine_host::handler final : public runner_handler {
public:
    handler(std::weak_ptr<engine_host> host, std::uint64_t serial) : host_(std::move(host)), serial_(serial) {}
    void on_connected(const std::string& runner_id, bool runner_id_changed) override {
        if (auto h = host_.lock()) {
            h->log_.info("connected to the engine", {{"runnerId", runner_id}});
            if (runner_id_changed) h->on_runner_gone(serial_, "the engine gave this runner a new id");
            h->on_connected(serial_, runner_id);
        }
    }
    void on_disconnected(std::uint16_t code, const std::string& reason) override {
        auto h = host_.lock();
        if (!h) return;
        // Serverless runners end with an eviction after the engine drains them.
        bool expected = h->options_.serverless && reason.starts_with("ws.eviction");
        {
            std::lock_guard lock(h->mutex_);
            auto it = h->runners_.find(serial_);
            expected = expected || h->shutting_down_ || (it != h->runners_.end() && it->second->stopping);
        }
        if (!expected) h->log_.warn("engine connection lost", {{"code", std::to_string(code)}, {"reason", reason}});
    }
    void on_lost() override {
        if (auto h = host_.lock()) h->on_runner_gone(serial_, "the engine connection stayed down past the lost threshold");
    }
    void on_command(const rp::command_wrapper& command) override {
        if (auto h = host_.lock()) h->on_command(serial_, command);
    }
    void on_tunnel_message(const rp::to_client_tunnel_message& message) override {
        if (auto h = host_.lock()) h->on_tunnel_message(serial_, message);
    }
    void on_closed(runner_close_reason reason, const std::string& detail) override {
        auto h = host_.lock();
        if (!h) return;
        if (reason == runner_close_reason::evicted) {
            // A serverless runner's normal end (the engine drained it); a takeover otherwise.
            if (h->options_.serverless) {
                h->log_.info("runner ended by the engine", {{"reason", detail}});
            } else {
                h->log_.warn("evicted by the engine", {{"reason", detail}});
            }
            h->on_runner_gone(serial_, "evicted by the engine");
        }
        h->on_runner_closed(serial_);
    }

private:
    std::weak_ptr<engine_host> host_;
    std::uint64_t serial_;
};

/// A runner the engine's serverless pool asked for: the registry's server streams its init
/// packet and pings while it lives.
class engine_host::serverless_handle final : public serverless_runner {
public:
    serverless_handle(std::weak_ptr<engine_host> host, std::uint64_t serial) : host_(std::move(host)), serial_(serial) {}
    /// The request is over (normally after the runner ended): a runner still going, e.g. when
    /// the response never started streaming, stops.
    ~serverless_handle() override { stop(); }
    serverless_handle(const serverless_handle&) = delete;
    serverless_handle& operator=(const serverless_handle&) = delete;

    [[nodiscard]] std::optional<std::string> init_payload() const override {
        std::string runner_id;
        if (auto h = host_.lock()) {
            std::lock_guard lock(h->mutex_);
            auto it = h->runners_.find(serial_);
            if (it != h->runners_.end()) runner_id = it->second->runner_id;
        }
        if (runner_id.empty()) return std::nullopt;
        rp::to_serverless_server init{rp::to_serverless_server_init{runner_id, rp::protocol_version}};
        return base64_encode(rp::encode_to_serverless_server(init));
    }
    [[nodiscard]] bool ended() const override {
        auto h = host_.lock();
        if (!h) return true;
        std::lock_guard lock(h->mutex_);
        auto it = h->runners_.find(serial_);
        return it == h->runners_.end() || it->second->ended;
    }
    void set_observer(std::function<void()> fn) override {
        if (auto h = host_.lock()) {
            std::lock_guard lock(h->mutex_);
            auto it = h->runners_.find(serial_);
            if (it != h->runners_.end()) it->second->observer = std::move(fn);
        }
    }
    void stop() override {
        if (auto h = host_.lock()) asio::co_spawn(h->env_.executor, h->stop_runner(serial_), asio::detached);
    }

private:
    std::weak_ptr<engine_host> host_;
    std::uint64_t serial_;
};

// ---- construction ---------------------------------------------------------------------------

engine_host::engine_host(const driver_env& env, runner_connection_options connection, host_options options)
    : env_(env), connection_options_(std::move(connection)), options_(std::move(options)) {
    connection_options_.clock = env_.clock;
    if (connection_options_.actor_names.empty()) {
        for (const auto& name : env_.registry->actor_names()) {
            connection_options_.actor_names.emplace_back(name, rp::actor_name{"{}"});
        }
    }
    router_ = std::make_shared<detail::router>(*env_.registry, options_.routing);
}

engine_host::~engine_host() {
    std::lock_guard lock(mutex_);
    for (auto& [id, e] : entries_) {
        if (e.alarm) e.alarm->cancel();
    }
}

std::shared_ptr<runner_connection> engine_host::connection() const {
    std::lock_guard lock(mutex_);
    auto it = runners_.find(normal_runner_);
    return it == runners_.end() ? nullptr : it->second->conn;
}

std::size_t engine_host::runner_count() const {
    std::lock_guard lock(mutex_);
    return runners_.size();
}

std::shared_ptr<runner_connection> engine_host::conn_of(const std::string& actor_id) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(actor_id);
    return it == entries_.end() ? nullptr : it->second.conn;
}

bool engine_host::has_actors_locked(std::optional<std::uint64_t> serial) const {
    if (!serial) return !entries_.empty();
    return std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) { return e.second.runner == *serial; });
}

std::shared_ptr<oneshot<void>> engine_host::idle_waiter(std::optional<std::uint64_t> serial) {
    auto waiter = oneshot<void>::make();
    std::lock_guard lock(mutex_);
    if (!has_actors_locked(serial)) {
        waiter->set_value();
    } else {
        idle_waiters_.emplace_back(serial, waiter);
    }
    return waiter;
}

task<void> engine_host::idle() {
    auto waiter = idle_waiter(std::nullopt);
    co_await waiter->wait();
}

std::size_t engine_host::running_count() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(),
                                                  [](const auto& e) { return e.second.state == phase::running; }));
}

void engine_host::collect_ended_locked(std::vector<std::shared_ptr<oneshot<void>>>& waiters,
                                       std::vector<std::function<void()>>& observers) {
    for (auto it = runners_.begin(); it != runners_.end();) {
        runner_slot& slot = *it->second;
        if (!slot.closed || has_actors_locked(slot.serial)) {
            ++it;
            continue;
        }
        slot.ended = true;
        for (auto& w : slot.ended_waiters) waiters.push_back(std::move(w));
        if (slot.observer) observers.push_back(std::move(slot.observer));
        it = runners_.erase(it);
    }
}

void engine_host::after_erase() {
    std::vector<std::shared_ptr<oneshot<void>>> ready;
    std::vector<std::function<void()>> observers;
    {
        std::lock_guard lock(mutex_);
        for (auto it = idle_waiters_.begin(); it != idle_waiters_.end();) {
            if (has_actors_locked(it->first)) {
                ++it;
            } else {
                ready.push_back(std::move(it->second));
                it = idle_waiters_.erase(it);
            }
        }
        collect_ended_locked(ready, observers);
    }
    for (auto& w : ready) {
        if (!w->ready()) w->set_value();
    }
    for (auto& fn : observers) fn();
}

// ---- runners --------------------------------------------------------------------------------

std::shared_ptr<engine_host::runner_slot> engine_host::open_runner(runner_connection_options options) {
    auto slot = std::make_shared<runner_slot>();
    {
        std::lock_guard lock(mutex_);
        slot->serial = next_runner_++;
    }
    auto h = std::make_shared<handler>(weak_from_this(), slot->serial);
    log_.info("connecting to the engine", {{"endpoint", options.endpoint},
                                           {"namespace", options.namespace_name},
                                           {"runner", options.runner_name}});
    slot->conn = runner_connection::create(env_.executor, std::move(options), std::move(h));  // throws on a bad endpoint
    {
        std::lock_guard lock(mutex_);
        runners_[slot->serial] = slot;
    }
    slot->conn->start();
    return slot;
}

task<void> engine_host::start() {
    if (options_.serverless) co_return;  // the engine starts runners through GET /start
    {
        std::lock_guard lock(mutex_);
        if (normal_runner_ != 0) co_return;
        normal_runner_ = next_runner_;  // claimed before the connection exists (start() runs once)
    }
    auto slot = open_runner(connection_options_);
    std::lock_guard lock(mutex_);
    normal_runner_ = slot->serial;
}

std::shared_ptr<client> engine_host::make_client() {
    client_options o;
    o.endpoint = connection_options_.endpoint;
    o.token = connection_options_.token;
    o.namespace_name = connection_options_.namespace_name;
    o.runner_name = connection_options_.runner_name;  // actors it creates run on this pool
    return std::make_shared<client>(create_client(std::move(o)));
}

serverless_host* engine_host::serverless() noexcept { return options_.serverless ? this : nullptr; }

std::shared_ptr<serverless_runner> engine_host::start_serverless_runner(serverless_start_request request) {
    {
        std::lock_guard lock(mutex_);
        if (shutting_down_) {
            throw rivetkit::error("engine", "shutting_down", "the registry is stopping; it starts no more runners", {},
                                  true);
        }
    }
    runner_connection_options o = connection_options_;
    o.endpoint = std::move(request.endpoint);
    o.token = std::move(request.token);
    o.namespace_name = std::move(request.namespace_name);
    o.runner_name = std::move(request.runner_name);
    o.total_slots = request.total_slots;
    o.runner_key = random_uuid();  // a runner per request, as RivetKit does
    o.eviction_ends_runner = true;
    auto slot = open_runner(std::move(o));
    return std::make_shared<serverless_handle>(weak_from_this(), slot->serial);
}

void engine_host::on_connected(std::uint64_t serial, const std::string& runner_id) {
    std::function<void()> observer;
    {
        std::lock_guard lock(mutex_);
        auto it = runners_.find(serial);
        if (it == runners_.end()) return;
        it->second->runner_id = runner_id;
        observer = it->second->observer;
    }
    if (observer) observer();
}

void engine_host::on_runner_closed(std::uint64_t serial) {
    {
        std::lock_guard lock(mutex_);
        auto it = runners_.find(serial);
        if (it == runners_.end()) return;
        it->second->closed = true;
    }
    after_erase();
}

task<void> engine_host::runner_ended(std::uint64_t serial) {
    auto waiter = oneshot<void>::make();
    {
        std::lock_guard lock(mutex_);
        auto it = runners_.find(serial);
        if (it == runners_.end()) co_return;
        it->second->ended_waiters.push_back(waiter);
    }
    co_await waiter->wait();
}

task<void> engine_host::stop_runner(std::uint64_t serial) {
    std::shared_ptr<runner_connection> c;
    bool already = false;
    {
        std::lock_guard lock(mutex_);
        auto it = runners_.find(serial);
        if (it == runners_.end()) co_return;
        already = it->second->stopping;
        it->second->stopping = true;
        c = it->second->conn;
    }
    if (already) {
        // Another stop (shutdown, or the engine's request ending) is under way: wait for it.
        co_await runner_ended(serial);
        co_return;
    }
    // ToServerStopping; the engine answers with a StopActor per actor. Once they have all
    // stopped the connection may close.
    auto drained = idle_waiter(serial);
    drained->on_ready([c] { c->finish_shutdown(); });
    co_await c->shutdown(options_.drain_timeout);
    // Whatever the engine did not stop in time (or could not: the connection is gone) stops here.
    std::vector<std::pair<std::string, std::uint32_t>> left;
    {
        std::lock_guard lock(mutex_);
        for (auto& [id, e] : entries_) {
            if (e.runner != serial) continue;
            if (e.state == phase::running) left.emplace_back(id, e.generation);
            if (e.state == phase::starting) e.stop_after_start = pending_stop{stop_mode::sleep, std::nullopt, stop_report::none};
        }
    }
    for (auto& [id, generation] : left) co_await stop_flow(id, generation, stop_mode::sleep, stop_report::none);
    co_await runner_ended(serial);
}

task<void> engine_host::shutdown() {
    std::vector<std::uint64_t> serials;
    {
        std::lock_guard lock(mutex_);
        shutting_down_ = true;
        for (const auto& [serial, slot] : runners_) serials.push_back(serial);
    }
    // Every runner drains at once.
    std::vector<std::shared_ptr<oneshot<void>>> done;
    for (auto serial : serials) {
        auto d = oneshot<void>::make();
        done.push_back(d);
        asio::co_spawn(env_.executor, stop_runner(serial), [d](std::exception_ptr) { d->set_value(); });
    }
    for (auto& d : done) co_await d->wait();
    auto all = idle_waiter(std::nullopt);
    co_await all->wait();
}

// ---- commands -------------------------------------------------------------------------------

void engine_host::on_command(std::uint64_t serial, const rp::command_wrapper& command) {
    const auto& cp = command.checkpoint;
    if (const auto* start = std::get_if<rp::command_start_actor>(&command.inner)) {
        std::shared_ptr<runner_connection> c;
        {
            std::lock_guard lock(mutex_);
            auto slot = runners_.find(serial);
            if (shutting_down_ || slot == runners_.end() || slot->second->stopping) {
                log_.warn("ignoring an actor start during shutdown", {{"actorId", cp.actor_id}});
                return;
            }
            c = slot->second->conn;
            auto [it, inserted] = entries_.try_emplace(cp.actor_id);
            if (!inserted && it->second.generation >= cp.generation) {
                log_.debug("ignoring a start for a generation already seen", {{"actorId", cp.actor_id}});
                return;
            }
            if (inserted) {
                it->second.generation = cp.generation;
                it->second.state = phase::starting;
                it->second.runner = serial;
                it->second.conn = c;
                it->second.started = oneshot<std::shared_ptr<actor_instance>>::make();
            }
            // Otherwise an older generation is still here: start_flow stops it first.
        }
        asio::co_spawn(env_.executor,
                       start_flow(serial, std::move(c), cp.actor_id, cp.generation, start->config,
                                  start->hibernating_requests),
                       asio::detached);
        return;
    }
    // CommandStopActor.
    std::lock_guard lock(mutex_);
    auto it = entries_.find(cp.actor_id);
    if (it == entries_.end() || it->second.generation != cp.generation) return;  // already stopped
    entry& e = it->second;
    if (e.state == phase::starting) {
        e.stop_after_start = pending_stop{stop_mode::sleep, std::nullopt, stop_report::stopped};
        return;
    }
    if (e.state == phase::running) {
        auto id = cp.actor_id;
        auto generation = cp.generation;
        asio::post(env_.executor, [self = shared_from_this(), id, generation] {
            self->begin_stop(id, generation, stop_mode::sleep, stop_report::stopped);
        });
    }
}

task<void> engine_host::start_flow(std::uint64_t serial, std::shared_ptr<runner_connection> conn, std::string actor_id,
                                   std::uint32_t generation, rp::actor_config config,
                                   std::vector<rp::hibernating_request> hibernating) {
    // An older generation of the same actor still here (the engine moved on): stop it first.
    for (;;) {
        std::optional<std::uint32_t> stop_old;
        std::shared_ptr<oneshot<void>> stopped_wait;
        std::shared_ptr<oneshot<std::shared_ptr<actor_instance>>> started_wait;
        {
            std::lock_guard lock(mutex_);
            auto it = entries_.find(actor_id);
            if (it == entries_.end()) {
                entry& e = entries_[actor_id];
                e.generation = generation;
                e.state = phase::starting;
                e.runner = serial;
                e.conn = conn;
                e.started = oneshot<std::shared_ptr<actor_instance>>::make();
                break;
            }
            entry& e = it->second;
            if (e.generation == generation) break;  // made by on_command
            if (e.generation > generation) co_return;  // a newer start came meanwhile
            if (e.state == phase::running) {
                stop_old = e.generation;
            } else if (e.state == phase::stopping) {
                stopped_wait = e.stopped;
            } else {
                e.stop_after_start = pending_stop{stop_mode::sleep, std::nullopt, stop_report::none};
                started_wait = e.started;
            }
        }
        if (stop_old) {
            co_await stop_flow(actor_id, *stop_old, stop_mode::sleep, stop_report::none);
        } else if (stopped_wait) {
            co_await stopped_wait->wait();
        } else if (started_wait) {
            try {
                co_await started_wait->wait();
            } catch (...) {
            }
        }
    }

    std::shared_ptr<oneshot<std::shared_ptr<actor_instance>>> started;
    {
        std::lock_guard lock(mutex_);
        started = entries_[actor_id].started;
    }
    try {
        if (env_.registry->find_definition(config.name) == nullptr) {
            throw errors::actor_not_found(fmt::format("no actor named '{}' in this runner's registry", config.name));
        }
        actor_record rec;
        rec.actor_id = actor_id;
        rec.name = config.name;
        if (config.key) rec.key = deserialize_key(*config.key);
        rec.create_ts = config.create_ts;
        rec.generation = generation;

        std::vector<bytes> keys{bytes{1}};
        auto got = co_await kv_get(actor_id, std::move(keys));
        if (got.empty() || !got[0]) {
            // A new actor: its record from the creation input (CBOR, as RivetKit sends it).
            value input;
            if (config.input) input = protocol::decode_cbor_user_value(*config.input);
            auto initial = initial_actor_kv(input);
            co_await kv_put(actor_id, std::move(initial));
        }
        auto inst = env_.registry->make_instance(rec);
        auto starting = inst->start();  // named first (GCC 12 rule)
        co_await asio::co_spawn(inst->strand(), std::move(starting), asio::use_awaitable);
        // Before Running: the gateway resends what the hibernated sockets missed once it runs.
        asio::post(inst->strand(), [self = shared_from_this(), serial, conn, inst, hibernating = std::move(hibernating)] {
            self->restore_sockets(serial, conn, inst, hibernating);
        });
        co_await asio::post(inst->strand(), asio::use_awaitable);

        std::optional<pending_stop> stop_now;
        {
            std::lock_guard lock(mutex_);
            entry& e = entries_[actor_id];
            e.state = phase::running;
            e.instance = inst;
            e.create_ts = rec.create_ts;
            e.start_ts = env_.clock->now_ms();
            stop_now = e.stop_after_start;
            e.stop_after_start.reset();
        }
        rp::event_actor_state_update running{rp::actor_state_running{}};
        send_event(conn, actor_id, generation, running);
        started->set_value(inst);
        log_.debug("actor started", {{"actorId", actor_id}, {"generation", std::to_string(generation)}});
        if (stop_now) run_stop(conn, actor_id, generation, *stop_now);
    } catch (...) {
        auto err = std::current_exception();
        const std::string why = describe_exception(err);
        log_.error("actor failed to start", {{"actorId", actor_id}, {"error", why}});
        {
            std::lock_guard lock(mutex_);
            auto it = entries_.find(actor_id);
            if (it != entries_.end() && it->second.generation == generation) entries_.erase(it);
        }
        after_erase();
        rp::actor_state_stopped stopped;
        stopped.code = rp::stop_code::error;
        stopped.message = why;
        rp::event_actor_state_update update{stopped};
        send_event(conn, actor_id, generation, update);
        started->set_exception(err);
    }
}

void engine_host::begin_stop(const std::string& actor_id, std::uint32_t generation, stop_mode mode, stop_report report) {
    asio::co_spawn(env_.executor, stop_flow(actor_id, generation, mode, report), asio::detached);
}

task<void> engine_host::stop_flow(std::string actor_id, std::uint32_t generation, stop_mode mode, stop_report report) {
    std::shared_ptr<actor_instance> inst;
    std::shared_ptr<oneshot<void>> stopped;
    std::shared_ptr<runner_connection> conn;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(actor_id);
        if (it == entries_.end() || it->second.generation != generation) co_return;
        entry& e = it->second;
        if (e.state == phase::starting) {
            if (!e.stop_after_start) e.stop_after_start = pending_stop{mode, std::nullopt, report};
            co_return;
        }
        if (e.state == phase::stopping) co_return;
        e.state = phase::stopping;
        e.stopped = stopped = oneshot<void>::make();
        if (e.alarm) e.alarm->cancel();
        e.alarm.reset();
        inst = e.instance;
        conn = e.conn;
    }
    try {
        auto stopping = inst->stop(mode);  // named first (GCC 12 rule)
        co_await asio::co_spawn(inst->strand(), std::move(stopping), asio::use_awaitable);
    } catch (...) {
        inst->log().error("stopping actor failed", {{"error", describe_exception(std::current_exception())}});
    }
    // Answers to requests the actor was serving leave before the Stopped event (the gateway
    // retries a request whose actor stopped, and drops a late answer). The instance has stopped,
    // so what is left only finishes sending.
    co_await http_drained(actor_id);
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(actor_id);
        if (it != entries_.end() && it->second.generation == generation) entries_.erase(it);
    }
    if (report == stop_report::stopped) {
        rp::event_actor_state_update update{rp::actor_state_stopped{rp::stop_code::ok, std::nullopt}};
        send_event(conn, actor_id, generation, update);
    }
    // After the Stopped event: a draining runner may close once its last actor is gone.
    after_erase();
    stopped->set_value();
}

void engine_host::send_event(const std::shared_ptr<runner_connection>& conn, const std::string& actor_id,
                             std::uint32_t generation, rp::event ev) {
    if (conn) conn->send_event(actor_id, generation, std::move(ev));
}

void engine_host::on_runner_gone(std::uint64_t serial, const char* why) {
    std::vector<std::pair<std::string, std::uint32_t>> running;
    std::vector<std::shared_ptr<tunnel_websocket>> sockets;
    {
        std::lock_guard lock(mutex_);
        for (auto& [id, e] : entries_) {
            if (e.runner != serial) continue;
            if (e.state == phase::running) running.emplace_back(id, e.generation);
            if (e.state == phase::starting) e.stop_after_start = pending_stop{stop_mode::sleep, std::nullopt, stop_report::none};
        }
        for (auto& [k, s] : sockets_) {
            if (k.first == serial) sockets.push_back(s);
        }
        std::erase_if(http_in_flight_, [serial](const auto& p) { return p.first.first == serial; });
        std::erase_if(streaming_requests_, [serial](const auto& p) { return p.first.first == serial; });
    }
    if (!running.empty()) log_.warn("stopping this runner's actors", {{"why", why}, {"count", std::to_string(running.size())}});
    // Hibernatable sockets stay open at the gateway: they hibernate as their actors stop.
    for (auto& s : sockets) {
        if (!s->can_hibernate()) s->remote_closed(1011, "ws.tunnel_shutdown");
    }
    for (auto& [id, generation] : running) begin_stop(id, generation, stop_mode::sleep, stop_report::none);
}

// ---- intents and alarms ---------------------------------------------------------------------

void engine_host::start_sleep(const std::string& actor_id) {
    request_stop(actor_id, stop_mode::sleep, rp::actor_intent_sleep{});
}

void engine_host::start_destroy(const std::string& actor_id) {
    request_stop(actor_id, stop_mode::destroy, rp::actor_intent_stop{});
}

void engine_host::request_stop(const std::string& actor_id, stop_mode mode, rp::actor_intent intent) {
    pending_stop stop{mode, std::move(intent), stop_report::stopped};
    std::uint32_t generation = 0;
    std::shared_ptr<runner_connection> conn;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(actor_id);
        if (it == entries_.end() || it->second.state == phase::stopping) return;
        if (it->second.state == phase::starting) {
            // Without its intent a stop would read as a graceful exit (the engine destroys the
            // actor), so the intent waits with it for the start to finish.
            if (!it->second.stop_after_start) it->second.stop_after_start = std::move(stop);
            return;
        }
        generation = it->second.generation;
        conn = it->second.conn;
    }
    run_stop(conn, actor_id, generation, stop);
}

void engine_host::run_stop(const std::shared_ptr<runner_connection>& conn, const std::string& actor_id,
                           std::uint32_t generation, const pending_stop& stop) {
    if (stop.intent) send_event(conn, actor_id, generation, rp::event_actor_intent{*stop.intent});
    begin_stop(actor_id, generation, stop.mode, stop.report);
}

std::shared_ptr<rivetkit::timer> engine_host::arm_alarm(const std::string& actor_id, std::uint32_t generation,
                                                        std::int64_t timestamp_ms) {
    auto delay = milliseconds(timestamp_ms - env_.clock->now_ms());
    std::weak_ptr<engine_host> weak = weak_from_this();
    return env_.clock->start_timer(delay, env_.executor, [weak, actor_id, generation] {
        if (auto self = weak.lock()) {
            asio::co_spawn(self->env_.executor, self->alarm_flow(actor_id, generation), asio::detached);
        }
    });
}

task<void> engine_host::alarm_flow(std::string actor_id, std::uint32_t generation) {
    // A start under way finishes first (its own due-event run may already cover this alarm).
    auto inst = co_await find_running(actor_id);
    if (!inst) co_return;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(actor_id);
        if (it == entries_.end() || it->second.generation != generation || it->second.state != phase::running) {
            co_return;
        }
    }
    try {
        auto alarm = inst->on_alarm();  // named first (GCC 12 rule)
        co_await asio::co_spawn(inst->strand(), std::move(alarm), asio::use_awaitable);
    } catch (...) {
        log_.warn("alarm failed", {{"actorId", actor_id}, {"error", describe_exception(std::current_exception())}});
    }
}

task<void> engine_host::set_alarm(std::string actor_id, std::optional<std::int64_t> timestamp_ms) {
    std::uint32_t generation = 0;
    std::shared_ptr<runner_connection> conn;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(actor_id);
        if (it == entries_.end()) co_return;
        entry& e = it->second;
        generation = e.generation;
        conn = e.conn;
        if (e.alarm) e.alarm->cancel();
        e.alarm.reset();
        // While stopping only the engine's alarm matters (it wakes the actor when due).
        if (timestamp_ms && e.state != phase::stopping) e.alarm = arm_alarm(actor_id, generation, *timestamp_ms);
    }
    // The engine wakes the actor for it if it sleeps by then.
    rp::event_actor_set_alarm ev{timestamp_ms};
    send_event(conn, actor_id, generation, ev);
}

// ---- KV -------------------------------------------------------------------------------------

task<std::vector<std::optional<bytes>>> engine_host::kv_get(std::string actor_id, std::vector<bytes> keys) {
    auto c = conn_of(actor_id);
    if (!c) throw errors::actor_not_found(fmt::format("{} (not running on this runner)", actor_id));
    for (const auto& k : keys) check_key(k);
    std::vector<std::optional<bytes>> out(keys.size());
    for (std::size_t first = 0; first < keys.size(); first += kv_max_keys) {
        const std::size_t last = std::min(keys.size(), first + kv_max_keys);
        rp::kv_get_request req;
        req.keys.assign(keys.begin() + static_cast<std::ptrdiff_t>(first), keys.begin() + static_cast<std::ptrdiff_t>(last));
        rp::kv_request_data data = std::move(req);
        auto answer = co_await c->kv(actor_id, std::move(data));
        auto got = expect_response<rp::kv_get_response>(std::move(answer), "get");
        // Only existing keys come back: match them by bytes.
        std::map<bytes, std::size_t, bytes_less> where;
        for (std::size_t i = first; i < last; ++i) where.emplace(keys[i], i);
        for (std::size_t i = 0; i < got.keys.size() && i < got.values.size(); ++i) {
            if (auto it = where.find(got.keys[i]); it != where.end()) out[it->second] = std::move(got.values[i]);
        }
    }
    co_return out;
}

task<void> engine_host::kv_put(std::string actor_id, std::vector<kv_entry> entries) {
    auto c = conn_of(actor_id);
    if (!c) throw errors::actor_not_found(fmt::format("{} (not running on this runner)", actor_id));
    for (const auto& [k, v] : entries) {
        check_key(k);
        if (v.size() > kv_max_value_bytes) {
            std::rethrow_exception(engine_error("kv_value_too_large",
                                                fmt::format("a KV value is {} bytes; the engine allows {} (128 KiB)",
                                                            v.size(), kv_max_value_bytes)));
        }
    }
    // Batches within the key count and payload limits. (Several batches are not one atomic
    // write: the engine has no multi-request transaction.)
    std::size_t i = 0;
    while (i < entries.size()) {
        rp::kv_put_request req;
        std::size_t payload = 0;
        while (i < entries.size() && req.keys.size() < kv_max_keys) {
            const std::size_t size = entries[i].first.size() + 2 + entries[i].second.size();
            if (!req.keys.empty() && payload + size > kv_max_put_payload) break;
            payload += size;
            req.keys.push_back(std::move(entries[i].first));
            req.values.push_back(std::move(entries[i].second));
            ++i;
        }
        rp::kv_request_data data = std::move(req);
        auto answer = co_await c->kv(actor_id, std::move(data));
        (void)expect_response<rp::kv_put_response>(std::move(answer), "put");
    }
}

task<void> engine_host::kv_delete(std::string actor_id, std::vector<bytes> keys) {
    auto c = conn_of(actor_id);
    if (!c) throw errors::actor_not_found(fmt::format("{} (not running on this runner)", actor_id));
    for (const auto& k : keys) check_key(k);
    for (std::size_t first = 0; first < keys.size(); first += kv_max_keys) {
        const std::size_t last = std::min(keys.size(), first + kv_max_keys);
        rp::kv_delete_request req;
        req.keys.assign(keys.begin() + static_cast<std::ptrdiff_t>(first), keys.begin() + static_cast<std::ptrdiff_t>(last));
        rp::kv_request_data data = std::move(req);
        auto answer = co_await c->kv(actor_id, std::move(data));
        (void)expect_response<rp::kv_delete_response>(std::move(answer), "delete");
    }
}

task<std::vector<kv_entry>> engine_host::kv_list_prefix(std::string actor_id, bytes prefix) {
    auto c = conn_of(actor_id);
    if (!c) throw errors::actor_not_found(fmt::format("{} (not running on this runner)", actor_id));
    check_key(prefix);
    std::vector<kv_entry> out;
    std::optional<bytes> after;  // the last key of the previous page
    for (;;) {
        rp::kv_list_request req;
        if (!after) {
            if (prefix.empty()) {
                req.query = rp::kv_list_all_query{};
            } else {
                req.query = rp::kv_list_prefix_query{prefix};
            }
        } else {
            // The next page: from just after the last key (start inclusive), to the end of the
            // prefix's range.
            rp::kv_list_range_query range;
            range.start = *after;
            range.start.push_back(0);
            bytes end = prefix;
            while (!end.empty() && end.back() == 0xff) end.pop_back();
            if (end.empty()) {
                end.assign(kv_max_key_bytes, 0xff);
                range.exclusive = false;
            } else {
                ++end.back();
                range.exclusive = true;
            }
            range.end = std::move(end);
            req.query = std::move(range);
        }
        req.limit = kv_list_page;
        rp::kv_request_data data = std::move(req);
        auto answer = co_await c->kv(actor_id, std::move(data));
        auto page = expect_response<rp::kv_list_response>(std::move(answer), "list");
        const std::size_t n = std::min(page.keys.size(), page.values.size());
        for (std::size_t i = 0; i < n; ++i) out.emplace_back(std::move(page.keys[i]), std::move(page.values[i]));
        if (n < kv_list_page) break;
        after = out.back().first;
    }
    co_return out;
}

// ---- manager --------------------------------------------------------------------------------

actor_record engine_host::record_of(const entry& e) {
    actor_record rec;
    rec.actor_id = e.instance->actor_id();
    rec.name = e.instance->name();
    rec.key = e.instance->key();
    rec.create_ts = e.create_ts;
    rec.start_ts = rec.connectable_ts = e.start_ts;
    rec.generation = e.generation;
    return rec;
}

task<std::optional<actor_record>> engine_host::get_for_id(std::string actor_id) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(actor_id);
    if (it == entries_.end() || it->second.state != phase::running) co_return std::nullopt;
    co_return record_of(it->second);
}

task<std::optional<actor_record>> engine_host::get_with_key(std::string name, actor_key key) {
    std::lock_guard lock(mutex_);
    for (const auto& [id, e] : entries_) {
        if (e.state == phase::running && e.instance->name() == name && e.instance->key() == key) co_return record_of(e);
    }
    co_return std::nullopt;
}

task<actor_record> engine_host::get_or_create_with_key(create_request request) {
    (void)request;
    throw errors::unsupported(
        "the engine creates actors: use registry.client() or c.client() (clients of the engine)");
}

task<actor_record> engine_host::create_actor(create_request request) {
    (void)request;
    throw errors::unsupported(
        "the engine creates actors: use registry.client() or c.client() (clients of the engine)");
}

task<std::vector<actor_record>> engine_host::list_actors(std::string name) {
    std::vector<actor_record> out;
    std::lock_guard lock(mutex_);
    for (const auto& [id, e] : entries_) {
        if (e.state == phase::running && e.instance->name() == name) out.push_back(record_of(e));
    }
    co_return out;
}

task<void> engine_host::destroy_actor(std::string actor_id) {
    auto inst = co_await load_actor(actor_id);
    inst->request_destroy();
}

task<std::shared_ptr<actor_instance>> engine_host::find_running(std::string actor_id) {
    std::shared_ptr<oneshot<std::shared_ptr<actor_instance>>> started;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(actor_id);
        if (it == entries_.end() || it->second.state == phase::stopping) co_return nullptr;
        if (it->second.state == phase::running) co_return it->second.instance;
        started = it->second.started;
    }
    try {
        co_return co_await started->wait();
    } catch (...) {
        co_return nullptr;
    }
}

task<std::shared_ptr<actor_instance>> engine_host::load_actor(std::string actor_id) {
    auto inst = co_await find_running(actor_id);
    if (!inst) throw errors::actor_not_found(fmt::format("{} (not running on this runner)", actor_id));
    co_return inst;
}

// ---- tunnel ---------------------------------------------------------------------------------

void engine_host::forget_socket(tunnel_key key) {
    std::lock_guard lock(mutex_);
    sockets_.erase(key);
}

void engine_host::on_tunnel_message(std::uint64_t serial, const rp::to_client_tunnel_message& message) {
    const tunnel_key key{serial, request_key(message.message_id)};
    const auto& kind = message.message_kind;
    std::shared_ptr<runner_connection> conn;
    {
        std::lock_guard lock(mutex_);
        auto it = runners_.find(serial);
        if (it == runners_.end()) return;
        conn = it->second->conn;
    }
    if (const auto* start = std::get_if<rp::to_client_request_start>(&kind)) {
        auto request = make_request(start->method, start->path, start->headers);
        if (start->body) request.body = to_string(*start->body);
        if (start->stream) {
            std::lock_guard lock(mutex_);
            streaming_requests_[key] = pending_http{start->actor_id, std::move(request)};
            return;
        }
        {
            std::lock_guard lock(mutex_);
            http_in_flight_[key] = false;
            http_begin_locked(start->actor_id);
        }
        asio::co_spawn(env_.executor, serve_http(conn, serial, message.message_id, start->actor_id, std::move(request)),
                       asio::detached);
    } else if (const auto* chunk = std::get_if<rp::to_client_request_chunk>(&kind)) {
        std::optional<pending_http> complete;
        {
            std::lock_guard lock(mutex_);
            auto it = streaming_requests_.find(key);
            if (it == streaming_requests_.end()) return;
            it->second.request.body.append(chunk->body.begin(), chunk->body.end());
            if (chunk->finish) {
                complete = std::move(it->second);
                streaming_requests_.erase(it);
                http_in_flight_[key] = false;
                http_begin_locked(complete->actor_id);
            }
        }
        if (complete) {
            asio::co_spawn(env_.executor,
                           serve_http(conn, serial, message.message_id, std::move(complete->actor_id),
                                      std::move(complete->request)),
                           asio::detached);
        }
    } else if (std::holds_alternative<rp::to_client_request_abort>(kind)) {
        std::lock_guard lock(mutex_);
        streaming_requests_.erase(key);
        if (auto it = http_in_flight_.find(key); it != http_in_flight_.end()) it->second = true;
    } else if (const auto* open = std::get_if<rp::to_client_web_socket_open>(&kind)) {
        auto socket =
            std::make_shared<tunnel_websocket>(weak_from_this(), conn, serial, message.message_id, env_.executor);
        {
            std::lock_guard lock(mutex_);
            sockets_[key] = socket;
        }
        auto request = make_request("GET", open->path, open->headers);
        asio::co_spawn(env_.executor, open_websocket(socket, open->actor_id, std::move(request)), asio::detached);
    } else if (const auto* frame = std::get_if<rp::to_client_web_socket_message>(&kind)) {
        std::shared_ptr<tunnel_websocket> socket;
        {
            std::lock_guard lock(mutex_);
            if (auto it = sockets_.find(key); it != sockets_.end()) socket = it->second;
        }
        if (socket) socket->deliver(websocket_message{to_string(frame->data), frame->binary}, message.message_id.message_index);
    } else if (const auto* close = std::get_if<rp::to_client_web_socket_close>(&kind)) {
        std::shared_ptr<tunnel_websocket> socket;
        {
            std::lock_guard lock(mutex_);
            if (auto it = sockets_.find(key); it != sockets_.end()) socket = it->second;
        }
        if (socket) socket->remote_closed(close->code.value_or(1005), close->reason.value_or(""));
    }
}

void engine_host::restore_sockets(std::uint64_t serial, const std::shared_ptr<runner_connection>& conn,
                                  const std::shared_ptr<actor_instance>& inst,
                                  std::vector<rp::hibernating_request> hibernating) {
    auto same = [](const bytes& a, const rp::bytes4& b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); };
    for (auto& c : inst->detached_connections()) {
        const auto& meta = *c->hibernation;
        auto it = std::find_if(hibernating.begin(), hibernating.end(), [&](const rp::hibernating_request& r) {
            return same(meta.gateway_id, r.gateway_id) && same(meta.request_id, r.request_id);
        });
        if (it == hibernating.end()) {
            // The client went away while the actor slept.
            inst->disconnect(c, "ws.stale_metadata");
            continue;
        }
        rp::message_id id;
        id.gateway_id = it->gateway_id;
        id.request_id = it->request_id;
        hibernating.erase(it);
        auto socket = std::make_shared<tunnel_websocket>(weak_from_this(), conn, serial, id, env_.executor);
        socket->restored(meta.server_message_index, meta.client_message_index);
        {
            std::lock_guard lock(mutex_);
            sockets_[socket->key()] = socket;
        }
        detail::restore_socket(router_, inst, c, socket);
    }
    // Requests the actor kept nothing of: the gateway closes their clients.
    for (const auto& r : hibernating) {
        rp::message_id id;
        id.gateway_id = r.gateway_id;
        id.request_id = r.request_id;
        rp::to_server_web_socket_close close;
        close.code = 1000;
        close.reason = "ws.meta_not_found_during_restore";
        close.hibernate = false;
        conn->send_tunnel_message(tunnel_message(id, 0, std::move(close)));
    }
}

task<void> engine_host::serve_http(std::shared_ptr<runner_connection> conn, std::uint64_t serial, rp::message_id id,
                                   std::string actor_id, http_request request) {
    const tunnel_key key{serial, request_key(id)};
    http_response res;
    try {
        auto inst = co_await find_running(actor_id);
        if (!inst) {
            // The gateway retries a 503 carrying x-rivet-error (and wakes the actor meanwhile).
            res.status = 503;
            res.headers.emplace_back("content-type", "text/plain; charset=UTF-8");
            res.headers.emplace_back("x-rivet-error", "runner.actor_not_found");
            res.body = "Actor not found on this runner";
        } else {
            res = co_await router_->respond_actor(actor_id, std::move(request));
        }
    } catch (...) {
        log_.error("tunnelled request failed", {{"actorId", actor_id}, {"error", describe_exception(std::current_exception())}});
        res = http_response{};
        res.status = 500;
        res.headers.emplace_back("content-type", "text/plain; charset=UTF-8");
        res.body = "Internal Server Error";
    }
    bool aborted = false;
    {
        std::lock_guard lock(mutex_);
        auto it = http_in_flight_.find(key);
        if (it == http_in_flight_.end()) {
            aborted = true;  // the runner lost the connection meanwhile
        } else {
            aborted = it->second;
            http_in_flight_.erase(it);
        }
    }
    if (!aborted) conn->send_tunnel_message(tunnel_message(id, 0, response_start(std::move(res))));
    http_end(actor_id);
}

void engine_host::http_begin_locked(const std::string& actor_id) { ++http_by_actor_[actor_id].pending; }

void engine_host::http_end(const std::string& actor_id) {
    std::vector<std::shared_ptr<oneshot<void>>> waiters;
    {
        std::lock_guard lock(mutex_);
        auto it = http_by_actor_.find(actor_id);
        if (it == http_by_actor_.end()) return;
        if (--it->second.pending == 0) {
            waiters.swap(it->second.waiters);
            http_by_actor_.erase(it);
        }
    }
    for (auto& w : waiters) w->set_value();
}

task<void> engine_host::http_drained(std::string actor_id) {
    std::shared_ptr<oneshot<void>> waiter;
    {
        std::lock_guard lock(mutex_);
        auto it = http_by_actor_.find(actor_id);
        if (it == http_by_actor_.end()) co_return;
        waiter = oneshot<void>::make();
        it->second.waiters.push_back(waiter);
    }
    co_await waiter->wait();
}

task<void> engine_host::open_websocket(std::shared_ptr<tunnel_websocket> socket, std::string actor_id,
                                       http_request request) {
    std::exception_ptr failure;
    try {
        auto inst = co_await find_running(actor_id);
        if (!inst) {
            socket->refuse(1011, "Actor not found");
            co_return;
        }
        const std::string open_path = request.path;
        auto reply = router_->upgrade_actor(actor_id, std::move(request));
        if (reply.reject) {
            auto shown = reply.reject->status == 404 ? std::string("Not Found") : reply.reject->body;
            socket->refuse(1011, shown.size() > 120 ? shown.substr(0, 120) : shown);
            co_return;
        }
        // RivetKit connections (/connect) hibernate with their actor when its connections can.
        std::string_view path = trim_path(open_path);
        socket->opened(path == "/connect" && inst->can_hibernate_connections());
        if (reply.on_open) reply.on_open(socket);
    } catch (...) {
        failure = std::current_exception();
    }
    if (failure) {
        log_.error("tunnelled WebSocket failed to open", {{"actorId", actor_id}, {"error", describe_exception(failure)}});
        socket->refuse(1011, "Server Error");
    }
}

// ---- factory --------------------------------------------------------------------------------

driver_factory make_engine_driver(runner_connection_options connection, host_options options) {
    return {"engine", [connection = std::move(connection), options = std::move(options)](const driver_env& env) {
                auto host = std::make_shared<engine_host>(env, connection, options);
                return driver_pair{host, host};
            }};
}

}  // namespace rivetkit::engine

namespace rivetkit::drivers {

driver_factory engine(engine_options options) {
    rivetkit::engine::host_options host;
    host.serverless = options.kind == runner_kind::serverless;
    return rivetkit::engine::make_engine_driver(rivetkit::engine::connection_options_from(options), std::move(host));
}

}  // namespace rivetkit::drivers
