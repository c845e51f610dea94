#pragma once
// A raw WebSocket, the same interface on both ends: an actor's on_websocket gets the server
// end, a client's handle.websocket() the client end. Transports (in-process, network)
// implement it. Callbacks of one end run one at a time on that end's executor (the actor's
// strand for the server end); send() and close() may be called from any thread.

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

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

    /// Called for every message from the peer.
    void on_message(std::function<void(const websocket_message&)> fn) {
        std::lock_guard lock(handlers_mutex_);
        on_message_ = std::move(fn);
    }
    /// Called once, when the socket is closed (by either end).
    void on_close(std::function<void(std::uint16_t code, const std::string& reason)> fn) {
        std::lock_guard lock(handlers_mutex_);
        on_close_ = std::move(fn);
    }

protected:
    // For implementations: deliver on this end's executor.
    void emit_message(const websocket_message& m) {
        std::function<void(const websocket_message&)> fn;
        {
            std::lock_guard lock(handlers_mutex_);
            fn = on_message_;
        }
        if (fn) fn(m);
    }
    /// Calls on_close once, then drops both handlers: they commonly capture the socket itself,
    /// and keeping them would leak it through that cycle.
    void emit_close(std::uint16_t code, const std::string& reason) {
        std::function<void(std::uint16_t, const std::string&)> fn;
        {
            std::lock_guard lock(handlers_mutex_);
            fn = std::move(on_close_);
            on_close_ = nullptr;
            on_message_ = nullptr;
        }
        if (fn) fn(code, reason);
    }
    /// Drops the message handler (no message is delivered after close).
    void drop_message_handler() {
        std::lock_guard lock(handlers_mutex_);
        on_message_ = nullptr;
    }

private:
    std::mutex handlers_mutex_;
    std::function<void(const websocket_message&)> on_message_;
    std::function<void(std::uint16_t, const std::string&)> on_close_;
};

}  // namespace rivetkit
