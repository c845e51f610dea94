#pragma once
// A raw WebSocket, the same interface on both ends: an actor's on_websocket gets the server
// end, a client's handle.websocket() the client end. Transports (in-process, network)
// implement it. Callbacks of one end run one at a time on that end's executor (the actor's
// strand for the server end); send() and close() may be called from any thread.

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace rivetkit {

struct websocket_message {
    std::string data;
    bool binary = false;
};

class websocket {
public:
    virtual ~websocket() = default;

    /// Sends a text frame (`text` must be UTF-8).
    virtual void send(std::string_view text) = 0;
    /// Sends a binary frame.
    virtual void send_binary(std::span<const std::uint8_t> data) = 0;
    /// Starts the close handshake; both ends then see on_close.
    virtual void close(std::uint16_t code = 1000, std::string_view reason = {}) = 0;
    [[nodiscard]] virtual bool is_open() const = 0;

    /// Called for every message from the peer. Messages that arrived before a handler was set
    /// are delivered to it, in order, on this end's executor.
    void on_message(std::function<void(const websocket_message&)> fn) {
        std::deque<websocket_message> backlog;
        {
            std::lock_guard lock(handlers_mutex_);
            if (fn) backlog.swap(pending_messages_);
            // After close no message can come: keep no handler (it may capture this socket).
            on_message_ = closed_ ? nullptr : fn;
        }
        if (!backlog.empty()) {
            // Messages that arrived before the close are still delivered, in order.
            run_on_executor([fn = std::move(fn), backlog = std::move(backlog)] {
                for (const auto& m : backlog) fn(m);
            });
        }
    }
    /// Called once, when the socket is closed (by either end); at once (on this end's executor)
    /// if it already is.
    void on_close(std::function<void(std::uint16_t code, const std::string& reason)> fn) {
        bool closed_already = false;
        {
            std::lock_guard lock(handlers_mutex_);
            on_close_ = std::move(fn);
            closed_already = closed_.has_value();
        }
        if (closed_already) {
            run_on_executor([this] {
                std::pair<std::uint16_t, std::string> c;
                {
                    std::lock_guard lock(handlers_mutex_);
                    c = *closed_;
                }
                emit_close(c.first, c.second);
            });
        }
    }

protected:
    /// Runs `fn` on this end's executor (implementations keep `this` alive meanwhile).
    virtual void run_on_executor(std::function<void()> fn) = 0;

    // For implementations: deliver on this end's executor.
    void emit_message(const websocket_message& m) {
        std::function<void(const websocket_message&)> fn;
        {
            std::lock_guard lock(handlers_mutex_);
            if (closed_) return;
            if (!on_message_) {
                pending_messages_.push_back(m);
                return;
            }
            fn = on_message_;
        }
        fn(m);
    }
    /// Calls on_close once, then drops both handlers: they commonly capture the socket itself,
    /// and keeping them would leak it through that cycle.
    void emit_close(std::uint16_t code, const std::string& reason) {
        std::function<void(std::uint16_t, const std::string&)> fn;
        {
            std::lock_guard lock(handlers_mutex_);
            if (!closed_) closed_.emplace(code, reason);
            fn = std::move(on_close_);
            on_close_ = nullptr;
            on_message_ = nullptr;  // pending (unhandled) messages stay for a later on_message
        }
        if (fn) fn(code, reason);
    }
    /// Drops the message handler (no message is delivered after close).
    void drop_message_handler() {
        std::lock_guard lock(handlers_mutex_);
        on_message_ = nullptr;
        pending_messages_.clear();
    }

private:
    std::mutex handlers_mutex_;
    std::function<void(const websocket_message&)> on_message_;
    std::function<void(std::uint16_t, const std::string&)> on_close_;
    std::deque<websocket_message> pending_messages_;
    std::optional<std::pair<std::uint16_t, std::string>> closed_;
};

}  // namespace rivetkit
