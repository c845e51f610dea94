#pragma once
// One end of an open RFC 6455 connection (after the handshake), on either role, over any
// byte_stream. Implements rivetkit::websocket: callbacks run on the session's strand; send(),
// send_binary() and close() may be called from any thread.
//
// Close semantics: on_close fires exactly once. After a clean close handshake it carries the
// peer's code and reason (1005 when the peer's close frame had no code); 1006 when the
// connection ended without the peer's close frame (TCP dropped, or no answer within
// close_timeout). When this end fails the connection (a protocol violation by the peer, an
// oversized message, a full send queue) it carries the code and reason this end sent, at once.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include "net/stream.hpp"
#include "net/websocket_frame.hpp"
#include "rivetkit/log.hpp"
#include "rivetkit/websocket.hpp"

namespace rivetkit::net {

struct websocket_limits {
    /// Largest message accepted from the peer (all fragments together); beyond it: close 1009.
    std::size_t max_message_bytes = 1 << 20;
    /// Bytes of outgoing frames waiting to be written; a send beyond it (while something is
    /// already queued) closes the connection with 1008: the peer is not reading.
    std::size_t max_send_queue_bytes = 16 << 20;
    /// How long to wait for the peer's part of the close handshake before dropping TCP.
    std::chrono::milliseconds close_timeout{5000};
};

class websocket_session : public rivetkit::websocket, public std::enable_shared_from_this<websocket_session> {
    struct private_tag {};

public:
    enum class role { server, client };

    /// `initial_bytes`: what was read from the stream after the handshake (the start of the
    /// first frames). `protocol`: the negotiated subprotocol, empty for none.
    static std::shared_ptr<websocket_session> create(std::unique_ptr<byte_stream> stream, role r,
                                                     std::string initial_bytes, websocket_limits limits,
                                                     std::string protocol);

    websocket_session(private_tag, std::unique_ptr<byte_stream> stream, role r, std::string initial_bytes,
                      websocket_limits limits, std::string protocol);
    ~websocket_session() override;
    websocket_session(const websocket_session&) = delete;
    websocket_session& operator=(const websocket_session&) = delete;

    /// Starts reading. Until then frames wait in the stream; call it once.
    void start();

    [[nodiscard]] const std::string& protocol() const noexcept { return protocol_; }
    [[nodiscard]] role session_role() const noexcept { return role_; }

    void send(std::string_view text) override;
    void send_binary(std::span<const std::uint8_t> data) override;
    /// send() and send_binary() that keep `token` until the write carrying the frame has been
    /// tried (on the strand's next turn, or when the write in progress ends), then let it go on
    /// the session's strand; at once when the peer is behind (a write is blocked) or the frame is
    /// dropped (closing, closed, queue full). Costs nothing more than the send: the token waits
    /// with the frame.
    void send_tracked(std::string_view text, std::shared_ptr<void> token);
    void send_binary_tracked(std::span<const std::uint8_t> data, std::shared_ptr<void> token);
    /// An invalid `code` (1005 included) sends a close frame without a code; `reason` is cut to
    /// 123 bytes.
    void close(std::uint16_t code = 1000, std::string_view reason = {}) override;
    /// Drops the TCP connection without a close handshake; the close handlers see 1006.
    void terminate();
    /// True until a close starts (from either end) or the connection ends.
    [[nodiscard]] bool is_open() const override { return accepting_sends_.load(std::memory_order_acquire); }

    /// Sends a ping (at most 125 bytes of payload; longer is cut). The peer's pong is ignored.
    void ping(std::string_view payload = {});

    /// Bytes of frames accepted by send() and not yet written (for monitoring and tests).
    [[nodiscard]] std::size_t queued_bytes() const noexcept { return queued_bytes_.load(std::memory_order_relaxed); }

protected:
    void run_on_executor(std::function<void()> fn) override;

private:
    struct outgoing {
        std::string bytes;   // one or more whole frames
        bool counted;        // included in queued_bytes_
        bool is_close;
    };
    enum class phase { open, closing, closed };

    // Any thread.
    std::string build_frame(ws_opcode op, std::string_view payload) const;
    bool reserve_queue_bytes(std::size_t n);
    void send_frame(ws_opcode op, std::string_view payload, std::shared_ptr<void> token = {});
    void post_overflow();

    // On the strand.
    task<void> read_loop(std::shared_ptr<websocket_session> self);
    /// Writes the queue (writing_ set): each batch tried at once; when the socket does not take
    /// it all, write_rest() finishes it asynchronously and goes on with the queue.
    void write_queue();
    task<void> write_rest(std::shared_ptr<websocket_session> self, std::size_t offset, std::size_t counted,
                          bool has_close);
    void finish_writing();
    void handle_input(std::span<std::uint8_t> input);
    void deliver_message();
    void on_ping();
    void on_peer_close(std::uint16_t code, std::string_view reason);
    void begin_close(std::uint16_t code, const std::string& reason);
    void fail(std::uint16_t code, std::string_view reason);
    /// `token`: a sender's (send_tracked), taken when the sender is to wait for the next write.
    void enqueue(outgoing frame, std::shared_ptr<void>* token = nullptr);
    void enqueue_close(std::uint16_t code, std::string_view reason);
    /// Moves what send_frame() gathered (sends_) into the queue, behind what is there.
    void take_sends();
    /// Keeps `bytes`' capacity as the spare buffer when it is the larger one (and not huge).
    void recycle(std::string& bytes) noexcept;
    void drop_queue() noexcept;
    void start_writing();
    void on_close_written();
    void arm_close_timer();
    void finish_close(std::uint16_t code, const std::string& reason);
    void teardown() noexcept;

    std::unique_ptr<byte_stream> stream_;
    /// The stream's strand, or a strand over its executor (net::serialising): every handler of
    /// the session runs on it.
    asio::any_io_executor strand_;
    role role_;
    websocket_limits limits_;
    std::string protocol_;
    std::string initial_bytes_;
    logger log_;

    // Any thread.
    std::atomic<bool> accepting_sends_{true};
    std::atomic<bool> overflowed_{false};
    std::atomic<std::size_t> queued_bytes_{0};
    /// Frames sent from any thread and not yet taken by the strand: appended to one buffer, so a
    /// burst of sends (a broadcast's events) costs one post and one queue entry, not one each.
    struct gathered_sends {
        std::string bytes;                         // whole frames, counted in queued_bytes_
        std::vector<std::shared_ptr<void>> tokens;  // send_tracked()'s, in send order
        bool take_posted = false;                  // a take_sends() is posted and has not run
    };
    std::mutex sends_mutex_;
    gathered_sends sends_;

    // Strand only.
    frame_parser parser_;
    std::vector<std::uint8_t> read_buffer_;
    websocket_message current_;  // reused for every delivered message
    phase phase_ = phase::open;
    bool started_ = false;
    bool failed_ = false;          // this end failed the connection
    bool close_queued_ = false;    // our close frame is queued or written
    bool close_written_ = false;
    bool close_received_ = false;  // the peer's close frame arrived
    bool close_emitted_ = false;
    bool writing_ = false;
    bool blocked_ = false;         // the stream did not take the whole write at once
    std::vector<std::shared_ptr<void>> held_tokens_;  // senders waiting for the next write attempt
    // Empty buffers whose capacity the next take and write reuse (take_sends() swaps them with
    // the gathered ones), so a steady stream of sends allocates nothing per write.
    std::string spare_bytes_;
    std::vector<std::shared_ptr<void>> spare_tokens_;
    std::vector<std::shared_ptr<void>> releasing_tokens_;  // write_queue(): let go after the attempt
    bool timer_armed_ = false;
    std::deque<outgoing> queue_;
    std::string write_buffer_;     // the batch being written
    asio::steady_timer close_timer_;
};

}  // namespace rivetkit::net
