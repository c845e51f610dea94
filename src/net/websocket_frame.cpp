#include "net/websocket_frame.hpp"

#include <algorithm>
#include <cstring>

#include "common/utf8.hpp"

namespace rivetkit::net {

bool is_valid_close_code(std::uint16_t code) noexcept {
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1014) return true;  // 1012-1014 are registered with IANA
    return code >= 3000 && code <= 4999;
}

std::size_t apply_ws_mask(std::span<std::uint8_t> data, const ws_mask_key& key, std::size_t offset) noexcept {
    offset &= 3;
    std::uint8_t pattern[8];
    for (std::size_t i = 0; i < 8; ++i) pattern[i] = key[(offset + i) & 3];
    std::uint64_t word;
    std::memcpy(&word, pattern, sizeof word);

    std::uint8_t* p = data.data();
    const std::size_t n = data.size();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t v;
        std::memcpy(&v, p + i, sizeof v);
        v ^= word;
        std::memcpy(p + i, &v, sizeof v);
    }
    for (; i < n; ++i) p[i] ^= pattern[i & 7];  // the tail starts at a multiple of 8
    return (offset + n) & 3;
}

std::size_t ws_frame_header_size(std::uint64_t payload_size, bool masked) noexcept {
    const std::size_t length_bytes = payload_size < 126 ? 0 : payload_size <= 0xFFFF ? 2 : 8;
    return 2 + length_bytes + (masked ? 4 : 0);
}

std::size_t write_ws_frame_header(std::uint8_t* out, ws_opcode op, bool fin, std::uint64_t payload_size,
                                  const std::optional<ws_mask_key>& mask) noexcept {
    out[0] = static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(op));
    const std::uint8_t mask_bit = mask ? 0x80 : 0x00;
    std::size_t pos = 2;
    if (payload_size < 126) {
        out[1] = static_cast<std::uint8_t>(mask_bit | payload_size);
    } else if (payload_size <= 0xFFFF) {
        out[1] = static_cast<std::uint8_t>(mask_bit | 126);
        out[2] = static_cast<std::uint8_t>(payload_size >> 8);
        out[3] = static_cast<std::uint8_t>(payload_size);
        pos = 4;
    } else {
        out[1] = static_cast<std::uint8_t>(mask_bit | 127);
        for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(payload_size >> (56 - 8 * i));
        pos = 10;
    }
    if (mask) {
        std::memcpy(out + pos, mask->data(), 4);
        pos += 4;
    }
    return pos;
}

void append_ws_frame(std::string& out, ws_opcode op, std::string_view payload, bool fin,
                     const std::optional<ws_mask_key>& mask) {
    const std::size_t start = out.size();
    const std::size_t header = ws_frame_header_size(payload.size(), mask.has_value());
    out.resize(start + header + payload.size());
    auto* p = reinterpret_cast<std::uint8_t*>(out.data() + start);
    write_ws_frame_header(p, op, fin, payload.size(), mask);
    if (!payload.empty()) std::memcpy(p + header, payload.data(), payload.size());
    if (mask) apply_ws_mask({p + header, payload.size()}, *mask);
}

std::string make_ws_close_payload(std::uint16_t code, std::string_view reason) {
    if (code == ws_close::no_status) return {};
    if (reason.size() > ws_max_close_reason) {
        std::size_t cut = ws_max_close_reason;
        // Back up to the start of the character that would be split.
        while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
        reason = reason.substr(0, cut);
    }
    std::string out;
    out.reserve(2 + reason.size());
    out.push_back(static_cast<char>(code >> 8));
    out.push_back(static_cast<char>(code & 0xFF));
    out.append(reason);
    return out;
}

bool utf8_validator::feed(std::string_view piece) noexcept {
    if (!ok_) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(piece.data());
    const auto* const end = p + piece.size();
    while (p < end) {
        if (pending_ > 0) {
            if (*p < lo_ || *p > hi_) return ok_ = false;
            lo_ = 0x80;
            hi_ = 0xBF;
            --pending_;
            ++p;
            continue;
        }
        while (end - p >= 8) {  // ASCII runs, 8 bytes at a time
            std::uint64_t word;
            std::memcpy(&word, p, sizeof word);
            if ((word & 0x8080808080808080ULL) != 0) break;
            p += 8;
        }
        if (p == end) break;
        const unsigned char lead = *p++;
        if (lead < 0x80) continue;
        // Table 3-7 of the Unicode standard, as in is_valid_utf8: the range of the second byte
        // depends on the lead byte (no overlongs, no surrogates, nothing above U+10FFFF).
        if (lead >= 0xC2 && lead <= 0xDF) {
            pending_ = 1;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            pending_ = 2;
            if (lead == 0xE0) lo_ = 0xA0;
            if (lead == 0xED) hi_ = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            pending_ = 3;
            if (lead == 0xF0) lo_ = 0x90;
            if (lead == 0xF4) hi_ = 0x8F;
        } else {
            return ok_ = false;
        }
    }
    return true;
}

std::string_view frame_parser::close_reason() const noexcept {
    if (control_size_ < 2) return {};
    return {control_.data() + 2, control_size_ - 2};
}

frame_parser::event frame_parser::fail(std::uint16_t code, const char* reason) noexcept {
    state_ = state::stopped;
    error_code_ = code;
    error_reason_ = reason;
    return event::error;
}

frame_parser::event frame_parser::parse(std::span<std::uint8_t>& input) {
    for (;;) {
        if (state_ == state::stopped) return event::need_more;
        if (state_ == state::header) {
            std::size_t need = 2;
            if (header_size_ >= 2) {
                const std::uint8_t len7 = header_[1] & 0x7F;
                need += len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
                if ((header_[1] & 0x80) != 0) need += 4;
            }
            if (header_size_ < need) {
                if (input.empty()) return event::need_more;
                const std::size_t take = std::min(need - header_size_, input.size());
                std::memcpy(header_.data() + header_size_, input.data(), take);
                header_size_ += take;
                input = input.subspan(take);
                continue;
            }
            if (const event e = on_header(); e != event::need_more) return e;
            continue;
        }

        // state::payload
        if (input.empty()) return event::need_more;
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input.size()));
        const auto chunk = input.first(take);
        if (masked_) mask_offset_ = apply_ws_mask(chunk, mask_, mask_offset_);
        const std::string_view bytes(reinterpret_cast<const char*>(chunk.data()), take);
        if ((static_cast<std::uint8_t>(op_) & 0x8) != 0) {
            std::memcpy(control_.data() + control_size_, bytes.data(), take);
            control_size_ += take;
        } else {
            message_.append(bytes);
            if (message_op_ == ws_opcode::text && !utf8_.feed(bytes)) {
                return fail(ws_close::invalid_payload, "invalid UTF-8 in a text message");
            }
        }
        input = input.subspan(take);
        remaining_ -= take;
        if (remaining_ == 0) {
            state_ = state::header;
            if (const event e = on_frame_end(); e != event::need_more) return e;
        }
    }
}

frame_parser::event frame_parser::on_header() noexcept {
    const std::uint8_t b0 = header_[0];
    const std::uint8_t b1 = header_[1];
    header_size_ = 0;
    fin_ = (b0 & 0x80) != 0;
    masked_ = (b1 & 0x80) != 0;
    const std::uint8_t op = b0 & 0x0F;

    if ((b0 & 0x70) != 0) return fail(ws_close::protocol_error, "reserved bits set");
    if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA) {
        return fail(ws_close::protocol_error, "unknown opcode");
    }
    if (masked_ != expect_masked_) {
        return fail(ws_close::protocol_error, expect_masked_ ? "unmasked frame from a client" : "masked frame from a server");
    }
    op_ = static_cast<ws_opcode>(op);

    std::uint64_t length = b1 & 0x7F;
    std::size_t pos = 2;
    if (length == 126) {
        length = (std::uint64_t{header_[2]} << 8) | header_[3];
        pos = 4;
    } else if (length == 127) {
        length = 0;
        for (std::size_t i = 0; i < 8; ++i) length = (length << 8) | header_[2 + i];
        pos = 10;
        if ((length >> 63) != 0) return fail(ws_close::protocol_error, "frame length has its top bit set");
    }
    if (masked_) {
        std::memcpy(mask_.data(), header_.data() + pos, 4);
        mask_offset_ = 0;
    }

    if ((op & 0x8) != 0) {
        if (!fin_) return fail(ws_close::protocol_error, "fragmented control frame");
        if (length > ws_max_control_payload) return fail(ws_close::protocol_error, "control frame too large");
        control_size_ = 0;
    } else {
        if (op_ == ws_opcode::continuation) {
            if (!in_message_) return fail(ws_close::protocol_error, "continuation frame without a message");
        } else {
            if (in_message_) return fail(ws_close::protocol_error, "new message inside a fragmented message");
            in_message_ = true;
            message_op_ = op_;
            message_.clear();
            utf8_.reset();
        }
        if (length > max_message_bytes_ - message_.size()) return fail(ws_close::message_too_big, "message too big");
        // The first frame's length is a good guess for the whole message (bounded by the limit).
        if (message_.empty()) message_.reserve(static_cast<std::size_t>(length));
    }

    remaining_ = length;
    state_ = state::payload;
    if (remaining_ == 0) {
        state_ = state::header;
        return on_frame_end();
    }
    return event::need_more;
}

frame_parser::event frame_parser::on_frame_end() noexcept {
    switch (op_) {
        case ws_opcode::ping: return event::ping;
        case ws_opcode::pong: return event::pong;
        case ws_opcode::close: {
            if (control_size_ == 1) return fail(ws_close::protocol_error, "close payload of one byte");
            if (control_size_ >= 2) {
                const auto code = static_cast<std::uint16_t>((static_cast<unsigned char>(control_[0]) << 8) |
                                                             static_cast<unsigned char>(control_[1]));
                if (!is_valid_close_code(code)) return fail(ws_close::protocol_error, "invalid close code");
                if (!is_valid_utf8(close_reason())) return fail(ws_close::invalid_payload, "close reason is not UTF-8");
                close_code_ = code;
            } else {
                close_code_ = ws_close::no_status;
            }
            state_ = state::stopped;
            return event::close;
        }
        default: break;
    }
    if (!fin_) return event::need_more;
    in_message_ = false;
    if (message_op_ == ws_opcode::text && !utf8_.complete()) {
        return fail(ws_close::invalid_payload, "invalid UTF-8 in a text message");
    }
    return event::message;
}

}  // namespace rivetkit::net
