#pragma once
// The RFC 6455 framing layer as a pure codec: no I/O, no threads. `frame_parser` turns bytes
// from the peer into whole messages and control frames, enforcing the protocol (masking
// direction, reserved bits, opcodes, control-frame rules, fragmentation, UTF-8, size limit) and
// reporting each violation with the close code to fail the connection with. The writer
// functions build frames for the other direction.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rivetkit::net {

enum class ws_opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

/// Close codes used by the session (RFC 6455 section 7.4.1).
namespace ws_close {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;   // never on the wire
inline constexpr std::uint16_t abnormal = 1006;    // never on the wire
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
}  // namespace ws_close

using ws_mask_key = std::array<std::uint8_t, 4>;

/// Largest payload of a control frame.
inline constexpr std::size_t ws_max_control_payload = 125;
/// Largest close reason (a control payload minus the two code bytes).
inline constexpr std::size_t ws_max_close_reason = ws_max_control_payload - 2;
/// Largest frame header: 2 + 8 (64-bit length) + 4 (mask key).
inline constexpr std::size_t ws_max_frame_header = 14;

/// Whether a close frame may carry `code`: 1000-1003, 1007-1014 and 3000-4999. 1004 is
/// reserved, 1005/1006/1015 must never be sent, everything else is unassigned.
[[nodiscard]] bool is_valid_close_code(std::uint16_t code) noexcept;

/// XORs `data` with `key`, starting at byte `offset` of the key cycle (so a payload can be
/// unmasked piecewise). Returns the offset for the byte after `data`.
std::size_t apply_ws_mask(std::span<std::uint8_t> data, const ws_mask_key& key, std::size_t offset = 0) noexcept;

/// The header size of a frame with `payload_size` bytes.
[[nodiscard]] std::size_t ws_frame_header_size(std::uint64_t payload_size, bool masked) noexcept;

/// Writes a frame header into `out` (room for ws_max_frame_header bytes); returns its size.
std::size_t write_ws_frame_header(std::uint8_t* out, ws_opcode op, bool fin, std::uint64_t payload_size,
                                  const std::optional<ws_mask_key>& mask) noexcept;

/// Appends one whole frame (header and payload, the payload masked with `mask` when set).
void append_ws_frame(std::string& out, ws_opcode op, std::string_view payload, bool fin = true,
                     const std::optional<ws_mask_key>& mask = std::nullopt);

/// The payload of a close frame: empty for 1005 (no status), else the code in network order and
/// `reason`, cut to ws_max_close_reason bytes at a UTF-8 character boundary.
[[nodiscard]] std::string make_ws_close_payload(std::uint16_t code, std::string_view reason);

/// Incremental strict UTF-8 validation (the rules of is_valid_utf8), for text messages that
/// arrive in pieces: a character may span pieces.
class utf8_validator {
public:
    /// False as soon as the bytes seen so far cannot start a valid string; stays false.
    bool feed(std::string_view piece) noexcept;
    /// True when everything fed is valid and no character is left unfinished.
    [[nodiscard]] bool complete() const noexcept { return ok_ && pending_ == 0; }
    void reset() noexcept { *this = utf8_validator{}; }

private:
    bool ok_ = true;
    std::uint8_t pending_ = 0;  // continuation bytes still expected
    std::uint8_t lo_ = 0x80;    // allowed range of the next continuation byte
    std::uint8_t hi_ = 0xBF;
};

/// Parses the frames one endpoint receives. Feed it bytes as they come; it reports one event at
/// a time. Data payloads are unmasked in place in the input and appended to the message being
/// assembled, so each payload byte is copied once.
class frame_parser {
public:
    enum class event {
        need_more,  // the input is used up; read more
        message,    // a whole data message: message(), is_binary()
        ping,       // control_payload()
        pong,       // control_payload()
        close,      // close_code(), close_reason(); the parser stops here
        error,      // error_code(), error_reason(); the parser stops here
    };

    /// `expect_masked`: true for a server (client frames must be masked), false for a client
    /// (server frames must not be). `max_message_bytes` bounds a message's total payload.
    frame_parser(bool expect_masked, std::size_t max_message_bytes) noexcept
        : expect_masked_(expect_masked), max_message_bytes_(max_message_bytes) {}

    /// Consumes bytes from the front of `input` until an event is complete or the input is used
    /// up; unmasks payload bytes in place. After `close` or `error` it consumes nothing more.
    event parse(std::span<std::uint8_t>& input);

    /// The message of the last `message` event. The caller may move from it or swap it out; the
    /// parser clears it when the next message starts.
    [[nodiscard]] std::string& message() noexcept { return message_; }
    [[nodiscard]] bool is_binary() const noexcept { return message_op_ == ws_opcode::binary; }

    [[nodiscard]] std::string_view control_payload() const noexcept { return {control_.data(), control_size_}; }

    /// 1005 when the close frame had no payload.
    [[nodiscard]] std::uint16_t close_code() const noexcept { return close_code_; }
    [[nodiscard]] std::string_view close_reason() const noexcept;

    [[nodiscard]] std::uint16_t error_code() const noexcept { return error_code_; }
    [[nodiscard]] std::string_view error_reason() const noexcept { return error_reason_; }

    /// Whether the parser stopped (after a close frame or an error).
    [[nodiscard]] bool stopped() const noexcept { return state_ == state::stopped; }

private:
    enum class state { header, payload, stopped };

    event fail(std::uint16_t code, const char* reason) noexcept;
    event on_header() noexcept;
    event on_frame_end() noexcept;

    bool expect_masked_;
    std::size_t max_message_bytes_;
    state state_ = state::header;

    // The frame being read.
    std::array<std::uint8_t, ws_max_frame_header> header_{};
    std::size_t header_size_ = 0;  // bytes of header_ filled
    bool fin_ = false;
    ws_opcode op_ = ws_opcode::continuation;
    bool masked_ = false;
    ws_mask_key mask_{};
    std::size_t mask_offset_ = 0;
    std::uint64_t remaining_ = 0;  // payload bytes still to come

    // The data message being assembled.
    bool in_message_ = false;
    ws_opcode message_op_ = ws_opcode::binary;
    std::string message_;
    utf8_validator utf8_;

    // The control frame being read (never fragmented, at most 125 bytes).
    std::array<char, ws_max_control_payload> control_{};
    std::size_t control_size_ = 0;

    std::uint16_t close_code_ = ws_close::no_status;
    std::uint16_t error_code_ = 0;
    const char* error_reason_ = "";
};

}  // namespace rivetkit::net
