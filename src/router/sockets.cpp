#include "router/sockets.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <optional>
#include <span>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/json.hpp"
#include "net/websocket_handshake.hpp"
#include "net/websocket_session.hpp"
#include "protocol/client_protocol.hpp"
#include "rivetkit/detail/instance.hpp"
#include "rivetkit/error.hpp"
#include "router/http_util.hpp"

namespace rivetkit::detail {

namespace {

void send_payload(websocket& ws, protocol::encoding enc, const std::string& payload) {
    if (enc == protocol::encoding::json) {
        ws.send(payload);
    } else {
        ws.send_binary(std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
    }
}

/// Closes a socket whose setup failed: 1011 with the error code as reason (reference §4.3).
void close_with_error(websocket& ws, std::exception_ptr e, const logger& log) {
    auto shown = to_client_error(e);
    if (shown.group == "internal") log.error("websocket setup failed", {{"error", describe_exception(e)}});
    ws.close(1011, shown.code);
}

/// Drops a socket without a close handshake when it is one of ours; a socket of the user's own
/// server (registry.handler()) gets a normal close instead.
void terminate_socket(websocket& ws) {
    if (auto* session = dynamic_cast<net::websocket_session*>(&ws)) {
        session->terminate();
    } else {
        ws.close(1011, "terminated");
    }
}

void log_failure(const logger& log, std::string_view what, std::exception_ptr e) {
    if (e) log.error(what, {{"error", describe_exception(e)}});
}

// ---- RivetKit protocol connections (/connect) ----

/// One encoding of the newest event, per thread: a broadcast encodes once for all its
/// connections (they run one after another on the actor's strand).
const std::string& encoded_event(const std::shared_ptr<const event_message>& event, protocol::encoding enc) {
    struct entry {
        const event_message* raw = nullptr;
        std::weak_ptr<const event_message> event;  // keeps `raw`'s block from being reused
        std::string payload;
    };
    thread_local std::array<entry, 3> cache;
    auto& slot = cache[static_cast<std::size_t>(enc)];
    // While `event` has not expired, no other event can live at its address: the same pointer
    // is the same event (and this costs no atomic read-modify-write per connection).
    if (slot.raw != event.get() || slot.event.expired()) {
        protocol::event_message m{event->name, event->args};
        protocol::to_client msg = std::move(m);
        slot.payload = protocol::encode_to_client(enc, msg);
        slot.event = event;
        slot.raw = event.get();
    }
    return slot.payload;
}

class protocol_socket final : public conn_transport {
public:
    protocol_socket(std::shared_ptr<websocket> ws, protocol::encoding enc)
        : ws_(std::move(ws)),
          session_(dynamic_cast<net::websocket_session*>(ws_.get())),
          hibernatable_(dynamic_cast<hibernatable_socket*>(ws_.get())),
          enc_(enc) {
        if (hibernatable_ != nullptr && !hibernatable_->can_hibernate()) hibernatable_ = nullptr;
    }

    void send_event(const std::shared_ptr<const event_message>& event) override {
        send_payload(*ws_, enc_, encoded_event(event, enc_));
    }
    /// Our own sockets hold the token until the frame is in their queue; a socket of the user's
    /// server (registry.handler()) cannot tell, so it counts as delivered once sent.
    void send_event_tracked(const std::shared_ptr<const event_message>& event, std::shared_ptr<void> token) override {
        if (session_ == nullptr) {
            send_event(event);
            return;
        }
        const std::string& payload = encoded_event(event, enc_);
        if (enc_ == protocol::encoding::json) {
            session_->send_tracked(payload, std::move(token));
        } else {
            session_->send_binary_tracked(std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
                                          std::move(token));
        }
    }
    void close(std::string_view reason) override { ws_->close(1000, reason); }
    void terminate() override { terminate_socket(*ws_); }
    bool hibernate() override {
        if (hibernatable_ == nullptr) return false;
        hibernatable_->hibernate();
        return true;
    }
    void acknowledge(std::uint16_t index) override {
        if (hibernatable_ != nullptr) hibernatable_->acknowledge(index);
    }
    [[nodiscard]] std::uint16_t server_message_index() const override {
        return hibernatable_ != nullptr ? hibernatable_->server_message_index() : 0;
    }

    void send(const protocol::to_client& msg) { send_payload(*ws_, enc_, protocol::encode_to_client(enc_, msg)); }
    [[nodiscard]] const std::shared_ptr<websocket>& ws() const noexcept { return ws_; }
    [[nodiscard]] protocol::encoding encoding() const noexcept { return enc_; }
    /// ws_ when it can hibernate (the engine gateway's sockets to RivetKit connections).
    [[nodiscard]] hibernatable_socket* hibernatable() const noexcept { return hibernatable_; }

private:
    std::shared_ptr<websocket> ws_;
    net::websocket_session* session_;  // ws_ itself when it is one of ours
    hibernatable_socket* hibernatable_;
    protocol::encoding enc_;
};

/// The client message a frame of a hibernatable socket was: its index and size.
struct message_mark {
    std::uint16_t index = 0;
    std::size_t size = 0;
};

struct socket_limits {
    std::size_t max_in = 0;
    std::size_t max_out = 0;
};

/// On the actor's strand: runs one action of a connection and answers it.
task<void> run_socket_action(std::shared_ptr<actor_instance> inst, std::shared_ptr<protocol_socket> sock,
                             std::shared_ptr<connection> c, protocol::action_request req, socket_limits limits,
                             std::optional<message_mark> mark) {
    // A stopping actor leaves the message of a hibernatable socket unacknowledged: the gateway
    // hands it to the actor again after the sleep.
    if (mark && inst->stopping()) co_return;
    std::exception_ptr err;
    std::string payload;
    try {
        auto call = inst->execute_action(c, std::move(req.name), std::move(req.args));
        value out = co_await std::move(call);
        protocol::action_response res{req.id, std::move(out)};
        protocol::to_client msg = std::move(res);
        payload = protocol::encode_to_client(sock->encoding(), msg);
        if (payload.size() > limits.max_out) throw errors::outgoing_too_long();
    } catch (...) {
        err = std::current_exception();
    }
    if (err) {
        auto shown = to_client_error(err);  // the instance logged the failure
        protocol::error_message e{shown.group, shown.code, shown.message, shown.metadata, req.id};
        protocol::to_client msg = std::move(e);
        payload = protocol::encode_to_client(sock->encoding(), msg);
    }
    send_payload(*sock->ws(), sock->encoding(), payload);
    // Handled once its reply left: acknowledged after the next write of the connection. (A reply
    // the hibernating socket could not send leaves it unacknowledged: it runs again after the wake.)
    if (mark && sock->ws()->is_open()) inst->note_client_message(*c, mark->index, mark->size);
}

/// On the socket's executor: one frame from the client.
void on_protocol_frame(const std::shared_ptr<actor_instance>& inst, const std::shared_ptr<protocol_socket>& sock,
                       const std::shared_ptr<connection>& c, socket_limits limits, const websocket_message& m) {
    std::optional<message_mark> mark;
    if (auto* hs = sock->hibernatable()) mark = message_mark{hs->take_message_index(), m.data.size()};
    if (m.data.size() > limits.max_in) {
        sock->ws()->close(1011, "incoming_too_long");
        return;
    }
    protocol::to_server msg;
    try {
        msg = protocol::decode_to_server(sock->encoding(), m.data);
    } catch (...) {
        auto shown = to_client_error(std::current_exception());
        inst->log().debug("closing a connection after an invalid message",
                          {{"conn", c->id}, {"error", describe_exception(std::current_exception())}});
        sock->ws()->close(1011, shown.code);
        return;
    }
    if (auto* action = std::get_if<protocol::action_request>(&msg)) {
        asio::co_spawn(inst->strand(), run_socket_action(inst, sock, c, std::move(*action), limits, mark),
                       [inst](std::exception_ptr e) { log_failure(inst->log(), "websocket action failed", e); });
        return;
    }
    auto sub = std::get<protocol::subscription_request>(std::move(msg));
    asio::post(inst->strand(), [inst, c, sub = std::move(sub), mark] {
        if (mark && inst->stopping()) return;  // as for actions
        try {
            inst->set_subscription(*c, sub.event_name, sub.subscribe);
        } catch (const std::exception& e) {
            inst->log().warn("subscription failed", {{"event", sub.event_name}, {"error", e.what()}});
        }
        if (mark) inst->note_client_message(*c, mark->index, mark->size);
    });
}

void wire_protocol_socket(const std::shared_ptr<actor_instance>& inst, const std::shared_ptr<protocol_socket>& sock,
                          const std::shared_ptr<connection>& c, socket_limits limits) {
    auto& ws = *sock->ws();
    ws.on_message([inst, sock, c, limits](const websocket_message& m) { on_protocol_frame(inst, sock, c, limits, m); });
    ws.on_close([inst, c](std::uint16_t, const std::string&) {
        asio::post(inst->strand(), [inst, c] { inst->disconnect(c); });
    });
}

/// On the actor's strand: Init first, then the client's frames (reference §5.1).
task<void> open_protocol_conn(std::shared_ptr<actor_instance> inst, std::shared_ptr<protocol_socket> sock,
                              value params, http_request request, socket_limits limits) {
    auto c = co_await inst->prepare_connection(conn_kind::rivet, std::move(params), sock, &request);
    if (auto* hs = sock->hibernatable()) {
        // Kept through the actor's sleeps (engine driver): what the restore needs of the socket.
        auto m = std::make_unique<hibernation_meta>();
        m->gateway_id = hs->gateway_id();
        m->request_id = hs->request_id();
        m->request_path = request.query.empty() ? request.path : request.path + "?" + request.query;
        m->request_headers.assign(request.headers.begin(), request.headers.end());
        c->hibernation = std::move(m);
    }
    protocol::init_message init{inst->actor_id(), c->id};
    protocol::to_client msg = std::move(init);
    sock->send(msg);
    inst->connect(c);
    wire_protocol_socket(inst, sock, c, limits);
}

// ---- raw WebSockets (/websocket/*) ----

/// The socket as on_websocket sees it: callbacks on the actor's strand.
class actor_socket final : public websocket, public std::enable_shared_from_this<actor_socket> {
public:
    actor_socket(std::shared_ptr<websocket> inner, actor_instance::strand_type strand)
        : inner_(std::move(inner)), strand_(std::move(strand)) {}

    void send(std::string_view text) override { inner_->send(text); }
    void send_binary(std::span<const std::uint8_t> data) override { inner_->send_binary(data); }
    void close(std::uint16_t code, std::string_view reason) override { inner_->close(code, reason); }
    [[nodiscard]] bool is_open() const override { return inner_->is_open(); }
    void terminate() { terminate_socket(*inner_); }

    void deliver(const websocket_message& m) {
        asio::post(strand_, [self = shared_from_this(), m] { self->emit_message(m); });
    }
    void finish(std::uint16_t code, std::string reason, std::function<void()> after) {
        asio::post(strand_, [self = shared_from_this(), code, reason = std::move(reason), after = std::move(after)] {
            self->emit_close(code, reason);
            after();
        });
    }

protected:
    void run_on_executor(std::function<void()> fn) override {
        asio::post(strand_, [self = shared_from_this(), fn = std::move(fn)] { fn(); });
    }

private:
    std::shared_ptr<websocket> inner_;
    actor_instance::strand_type strand_;
};

class raw_transport final : public conn_transport {
public:
    explicit raw_transport(std::weak_ptr<actor_socket> ws) : ws_(std::move(ws)) {}
    void send_event(const std::shared_ptr<const event_message>&) override {}
    void close(std::string_view reason) override {
        if (auto ws = ws_.lock()) ws->close(1000, reason);
    }
    void terminate() override {
        if (auto ws = ws_.lock()) ws->terminate();
    }

private:
    std::weak_ptr<actor_socket> ws_;
};

void wire_raw_socket(const std::shared_ptr<actor_instance>& inst, const std::shared_ptr<connection>& c,
                     const std::shared_ptr<websocket>& ws, const std::shared_ptr<actor_socket>& adapter) {
    c->transport = std::make_shared<raw_transport>(adapter);
    ws->on_message([adapter](const websocket_message& m) { adapter->deliver(m); });
    ws->on_close([adapter, inst, c](std::uint16_t code, const std::string& reason) {
        adapter->finish(code, reason, [inst, c] { inst->disconnect(c); });
    });
}

task<void> open_raw_conn(std::shared_ptr<actor_instance> inst, std::shared_ptr<websocket> ws, value params,
                         http_request request) {
    auto c = co_await inst->prepare_connection(conn_kind::raw_websocket, std::move(params), nullptr, &request);
    auto adapter = std::make_shared<actor_socket>(ws, inst->strand());
    wire_raw_socket(inst, c, ws, adapter);
    inst->connect(c);
    std::exception_ptr err;
    try {
        auto handling = inst->handle_websocket(c, adapter, std::move(request));
        co_await std::move(handling);
    } catch (...) {
        err = std::current_exception();
    }
    if (err) close_with_error(*adapter, err, inst->log());
}

// ---- setup ----

struct socket_settings {
    protocol::encoding encoding = protocol::encoding::json;  // the gateway's default
    std::exception_ptr error;  // a bad encoding or params: the socket closes with it once open
    value params;
};

socket_settings read_subprotocols(const std::vector<std::string>& protocols) {
    socket_settings s;
    try {
        for (const auto& p : protocols) {
            if (p.starts_with("rivet_encoding.")) {
                std::string_view name = std::string_view(p).substr(15);
                auto enc = protocol::parse_encoding(name);
                if (!enc) throw errors::invalid_encoding(name);
                s.encoding = *enc;
            } else if (p.starts_with("rivet_conn_params.")) {
                auto text = percent_decode(std::string_view(p).substr(18));
                if (!text) throw errors::invalid_params("Invalid params: not percent-encoded UTF-8");
                auto j = nlohmann::json::parse(*text, nullptr, false);
                if (j.is_discarded()) throw errors::invalid_params(fmt::format("Invalid params JSON: {}", *text));
                s.params = json::from_plain_json(j);
            }
        }
    } catch (...) {
        s.error = std::current_exception();
    }
    return s;
}

task<void> attach_socket(std::shared_ptr<router> r, std::shared_ptr<websocket> ws, socket_request req, bool raw) {
    auto settings = read_subprotocols(req.protocols);
    const auto& log = r->core().log();
    try {
        if (settings.error) std::rethrow_exception(settings.error);
        auto id = co_await r->resolve(std::move(req.target));
        auto inst = co_await r->core().manager().load_actor(id);
        if (raw) {
            req.request.path = req.path;
            auto opening = open_raw_conn(inst, ws, std::move(settings.params), std::move(req.request));
            co_await asio::co_spawn(inst->strand(), std::move(opening), asio::use_awaitable);
        } else {
            auto sock = std::make_shared<protocol_socket>(ws, settings.encoding);
            socket_limits limits{r->options().max_incoming_message_bytes, r->options().max_outgoing_message_bytes};
            auto opening = open_protocol_conn(inst, sock, std::move(settings.params), std::move(req.request), limits);
            co_await asio::co_spawn(inst->strand(), std::move(opening), asio::use_awaitable);
        }
    } catch (...) {
        close_with_error(*ws, std::current_exception(), log);
    }
}

}  // namespace

void restore_socket(const std::shared_ptr<router>& r, const std::shared_ptr<actor_instance>& inst,
                    const std::shared_ptr<connection>& c, std::shared_ptr<websocket> ws) {
    http_request upgrade;
    upgrade.headers.assign(c->hibernation->request_headers.begin(), c->hibernation->request_headers.end());
    auto settings = read_subprotocols(net::offered_protocols(upgrade));
    auto sock = std::make_shared<protocol_socket>(std::move(ws), settings.encoding);
    c->transport = sock;
    socket_limits limits{r->options().max_incoming_message_bytes, r->options().max_outgoing_message_bytes};
    wire_protocol_socket(inst, sock, c, limits);
}

net::upgrade_reply open_socket(std::shared_ptr<router> r, socket_request request) {
    net::upgrade_reply reply;
    std::string_view path = request.path;
    if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    bool raw = false;
    if (path == "/connect") {
        // Frames up to the limit reach the router, which answers larger ones as the reference
        // does (close 1011 incoming_too_long); the socket itself stops far larger ones.
        reply.max_message_bytes = std::max<std::size_t>(r->options().max_incoming_message_bytes * 4, 1 << 20);
    } else if (path == "/websocket" || path.starts_with("/websocket/")) {
        raw = true;
    } else {
        http_response res;
        res.status = 404;
        res.headers.emplace_back("content-type", "text/plain; charset=UTF-8");
        res.body = "Not Found (RivetKit)";
        reply.reject = std::move(res);
        return reply;
    }
    auto executor = r->core().executor();
    reply.on_open = [r = std::move(r), request = std::move(request), raw, executor](std::shared_ptr<websocket> ws) mutable {
        asio::co_spawn(executor, attach_socket(r, std::move(ws), std::move(request), raw),
                       [r](std::exception_ptr e) { log_failure(r->core().log(), "websocket setup failed", e); });
    };
    return reply;
}

}  // namespace rivetkit::detail
