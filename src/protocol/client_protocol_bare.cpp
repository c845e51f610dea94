// The BARE encoding of the client protocol (client-protocol.md §3.4; schemas
// client-protocol.v1..v4.bare). Every payload is `u16 LE version` + the body; union tags are one
// byte; user values are one CBOR item inside `data`. We write version 2 and read 1..4:
//   v1: Init has a third field, connectionToken: str (read and dropped);
//   v2, v3: the messages here are identical (v3 only adds the queue structs);
//   v4: Error and HttpResponseError end with actor: optional<ActorSpecifier{actorId: str,
//       generation: uint, key: optional<str>}> (read and dropped).
// Client -> server payloads are the same bytes in every version apart from the prefix.

#include <fmt/format.h>

#include <utility>

#include "common/bare.hpp"
#include "common/cbor.hpp"
#include "protocol/client_protocol_detail.hpp"

namespace rivetkit::protocol::detail::bare_codec {
namespace {

enum : std::uint8_t { tag_init = 0, tag_error = 1, tag_action_response = 2, tag_event = 3 };
enum : std::uint8_t { tag_action_request = 0, tag_subscription_request = 1 };

class frame_writer {
public:
    frame_writer() {
        w_.reserve(64);  // most messages are small: one allocation, not one per growth
        w_.u16(bare_emitted_version);
    }

    bare::writer& operator*() noexcept { return w_; }
    bare::writer* operator->() noexcept { return &w_; }

    /// `data` holding one CBOR item.
    void cbor_data(const value& v) {
        scratch_.clear();
        cbor::encode(v, scratch_);
        w_.data(scratch_);
    }
    void cbor_array_data(const array& a) {
        scratch_.clear();
        cbor_append_array(scratch_, a);
        w_.data(scratch_);
    }
    /// optional<data>: present unless undefined. The reference writes metadata only when it is
    /// truthy (dropping 0, false and ""); we keep every value but undefined.
    void optional_cbor_data(const value& v) {
        w_.optional_tag(!v.is_undefined());
        if (!v.is_undefined()) cbor_data(v);
    }

    std::string take() { return to_std_string(w_.buffer()); }

private:
    bare::writer w_;
    bytes scratch_;
};

struct frame {
    std::uint16_t version;
    bare::reader reader;
};

frame open_frame(std::string_view payload) {
    const auto [version, body] = bare::split_version(as_bytes(payload));
    if (version < bare_min_version || version > bare_max_version) {
        malformed(fmt::format("unknown BARE version {}", version));
    }
    return {version, bare::reader(body)};
}

value user_value(bare::reader& r) {
    const bytes d = r.data();
    return decode_cbor_user_value(d);
}

value optional_user_value(bare::reader& r) {
    if (!r.optional_tag()) return {};
    return user_value(r);
}

array args(bare::reader& r, std::string_view where) {
    const bytes d = r.data();
    return decode_cbor_args(d, where);
}

/// v4's trailing actor: optional<ActorSpecifier>: validated, then dropped.
void skip_actor_specifier(frame& f) {
    if (f.version < 4 || !f.reader.optional_tag()) return;
    (void)f.reader.str();   // actorId
    (void)f.reader.uint();  // generation
    if (f.reader.optional_tag()) (void)f.reader.str();  // key
}

}  // namespace

std::string encode_to_client(const to_client& message) {
    frame_writer w;
    if (const auto* init = std::get_if<init_message>(&message)) {
        w->u8(tag_init);
        w->str(init->actor_id);
        w->str(init->connection_id);
    } else if (const auto* err = std::get_if<error_message>(&message)) {
        w->u8(tag_error);
        w->str(err->group);
        w->str(err->code);
        w->str(err->message);
        w.optional_cbor_data(err->metadata);
        w->optional_tag(err->action_id.has_value());
        if (err->action_id) w->uint(*err->action_id);
    } else if (const auto* res = std::get_if<action_response>(&message)) {
        w->u8(tag_action_response);
        w->uint(res->id);
        w.cbor_data(res->output);
    } else {
        const auto& ev = std::get<event_message>(message);
        w->u8(tag_event);
        w->str(ev.name);
        w.cbor_array_data(ev.args);
    }
    return w.take();
}

to_client decode_to_client(std::string_view payload) {
    frame f = open_frame(payload);
    bare::reader& r = f.reader;
    to_client out;
    switch (const std::uint8_t tag = r.u8()) {
        case tag_init: {
            init_message m;
            m.actor_id = r.str();
            m.connection_id = r.str();
            if (f.version == 1) (void)r.str();  // connectionToken
            out = std::move(m);
            break;
        }
        case tag_error: {
            error_message m;
            m.group = r.str();
            m.code = r.str();
            m.message = r.str();
            m.metadata = optional_user_value(r);
            if (r.optional_tag()) m.action_id = r.uint();
            skip_actor_specifier(f);
            out = std::move(m);
            break;
        }
        case tag_action_response: {
            action_response m;
            m.id = r.uint();
            m.output = user_value(r);
            out = std::move(m);
            break;
        }
        case tag_event: {
            event_message m;
            m.name = r.str();
            m.args = args(r, "Event.args");
            out = std::move(m);
            break;
        }
        default: malformed(fmt::format("ToClient: unknown union tag {}", tag));
    }
    r.expect_end();
    return out;
}

std::string encode_to_server(const to_server& message) {
    frame_writer w;
    if (const auto* req = std::get_if<action_request>(&message)) {
        w->u8(tag_action_request);
        w->uint(req->id);
        w->str(req->name);
        w.cbor_array_data(req->args);
    } else {
        const auto& sub = std::get<subscription_request>(message);
        w->u8(tag_subscription_request);
        w->str(sub.event_name);
        w->boolean(sub.subscribe);
    }
    return w.take();
}

to_server decode_to_server(std::string_view payload) {
    frame f = open_frame(payload);
    bare::reader& r = f.reader;
    to_server out;
    switch (const std::uint8_t tag = r.u8()) {
        case tag_action_request: {
            action_request m;
            m.id = r.uint();
            m.name = r.str();
            m.args = args(r, "ActionRequest.args");
            out = std::move(m);
            break;
        }
        case tag_subscription_request: {
            subscription_request m;
            m.event_name = r.str();
            m.subscribe = r.boolean();
            out = std::move(m);
            break;
        }
        default: malformed(fmt::format("ToServer: unknown union tag {}", tag));
    }
    r.expect_end();
    return out;
}

std::string encode_http_action_request(const array& args) {
    frame_writer w;
    w.cbor_array_data(args);
    return w.take();
}

array decode_http_action_request(std::string_view body) {
    frame f = open_frame(body);
    array out = args(f.reader, "HttpActionRequest.args");
    f.reader.expect_end();
    return out;
}

std::string encode_http_action_response(const value& output) {
    frame_writer w;
    w.cbor_data(output);
    return w.take();
}

value decode_http_action_response(std::string_view body) {
    frame f = open_frame(body);
    value out = user_value(f.reader);
    f.reader.expect_end();
    return out;
}

std::string encode_http_error(const client_error& error) {
    frame_writer w;
    w->str(error.group);
    w->str(error.code);
    w->str(error.message);
    w.optional_cbor_data(error.metadata);
    return w.take();
}

client_error decode_http_error(std::string_view body) {
    frame f = open_frame(body);
    bare::reader& r = f.reader;
    client_error out;
    out.group = r.str();
    out.code = r.str();
    out.message = r.str();
    out.metadata = optional_user_value(r);
    skip_actor_specifier(f);
    r.expect_end();
    out.http_status = status_for(out.group, out.code);
    return out;
}

}  // namespace rivetkit::protocol::detail::bare_codec
