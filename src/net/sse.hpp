#pragma once
// Server-Sent Events (text/event-stream) writing. The writer formats events and hands the bytes
// to a sink: the HTTP server's connection, or anything else that carries a byte stream (an
// in-process transport, a test).

#include <string>
#include <string_view>

#include "rivetkit/task.hpp"

namespace rivetkit::net {

/// Where an event stream's bytes go. Calls come from one coroutine chain at a time, on the
/// sink's executor.
class sse_sink {
public:
    virtual ~sse_sink() = default;
    /// Writes every byte; false (and nothing more will be written) once the peer is gone.
    virtual task<bool> write(std::string_view bytes) = 0;
    /// True once the peer is gone or the stream was closed by the server.
    [[nodiscard]] virtual bool closed() const noexcept = 0;
    /// Completes once closed() is true.
    virtual task<void> wait_closed() = 0;
};

/// Appends one event: `event:` and `id:` lines when given (CR and LF removed from them), one
/// `data:` line per line of `data` (CRLF, LF and CR all end a line), then a blank line.
void append_sse_event(std::string& out, std::string_view data, std::string_view event = {},
                      std::string_view id = {});

/// Appends a comment: one `:` line per line of `text`.
void append_sse_comment(std::string& out, std::string_view text);

/// Writes events to a sink. Use it from the stream's coroutine (the sink's executor). Sends
/// that overlap (several coroutines sharing the writer) are queued in call order: a send made
/// while another is writing returns at once, and its bytes go out with the running write.
class sse_writer {
public:
    explicit sse_writer(sse_sink& sink) noexcept : sink_(sink) {}
    sse_writer(const sse_writer&) = delete;
    sse_writer& operator=(const sse_writer&) = delete;

    /// Sends one event; false once the peer is gone.
    task<bool> send(std::string_view data, std::string_view event = {}, std::string_view id = {});
    /// Sends a comment (keeps intermediaries from timing the stream out); false once the peer
    /// is gone.
    task<bool> comment(std::string_view text);
    [[nodiscard]] bool closed() const noexcept { return sink_.closed(); }
    /// Completes when the peer goes away (or the server closes the stream).
    task<void> wait_closed() { return sink_.wait_closed(); }

private:
    task<bool> flush();

    sse_sink& sink_;
    std::string pending_;
    std::string writing_;
    bool flushing_ = false;
};

}  // namespace rivetkit::net
