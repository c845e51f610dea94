#include "net/websocket_session.hpp"

#include <openssl/rand.h>

#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "net/strand.hpp"

namespace rivetkit::net {
namespace {

constexpr std::size_t read_buffer_size = 16 * 1024;
// Small frames queued together are copied into one buffer and written with one call; larger
// ones are written on their own (byte_stream::write takes a single buffer).
constexpr std::size_t coalesce_limit = 64 * 1024;
// Buffers above this size are released after use instead of being kept for the next message.
constexpr std::size_t keep_capacity = 64 * 1024;

ws_mask_key random_mask_key() {
    ws_mask_key key{};
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
        throw std::runtime_error("rivetkit: RAND_bytes failed");
    }
    return key;
}

// Handlers are built in plain functions, never inside a coroutine (the GCC 12 rule).
void arm_timer(asio::steady_timer& timer, std::chrono::milliseconds after,
               std::function<void()> on_expiry) {
    timer.expires_after(after);
    timer.async_wait([fn = std::move(on_expiry)](const std::error_code& ec) {
        if (!ec) fn();
    });
}

}  // namespace

std::shared_ptr<websocket_session> websocket_session::create(std::unique_ptr<byte_stream> stream, role r,
                                                             std::string initial_bytes, websocket_limits limits,
                                                             std::string protocol) {
    return std::make_shared<websocket_session>(private_tag{}, std::move(stream), r, std::move(initial_bytes), limits,
                                               std::move(protocol));
}

websocket_session::websocket_session(private_tag, std::unique_ptr<byte_stream> stream, role r,
                                     std::string initial_bytes, websocket_limits limits, std::string protocol)
    : stream_(std::move(stream)),
      strand_(serialising(stream_->get_executor())),
      role_(r),
      limits_(limits),
      protocol_(std::move(protocol)),
      initial_bytes_(std::move(initial_bytes)),
      log_(logger("websocket").with("role", r == role::server ? "server" : "client")),
      parser_(r == role::server, limits.max_message_bytes),
      close_timer_(strand_) {}

websocket_session::~websocket_session() = default;

void websocket_session::start() {
    asio::dispatch(strand_, [self = shared_from_this()] {
        if (self->started_ || self->phase_ == phase::closed) return;
        self->started_ = true;
        asio::co_spawn(self->strand_, self->read_loop(self), asio::detached);
    });
}

void websocket_session::run_on_executor(std::function<void()> fn) {
    asio::post(strand_, [self = shared_from_this(), fn = std::move(fn)] {
        try {
            fn();
        } catch (const std::exception& e) {
            self->log_.error("websocket callback threw", {{"error", e.what()}});
        } catch (...) {
            self->log_.error("websocket callback threw");
        }
    });
}

// --- sending (any thread) --------------------------------------------------------------------

void websocket_session::send(std::string_view text) { send_frame(ws_opcode::text, text); }

void websocket_session::send_binary(std::span<const std::uint8_t> data) {
    send_frame(ws_opcode::binary, {reinterpret_cast<const char*>(data.data()), data.size()});
}

void websocket_session::send_tracked(std::string_view text, std::shared_ptr<void> token) {
    send_frame(ws_opcode::text, text, std::move(token));
}

void websocket_session::send_binary_tracked(std::span<const std::uint8_t> data, std::shared_ptr<void> token) {
    send_frame(ws_opcode::binary, {reinterpret_cast<const char*>(data.data()), data.size()}, std::move(token));
}

void websocket_session::ping(std::string_view payload) {
    send_frame(ws_opcode::ping, payload.substr(0, ws_max_control_payload));
}

void websocket_session::close(std::uint16_t code, std::string_view reason) {
    if (!accepting_sends_.exchange(false, std::memory_order_acq_rel)) return;
    // Posted like sends, so the close frame follows every frame sent before it.
    asio::post(strand_, [self = shared_from_this(), code, r = std::string(reason)] { self->begin_close(code, r); });
}

std::string websocket_session::build_frame(ws_opcode op, std::string_view payload) const {
    std::string frame;
    if (role_ == role::client) {
        append_ws_frame(frame, op, payload, true, random_mask_key());
    } else {
        append_ws_frame(frame, op, payload);
    }
    return frame;
}

bool websocket_session::reserve_queue_bytes(std::size_t n) {
    const std::size_t before = queued_bytes_.fetch_add(n, std::memory_order_relaxed);
    // A message larger than the bound still goes out on an empty queue: the bound is about a
    // peer that does not keep up, not about message size.
    if (before != 0 && before + n > limits_.max_send_queue_bytes) {
        queued_bytes_.fetch_sub(n, std::memory_order_relaxed);
        return false;
    }
    return true;
}

void websocket_session::send_frame(ws_opcode op, std::string_view payload, std::shared_ptr<void> token) {
    // A dropped frame lets its token go here (or in the strand, once it is refused there).
    if (!accepting_sends_.load(std::memory_order_acquire)) return;
    const std::size_t size = ws_frame_header_size(payload.size(), role_ == role::client) + payload.size();
    if (!reserve_queue_bytes(size)) {
        post_overflow();
        return;
    }
    // Appended to the gathered sends under the lock, so one connection's frames keep their send
    // order whichever threads send them; the strand takes them all on its next turn (a posted
    // take, never a direct write: a sender inside the strand must not overtake frames gathered
    // before it). If the io_context drops the take unrun, the tokens go with the session.
    std::optional<ws_mask_key> mask;
    if (role_ == role::client) mask = random_mask_key();
    bool post_take = false;
    {
        std::lock_guard lock(sends_mutex_);
        append_ws_frame(sends_.bytes, op, payload, true, mask);
        if (token) sends_.tokens.push_back(std::move(token));
        post_take = !std::exchange(sends_.take_posted, true);
    }
    if (post_take) asio::post(strand_, [self = shared_from_this()] { self->take_sends(); });
}

void websocket_session::post_overflow() {
    if (overflowed_.exchange(true)) return;
    asio::dispatch(strand_, [self = shared_from_this()] {
        if (self->phase_ == phase::open) self->fail(ws_close::policy_violation, "send queue full");
    });
}

// --- on the strand ---------------------------------------------------------------------------

task<void> websocket_session::read_loop(std::shared_ptr<websocket_session> self) {
    (void)self;  // keeps the session alive until the connection ends
    if (!initial_bytes_.empty()) {
        std::string initial = std::move(initial_bytes_);
        handle_input(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(initial.data()), initial.size()));
    }
    read_buffer_.resize(read_buffer_size);
    while (phase_ != phase::closed) {
        auto buf = asio::buffer(read_buffer_);
        auto [ec, n] = co_await stream_->read_some(buf);
        if (ec) {
            if (log_.enabled(log_level::debug)) log_.debug("websocket read ended", {{"error", ec.message()}});
            break;
        }
        handle_input(std::span<std::uint8_t>(read_buffer_.data(), n));
    }
    teardown();
}

void websocket_session::handle_input(std::span<std::uint8_t> input) {
    while (!parser_.stopped() && phase_ != phase::closed) {
        switch (parser_.parse(input)) {
            case frame_parser::event::need_more: return;
            case frame_parser::event::message: deliver_message(); break;
            case frame_parser::event::ping: on_ping(); break;
            case frame_parser::event::pong: break;  // unsolicited or not, nothing to do
            case frame_parser::event::close: on_peer_close(parser_.close_code(), parser_.close_reason()); return;
            case frame_parser::event::error: fail(parser_.error_code(), parser_.error_reason()); return;
        }
    }
}

void websocket_session::deliver_message() {
    // After a close starts (or close() was called, its begin_close still queued), messages are
    // read and dropped.
    if (phase_ != phase::open || !accepting_sends_.load(std::memory_order_acquire)) return;
    current_.binary = parser_.is_binary();
    current_.data = std::move(parser_.message());
    bool threw = false;
    try {
        emit_message(current_);
    } catch (const std::exception& e) {
        log_.error("websocket message handler threw", {{"error", e.what()}});
        threw = true;
    } catch (...) {
        log_.error("websocket message handler threw");
        threw = true;
    }
    // Hand the buffer back to the parser, so steady traffic allocates nothing per message.
    if (current_.data.capacity() > keep_capacity) current_.data = std::string();
    parser_.message() = std::move(current_.data);
    if (threw) fail(ws_close::internal_error, "internal error");
}

void websocket_session::on_ping() {
    if (phase_ != phase::open || close_queued_) return;
    outgoing pong{build_frame(ws_opcode::pong, parser_.control_payload()), true, false};
    if (!reserve_queue_bytes(pong.bytes.size())) {
        fail(ws_close::policy_violation, "send queue full");
        return;
    }
    enqueue(std::move(pong));
}

void websocket_session::on_peer_close(std::uint16_t code, std::string_view reason) {
    close_received_ = true;
    std::string r(reason);
    if (phase_ == phase::open) {
        phase_ = phase::closing;
        accepting_sends_.store(false, std::memory_order_release);
        // Echo the peer's code (1000 when it sent none) and reason; frames queued before go first.
        if (code == ws_close::no_status) {
            enqueue_close(ws_close::normal, {});
        } else {
            enqueue_close(code, r);
        }
        arm_close_timer();
        finish_close(code, r);
        return;
    }
    if (phase_ == phase::closing) {
        finish_close(code, r);
        // Both close frames are through: the server drops TCP first (RFC 6455 section 7.1.1);
        // a client waits for that (the read loop sees the end of the stream).
        if (close_written_ && role_ == role::server) teardown();
    }
}

void websocket_session::begin_close(std::uint16_t code, const std::string& reason) {
    if (phase_ != phase::open) return;
    phase_ = phase::closing;
    accepting_sends_.store(false, std::memory_order_release);
    drop_message_handler();
    if (!is_valid_close_code(code) && code != ws_close::no_status) {
        log_.warn("invalid WebSocket close code; closing without a code", {{"code", code}});
        code = ws_close::no_status;
    }
    enqueue_close(code, reason);
    arm_close_timer();
}

void websocket_session::fail(std::uint16_t code, std::string_view reason) {
    if (phase_ == phase::closed) return;
    if (log_.enabled(log_level::debug)) {
        log_.debug("failing the WebSocket connection", {{"code", code}, {"reason", reason}});
    }
    if (phase_ == phase::closing) {
        // Already closing: nothing more to say to this peer.
        finish_close(code, std::string(reason));
        teardown();
        return;
    }
    phase_ = phase::closing;
    failed_ = true;
    accepting_sends_.store(false, std::memory_order_release);
    drop_queue();
    enqueue_close(code, reason);
    arm_close_timer();
    finish_close(code, std::string(reason));
}

void websocket_session::enqueue(outgoing frame, std::shared_ptr<void>* token) {
    if (phase_ == phase::closed || (close_queued_ && !frame.is_close)) {
        // Nothing may follow a close frame (RFC 6455 section 5.5.1).
        if (frame.counted) queued_bytes_.fetch_sub(frame.bytes.size(), std::memory_order_relaxed);
        return;
    }
    queue_.push_back(std::move(frame));
    // The sender waits for the loop's next write attempt (at once on an idle socket, or after
    // one turn of the strand); a socket whose peer is behind is not waited for.
    if (token && *token && !blocked_) held_tokens_.push_back(std::move(*token));
    start_writing();
}

void websocket_session::take_sends() {
    {
        // The spares are empty: the gathered buffers come out, the spares' capacity goes in.
        std::lock_guard lock(sends_mutex_);
        sends_.bytes.swap(spare_bytes_);
        sends_.tokens.swap(spare_tokens_);
        sends_.take_posted = false;
    }
    std::string taken = std::move(spare_bytes_);
    spare_bytes_.clear();
    if (taken.empty()) return;
    if (phase_ == phase::closed || close_queued_) {
        // Nothing may follow a close frame; the tokens go too.
        queued_bytes_.fetch_sub(taken.size(), std::memory_order_relaxed);
        spare_tokens_.clear();
        return;
    }
    queue_.push_back(outgoing{std::move(taken), true, false});
    // As in enqueue(): the senders wait for the next write attempt unless the peer is behind.
    if (!blocked_) {
        if (held_tokens_.empty()) {
            held_tokens_.swap(spare_tokens_);
        } else {
            for (auto& t : spare_tokens_) held_tokens_.push_back(std::move(t));
        }
    }
    spare_tokens_.clear();
    // This already is a later turn than the sends it took, so the write is tried at once.
    if (!writing_) {
        writing_ = true;
        write_queue();
    }
}

void websocket_session::enqueue_close(std::uint16_t code, std::string_view reason) {
    if (close_queued_) return;
    // Frames sent before the close go first (dropped by fail(), which empties the queue first).
    if (!failed_) take_sends();
    outgoing frame{build_frame(ws_opcode::close, make_ws_close_payload(code, reason)), false, true};
    enqueue(std::move(frame));
    close_queued_ = true;
}

void websocket_session::drop_queue() noexcept {
    std::size_t counted = 0;
    for (const auto& f : queue_) {
        if (f.counted) counted += f.bytes.size();
    }
    queue_.clear();
    held_tokens_.clear();
    gathered_sends dropped;
    {
        std::lock_guard lock(sends_mutex_);
        dropped = std::exchange(sends_, gathered_sends{});
        sends_.take_posted = dropped.take_posted;  // a take still posted finds nothing
    }
    counted += dropped.bytes.size();
    queued_bytes_.fetch_sub(counted, std::memory_order_relaxed);
}

void websocket_session::start_writing() {
    if (writing_ || queue_.empty() || phase_ == phase::closed) return;
    writing_ = true;
    // The write starts on the strand's next turn, not inline: frames that other handlers
    // already queued for this session go out in the same write.
    asio::post(strand_, [self = shared_from_this()] { self->write_queue(); });
}

void websocket_session::write_queue() {
    while (!queue_.empty() && phase_ != phase::closed) {
        std::size_t counted = 0;
        bool has_close = false;
        if (queue_.size() == 1 || queue_.front().bytes.size() >= coalesce_limit) {
            outgoing& f = queue_.front();
            counted = f.counted ? f.bytes.size() : 0;
            has_close = f.is_close;
            write_buffer_.swap(f.bytes);
            recycle(f.bytes);
            queue_.pop_front();
        } else {
            write_buffer_.clear();
            while (!queue_.empty() && (write_buffer_.empty() ||
                                       write_buffer_.size() + queue_.front().bytes.size() <= coalesce_limit)) {
                outgoing& f = queue_.front();
                if (f.counted) counted += f.bytes.size();
                has_close = has_close || f.is_close;
                write_buffer_.append(f.bytes);
                recycle(f.bytes);
                queue_.pop_front();
            }
        }
        // The senders waiting for these frames (held_tokens_) are let go once the write was
        // tried: written at once, or the peer is behind (then nobody waits for it).
        releasing_tokens_.swap(held_tokens_);  // (releasing_tokens_ is empty: held_tokens_ keeps a capacity)
        const std::size_t at_once = has_close ? 0 : stream_->try_write(asio::buffer(write_buffer_));
        releasing_tokens_.clear();
        if (at_once < write_buffer_.size()) {
            // The socket is full (or this is the close frame): the rest goes out asynchronously,
            // and the queue after it.
            blocked_ = true;
            asio::co_spawn(strand_, write_rest(shared_from_this(), at_once, counted, has_close), asio::detached);
            return;
        }
        queued_bytes_.fetch_sub(counted, std::memory_order_relaxed);
    }
    finish_writing();
}

task<void> websocket_session::write_rest(std::shared_ptr<websocket_session> self, std::size_t offset,
                                         std::size_t counted, bool has_close) {
    (void)self;  // keeps the session alive until the write ends
    auto rest = asio::buffer(write_buffer_) + offset;
    const std::error_code ec = co_await stream_->write(rest);
    blocked_ = false;
    queued_bytes_.fetch_sub(counted, std::memory_order_relaxed);
    if (ec) {
        if (log_.enabled(log_level::debug)) log_.debug("websocket write failed", {{"error", ec.message()}});
        teardown();
        finish_writing();
        co_return;
    }
    if (has_close) on_close_written();
    write_queue();
}

void websocket_session::recycle(std::string& bytes) noexcept {
    if (bytes.capacity() > spare_bytes_.capacity() && bytes.capacity() <= keep_capacity) {
        bytes.clear();
        spare_bytes_.swap(bytes);
    }
}

void websocket_session::finish_writing() {
    held_tokens_.clear();
    if (write_buffer_.capacity() > keep_capacity) write_buffer_ = std::string();
    writing_ = false;
}

void websocket_session::on_close_written() {
    close_written_ = true;
    if (failed_) {
        // Let the peer read our close frame, then see the end of the stream; wait for its end
        // (or the timer) before closing, so unread input does not turn into a reset.
        stream_->shutdown_send();
        return;
    }
    if (close_received_ && role_ == role::server) teardown();
}

void websocket_session::arm_close_timer() {
    if (timer_armed_ || phase_ == phase::closed) return;
    timer_armed_ = true;
    auto self = shared_from_this();
    arm_timer(close_timer_, limits_.close_timeout, [self] {
        if (self->phase_ == phase::closed) return;
        self->log_.debug("WebSocket close handshake timed out");
        self->teardown();
    });
}

void websocket_session::finish_close(std::uint16_t code, const std::string& reason) {
    if (close_emitted_) return;
    close_emitted_ = true;
    try {
        emit_close(code, reason);
    } catch (const std::exception& e) {
        log_.error("websocket close handler threw", {{"error", e.what()}});
    } catch (...) {
        log_.error("websocket close handler threw");
    }
}

void websocket_session::terminate() {
    asio::post(strand_, [self = shared_from_this()] { self->teardown(); });
}

void websocket_session::teardown() noexcept {
    if (phase_ == phase::closed) return;
    phase_ = phase::closed;
    accepting_sends_.store(false, std::memory_order_release);
    close_timer_.cancel();
    stream_->close();
    drop_queue();
    finish_close(ws_close::abnormal, {});
}

}  // namespace rivetkit::net
