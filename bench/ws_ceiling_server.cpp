// The WebSocket ceiling: the least a server can do to answer bench_load's `ws` and `fanout`
// workloads, with no actor runtime. bench/run.sh drives it with the same generator as our server
// and the reference, so the table shows what one core of this machine can do over WebSocket at
// all, next to what the targets of the benchmark issue ask for.
//
//   PORT=0 ws_ceiling_server     prints "listening on <port>"; stops on SIGINT/SIGTERM
//
// What it does, on one thread, with Asio callbacks (one read outstanding per socket, one write
// in flight, the rest queued) and llhttp for the requests before the upgrade:
//   PUT /actors?namespace=default  {"name","key"} -> 200 {"actor":{"actor_id",...},"created"};
//        the id is a hash of (name, key), so the same key always finds the same actor.
//   GET /gateway/<id>/connect with an Upgrade: the RFC 6455 handshake as our server answers it
//        (subprotocol "rivet"; the encoding from "rivet_encoding.<json|cbor|bare>", json by
//        default), then Init {actor id, connection id} in the same write.
//   Every client message: decoded with the project's protocol decoder (a malformed one closes
//        the socket with 1011, as our server does), then
//          ActionRequest on a counter: ping -> "pong", getCount -> count, increment(by) -> count
//            (and broadcasts "newCount" count), goToSleep -> undefined;
//          ActionRequest on a chatRoom: sendMessage(text) -> the message count, after the event
//            "message" {text} was queued on every connection subscribed to it (encoded once per
//            encoding, the whole frame);
//          any other action: an Error message (action/not_found), as bench_server answers;
//          SubscriptionRequest: recorded (or removed) on the actor.
//        Outputs and events are encoded with the project's encoder: the same bytes our server
//        sends (bench_server's actors, bench/bench_server.cpp).
//   Ping -> Pong; Close -> Close (echoing the code), then the socket is closed.
//   Anything else: 404.
//
// Why it is a ceiling: every message still goes through what any RivetKit server must do (one
// read, frame parsing and unmasking, decoding the message, encoding the answer, one write per
// connection per read) and nothing else: no actor lookup beyond a pointer, no state commit, no
// strands, queues or coroutines, no per-connection timers, no logging. All the replies produced
// while handling one read are written with one write per connection, as a good server batches
// them. Actor state lives in memory and is never persisted.

#include <llhttp.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/write.hpp>

#include <rivetkit/value.hpp>

#include "net/websocket_frame.hpp"
#include "net/websocket_handshake.hpp"
#include "protocol/client_protocol.hpp"

namespace {

namespace net = rivetkit::net;
namespace protocol = rivetkit::protocol;
using rivetkit::value;

class session;

/// One actor: its state (a count for both kinds) and who is subscribed to which event.
struct actor {
    enum class kind { counter, chat_room };
    kind type = kind::counter;
    std::string id;
    std::string name;
    std::string key;
    std::int64_t count = 0;  // counter: count; chatRoom: messages
    std::unordered_map<std::string, std::vector<session*>> subscribers;
};

std::unordered_map<std::string, std::unique_ptr<actor>> actors;

/// Sessions that queued output while the current callback ran; written (one write each) when it
/// ends. Holding a reference keeps each alive until then.
std::vector<std::shared_ptr<session>> dirty;

std::uint64_t next_connection = 0;

/// FNV-1a over (name, 0, key): a deterministic, URL-safe actor id.
std::string actor_id_for(std::string_view name, std::string_view key) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    auto mix = [&](std::string_view s) {
        for (char c : s) {
            h ^= static_cast<unsigned char>(c);
            h *= 0x100000001b3ull;
        }
    };
    mix(name);
    mix(std::string_view("\0", 1));
    mix(key);
    static constexpr char hex[] = "0123456789abcdef";
    std::string id = "ceiling-";
    for (int shift = 60; shift >= 0; shift -= 4) id += hex[(h >> shift) & 0xf];
    return id;
}

/// The string value of `"field":"..."` in a flat JSON object (no escapes); nullopt when missing.
std::optional<std::string> json_string_field(std::string_view json, std::string_view field) {
    std::string needle;
    needle.reserve(field.size() + 2);
    needle += '"';
    needle += field;
    needle += '"';
    auto pos = json.find(needle);
    if (pos == std::string_view::npos) return std::nullopt;
    pos += needle.size();
    while (pos < json.size() && (json[pos] == ' ' || json[pos] == ':')) ++pos;
    if (pos >= json.size() || json[pos] != '"') return std::nullopt;
    const auto end = json.find('"', pos + 1);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(json.substr(pos + 1, end - pos - 1));
}

/// A whole unmasked server frame carrying `payload`.
void append_frame(std::string& out, protocol::encoding enc, std::string_view payload) {
    net::append_ws_frame(out, protocol::uses_text_frames(enc) ? net::ws_opcode::text : net::ws_opcode::binary,
                         payload);
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(asio::ip::tcp::socket s) : socket_(std::move(s)) {
        socket_.set_option(asio::ip::tcp::no_delay(true));
        llhttp_settings_init(&settings_);
        settings_.on_message_begin = [](llhttp_t* p) {
            self(p).begin_request();
            return 0;
        };
        settings_.on_url = [](llhttp_t* p, const char* at, std::size_t n) {
            self(p).url_.append(at, n);
            return 0;
        };
        settings_.on_header_field = [](llhttp_t* p, const char* at, std::size_t n) {
            self(p).field_.append(at, n);
            return 0;
        };
        settings_.on_header_value = [](llhttp_t* p, const char* at, std::size_t n) {
            self(p).value_.append(at, n);
            return 0;
        };
        settings_.on_header_value_complete = [](llhttp_t* p) {
            self(p).header_complete();
            return 0;
        };
        settings_.on_body = [](llhttp_t* p, const char* at, std::size_t n) {
            self(p).body_.append(at, n);
            return 0;
        };
        settings_.on_message_complete = [](llhttp_t* p) {
            self(p).request_complete();
            return 0;
        };
        llhttp_init(&parser_, HTTP_REQUEST, &settings_);
        parser_.data = this;
    }
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session() { unsubscribe_all(); }

    void read() {
        socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](std::error_code ec, std::size_t n) {
            if (ec) return self->close();
            if (self->upgraded_) {
                self->on_frames(reinterpret_cast<std::uint8_t*>(self->buf_.data()), n);
            } else {
                self->on_http(n);
            }
            flush_dirty();
            if (!self->closed_ && !self->closing_) self->read();
        });
    }

    /// Queues bytes for this connection; they go out when the current callback ends.
    void queue(std::string_view bytes) {
        if (closed_ || closing_) return;
        mark_dirty();
        pending_ += bytes;
    }

    /// Starts writing what was queued, unless a write is in flight (its completion goes on).
    void flush() {
        if (writing_ || closed_) return;
        if (pending_.empty()) {
            if (closing_) close();
            return;
        }
        out_.swap(pending_);
        writing_ = true;
        asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](std::error_code ec, std::size_t) {
            self->writing_ = false;
            self->out_.clear();
            if (ec) return self->close();
            self->flush();
        });
    }

    static void flush_dirty() {
        for (auto& s : dirty) {
            s->dirty_ = false;
            s->flush();
        }
        dirty.clear();
    }

private:
    static session& self(llhttp_t* p) { return *static_cast<session*>(p->data); }

    void mark_dirty() {
        if (dirty_) return;
        dirty_ = true;
        dirty.push_back(shared_from_this());
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        unsubscribe_all();
        std::error_code ignored;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

    /// Writes what is queued, then closes (no more input is read).
    void close_after_write() {
        closing_ = true;
        mark_dirty();
    }

    // ---- HTTP, before the upgrade ----

    void begin_request() {
        url_.clear();
        field_.clear();
        value_.clear();
        body_.clear();
        ws_key_.clear();
        ws_protocols_.clear();
        upgrade_ = false;
    }
    void header_complete() {
        if (iequals(field_, "sec-websocket-key")) {
            ws_key_ = value_;
        } else if (iequals(field_, "sec-websocket-protocol")) {
            if (!ws_protocols_.empty()) ws_protocols_ += ',';
            ws_protocols_ += value_;
        } else if (iequals(field_, "upgrade")) {
            upgrade_ = iequals(value_, "websocket");
        }
        field_.clear();
        value_.clear();
    }

    void on_http(std::size_t n) {
        const auto err = llhttp_execute(&parser_, buf_.data(), n);
        if (err == HPE_PAUSED_UPGRADE && upgraded_) {
            // Frames may follow the handshake in the same read.
            const char* at = llhttp_get_error_pos(&parser_);
            const auto used = static_cast<std::size_t>(at - buf_.data());
            if (used < n) on_frames(reinterpret_cast<std::uint8_t*>(buf_.data()) + used, n - used);
        } else if (err != HPE_OK) {
            if (!upgraded_ && err != HPE_PAUSED_UPGRADE) queue("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            close_after_write();
        }
    }

    void respond(int status, std::string_view reason, std::string_view body) {
        std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                          "\r\ncontent-type: application/json\r\ncontent-length: " + std::to_string(body.size()) +
                          "\r\n\r\n";
        out += body;
        queue(out);
    }

    void request_complete() {
        const auto method = static_cast<llhttp_method_t>(parser_.method);
        const std::string_view url = url_;
        if (method == HTTP_PUT && (url == "/actors" || url.starts_with("/actors?"))) return put_actor();
        constexpr std::string_view gateway = "/gateway/";
        constexpr std::string_view connect = "/connect";
        if (method == HTTP_GET && upgrade_ && url.starts_with(gateway) && url.ends_with(connect)) {
            return upgrade(url.substr(gateway.size(), url.size() - gateway.size() - connect.size()));
        }
        respond(404, "Not Found", R"({"error":"not found"})");
    }

    void put_actor() {
        const auto name = json_string_field(body_, "name");
        const auto key = json_string_field(body_, "key");
        if (!name || !key || (*name != "counter" && *name != "chatRoom")) {
            return respond(400, "Bad Request", R"({"error":"name must be counter or chatRoom, key a string"})");
        }
        auto id = actor_id_for(*name, *key);
        auto [it, created] = actors.try_emplace(id);
        if (created) {
            it->second = std::make_unique<actor>();
            it->second->type = *name == "counter" ? actor::kind::counter : actor::kind::chat_room;
            it->second->id = id;
            it->second->name = *name;
            it->second->key = *key;
        }
        respond(200, "OK",
                R"({"actor":{"actor_id":")" + id + R"(","name":")" + *name + R"(","key":")" + *key +
                    R"(","namespace_id":"default","runner_name_selector":"default"},"created":)" +
                    (created ? "true" : "false") + "}");
    }

    void upgrade(std::string_view id) {
        auto it = actors.find(std::string(id));
        if (it == actors.end()) return respond(404, "Not Found", R"({"error":"actor not found"})");
        if (ws_key_.empty()) return respond(400, "Bad Request", R"({"error":"no Sec-WebSocket-Key"})");
        enc_ = protocol::encoding::json;
        bool rivet = false;
        std::string_view offered = ws_protocols_;
        while (!offered.empty()) {
            const auto comma = offered.find(',');
            std::string_view p = offered.substr(0, comma);
            offered = comma == std::string_view::npos ? std::string_view{} : offered.substr(comma + 1);
            while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
            while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
            if (p == "rivet") rivet = true;
            if (p.starts_with("rivet_encoding.")) {
                auto e = protocol::parse_encoding(p.substr(15));
                if (!e) return respond(400, "Bad Request", R"({"error":"unknown encoding"})");
                enc_ = *e;
            }
        }
        actor_ = it->second.get();
        upgraded_ = true;
        std::string out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
        out += "Sec-WebSocket-Accept: " + net::websocket_accept_key(ws_key_) + "\r\n";
        if (rivet) out += "Sec-WebSocket-Protocol: rivet\r\n";
        out += "\r\n";
        append_frame(out, enc_,
                     protocol::encode_to_client(
                         enc_, protocol::init_message{actor_->id, "conn-" + std::to_string(next_connection++)}));
        queue(out);
        // Later bytes are frames: llhttp stops at the end of this request (HPE_PAUSED_UPGRADE).
    }

    // ---- WebSocket ----

    void on_frames(std::uint8_t* data, std::size_t n) {
        std::span<std::uint8_t> input(data, n);
        while (!closing_ && !closed_) {
            switch (frames_.parse(input)) {
                case net::frame_parser::event::need_more: return;
                case net::frame_parser::event::message: on_message(frames_.message()); break;
                case net::frame_parser::event::ping: {
                    std::string out;
                    net::append_ws_frame(out, net::ws_opcode::pong, frames_.control_payload());
                    queue(out);
                    break;
                }
                case net::frame_parser::event::pong: break;
                case net::frame_parser::event::close: {
                    const auto code = frames_.close_code();
                    close_with(code == net::ws_close::no_status ? net::ws_close::normal : code, "");
                    return;
                }
                case net::frame_parser::event::error:
                    close_with(frames_.error_code(), frames_.error_reason());
                    return;
            }
        }
    }

    void close_with(std::uint16_t code, std::string_view reason) {
        std::string out;
        net::append_ws_frame(out, net::ws_opcode::close, net::make_ws_close_payload(code, reason));
        queue(out);
        close_after_write();
    }

    void send(const protocol::to_client& msg) { append_frame_to_pending(protocol::encode_to_client(enc_, msg)); }
    void append_frame_to_pending(std::string_view payload) {
        if (closed_ || closing_) return;
        mark_dirty();
        append_frame(pending_, enc_, payload);
    }

    void on_message(const std::string& payload) {
        protocol::to_server msg;
        try {
            msg = protocol::decode_to_server(enc_, payload);
        } catch (const std::exception&) {
            return close_with(net::ws_close::internal_error, "malformed");
        }
        if (auto* sub = std::get_if<protocol::subscription_request>(&msg)) return subscribe(*sub);
        auto& req = std::get<protocol::action_request>(msg);
        try {
            send(protocol::action_response{req.id, run_action(req)});
        } catch (const std::exception& e) {
            send(protocol::error_message{"action", "not_found", e.what(), value(), req.id});
        }
    }

    /// bench_server's actions (bench/bench_server.cpp). Throws for an unknown action.
    value run_action(const protocol::action_request& req) {
        actor& a = *actor_;
        if (a.type == actor::kind::counter) {
            if (req.name == "ping") return value("pong");
            if (req.name == "getCount") return value(a.count);
            if (req.name == "increment") {
                a.count += req.args.empty() ? 0 : req.args[0].as_int();
                broadcast(a, "newCount", {value(a.count)});
                return value(a.count);
            }
            if (req.name == "goToSleep") return value();
        } else if (req.name == "sendMessage") {
            a.count += 1;
            const value text = req.args.empty() ? value("") : req.args[0];
            broadcast(a, "message", {value(rivetkit::object{{"text", text}})});
            return value(a.count);
        }
        throw std::runtime_error("Action '" + req.name + "' not found");
    }

    /// Queues one event on every connection subscribed to it: the frame is encoded once per
    /// encoding in use, then copied into each connection's output.
    static void broadcast(actor& a, const std::string& event, rivetkit::array args) {
        auto it = a.subscribers.find(event);
        if (it == a.subscribers.end() || it->second.empty()) return;
        const protocol::to_client msg = protocol::event_message{event, std::move(args)};
        std::array<std::optional<std::string>, 3> frames;  // by encoding
        for (session* s : it->second) {
            auto& frame = frames[static_cast<std::size_t>(s->enc_)];
            if (!frame) {
                frame.emplace();
                append_frame(*frame, s->enc_, protocol::encode_to_client(s->enc_, msg));
            }
            s->queue(*frame);
        }
    }

    void subscribe(const protocol::subscription_request& sub) {
        auto& list = actor_->subscribers[sub.event_name];
        const auto mine = std::find(list.begin(), list.end(), this);
        if (sub.subscribe && mine == list.end()) {
            list.push_back(this);
            events_.push_back(sub.event_name);
        } else if (!sub.subscribe && mine != list.end()) {
            list.erase(mine);
            events_.erase(std::find(events_.begin(), events_.end(), sub.event_name));
        }
    }

    void unsubscribe_all() {
        if (actor_ == nullptr) return;
        for (const auto& event : events_) {
            auto& list = actor_->subscribers[event];
            list.erase(std::remove(list.begin(), list.end(), this), list.end());
        }
        events_.clear();
    }

    asio::ip::tcp::socket socket_;
    std::array<char, 16384> buf_{};
    std::string pending_;  // queued while a callback runs (or while a write is in flight)
    std::string out_;      // being written
    bool writing_ = false;
    bool dirty_ = false;
    bool closing_ = false;  // write what is queued, then close
    bool closed_ = false;

    // HTTP
    llhttp_t parser_{};
    llhttp_settings_t settings_{};
    std::string url_, field_, value_, body_, ws_key_, ws_protocols_;
    bool upgrade_ = false;

    // WebSocket
    bool upgraded_ = false;
    protocol::encoding enc_ = protocol::encoding::json;
    net::frame_parser frames_{true, 1u << 20};
    actor* actor_ = nullptr;
    std::vector<std::string> events_;  // subscribed to, on actor_
};

void accept(asio::ip::tcp::acceptor& acceptor) {
    acceptor.async_accept([&acceptor](std::error_code ec, asio::ip::tcp::socket s) {
        if (!ec) {
            try {
                std::make_shared<session>(std::move(s))->read();
            } catch (const std::exception& e) {
                std::cerr << "ws_ceiling_server: " << e.what() << "\n";
            }
        }
        if (acceptor.is_open()) accept(acceptor);
    });
}

}  // namespace

int main() {
    try {
        const char* host = std::getenv("HOST");
        const char* port = std::getenv("PORT");
        asio::io_context io(1);
        asio::ip::tcp::acceptor acceptor(
            io, asio::ip::tcp::endpoint(asio::ip::make_address(host && *host ? host : "127.0.0.1"),
                                        static_cast<std::uint16_t>(port ? std::atoi(port) : 0)));
        accept(acceptor);
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](std::error_code, int) { io.stop(); });
        std::cout << "listening on " << acceptor.local_endpoint().port() << std::endl;
        io.run();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "ws_ceiling_server: " << e.what() << "\n";
        return 1;
    }
}
