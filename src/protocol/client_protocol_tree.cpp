// JSON and CBOR carry one object tree (client-protocol.md §3.5). Encoding writes the tree
// straight to bytes through one template per message, so both encodings get the same keys in
// the same order (the reference's zod shapes) and user values are not copied into a temporary
// tree. Decoding parses the whole payload into a value and then checks the tree.

#include <fmt/format.h>

#include <string>
#include <utility>

#include "common/cbor.hpp"
#include "common/json.hpp"
#include "protocol/client_protocol_detail.hpp"

namespace rivetkit::protocol::detail::tree {
namespace {

// ---- writers --------------------------------------------------------------------------------
// The protocol needs: nested objects, string/bool/null scalars, bigint ids, and user values.

class json_writer {
public:
    // JSON.stringify drops undefined members.
    static constexpr bool keeps_undefined_members = false;

    void begin_object(std::size_t) {
        out_ += '{';
        need_comma_ = false;
    }
    void end_object() {
        out_ += '}';
        need_comma_ = true;
    }
    void key(std::string_view k) {
        if (need_comma_) out_ += ',';
        json::append_string(out_, k);
        out_ += ':';
    }
    void string(std::string_view s) {
        json::append_string(out_, s);
        need_comma_ = true;
    }
    void boolean(bool b) {
        out_ += b ? "true" : "false";
        need_comma_ = true;
    }
    void null() {
        out_ += "null";
        need_comma_ = true;
    }
    void id(std::uint64_t v) {
        out_ += "[\"$BigInt\",\"";
        out_ += std::to_string(v);
        out_ += "\"]";
        need_comma_ = true;
    }
    /// Undefined prints as null (an undefined root or element, as JSON.stringify does).
    void user(const value& v) {
        out_ += json::encode(v);
        need_comma_ = true;
    }
    /// As json::encode(value(a)) would write it, including the "$" escape of the replacer.
    void user_array(const array& a) {
        out_ += '[';
        if (a.size() == 2 && a[0].is_string() && a[0].as_string().starts_with('$')) {
            json::append_string(out_, "$" + a[0].as_string());
            out_ += ',';
            out_ += json::encode(a[1]);
        } else {
            for (std::size_t i = 0; i < a.size(); ++i) {
                if (i > 0) out_ += ',';
                out_ += json::encode(a[i]);
            }
        }
        out_ += ']';
        need_comma_ = true;
    }

    std::string take() { return std::move(out_); }

private:
    std::string out_;
    bool need_comma_ = false;
};

class cbor_writer {
public:
    // cbor-x writes undefined members (as f7).
    static constexpr bool keeps_undefined_members = true;

    void begin_object(std::size_t n) {
        // cbor-x's preallocated 16-bit map head, whatever the size (§3.3).
        out_.push_back(0xB9);
        out_.push_back(static_cast<std::uint8_t>(n >> 8));
        out_.push_back(static_cast<std::uint8_t>(n));
    }
    void end_object() {}
    void key(std::string_view k) { string(k); }
    void string(std::string_view s) {
        cbor_head(out_, 3, s.size());
        out_.insert(out_.end(), s.begin(), s.end());
    }
    void boolean(bool b) { out_.push_back(b ? 0xF5 : 0xF4); }
    void null() { out_.push_back(0xF6); }
    /// A BigInt: always the 8-byte form, which cbor-x reads back as a BigInt (§3.5).
    void id(std::uint64_t v) {
        out_.push_back(0x1B);
        for (int i = 7; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    void user(const value& v) { cbor::encode(v, out_); }
    void user_array(const array& a) { cbor_append_array(out_, a); }

    std::string take() { return to_std_string(out_); }

private:
    bytes out_;
};

template <class W>
void open_body(W& w, std::string_view tag, std::size_t fields) {
    w.begin_object(1);
    w.key("body");
    w.begin_object(2);
    w.key("tag");
    w.string(tag);
    w.key("val");
    w.begin_object(fields);
}

template <class W>
void close_body(W& w) {
    w.end_object();
    w.end_object();
    w.end_object();
}

template <class W>
void write(W& w, const init_message& m) {
    open_body(w, "Init", 2);
    w.key("actorId");
    w.string(m.actor_id);
    w.key("connectionId");
    w.string(m.connection_id);
    close_body(w);
}

template <class W>
void write(W& w, const error_message& m) {
    // The reference builds this shape with `if (metadata !== undefined)` for both encodings.
    const bool has_metadata = !m.metadata.is_undefined();
    open_body(w, "Error", has_metadata ? 5 : 4);
    w.key("group");
    w.string(m.group);
    w.key("code");
    w.string(m.code);
    w.key("message");
    w.string(m.message);
    if (has_metadata) {
        w.key("metadata");
        w.user(m.metadata);
    }
    w.key("actionId");  // always present: zod wants bigint | null
    if (m.action_id) {
        w.id(*m.action_id);
    } else {
        w.null();
    }
    close_body(w);
}

template <class W>
void write(W& w, const action_response& m) {
    open_body(w, "ActionResponse", 2);
    w.key("id");
    w.id(m.id);
    w.key("output");
    w.user(m.output);
    close_body(w);
}

template <class W>
void write(W& w, const event_message& m) {
    open_body(w, "Event", 2);
    w.key("name");
    w.string(m.name);
    w.key("args");
    w.user_array(m.args);
    close_body(w);
}

template <class W>
void write(W& w, const action_request& m) {
    open_body(w, "ActionRequest", 3);
    w.key("id");
    w.id(m.id);
    w.key("name");
    w.string(m.name);
    w.key("args");
    w.user_array(m.args);
    close_body(w);
}

template <class W>
void write(W& w, const subscription_request& m) {
    open_body(w, "SubscriptionRequest", 2);
    w.key("eventName");
    w.string(m.event_name);
    w.key("subscribe");
    w.boolean(m.subscribe);
    close_body(w);
}

template <class W>
void write_http_error(W& w, const client_error& e) {
    const bool has_metadata = !e.metadata.is_undefined() || W::keeps_undefined_members;
    w.begin_object(has_metadata ? 4 : 3);
    w.key("group");
    w.string(e.group);
    w.key("code");
    w.string(e.code);
    w.key("message");
    w.string(e.message);
    if (has_metadata) {
        w.key("metadata");
        w.user(e.metadata);
    }
    w.end_object();
}

/// Runs `f(writer)` with the writer of `e` and returns the bytes.
template <class F>
std::string with_writer(encoding e, F&& f) {
    if (e == encoding::json) {
        json_writer w;
        f(w);
        return w.take();
    }
    cbor_writer w;
    f(w);
    return w.take();
}

// ---- reading --------------------------------------------------------------------------------

class tree_reader {
public:
    explicit tree_reader(encoding e) noexcept : enc_(e) {}

    value parse(std::string_view payload) const {
        return enc_ == encoding::json ? json::decode(payload) : cbor::decode(as_bytes(payload));
    }

    static object& as_object(value& v, std::string_view where) {
        if (!v.is_object()) malformed(fmt::format("{}: expected an object, got {}", where, kind_name(v.kind())));
        return v.as_object();
    }

    /// A member that must be there; cbor's undefined (f7) counts as absent, as zod sees it.
    static value& required(object& o, std::string_view key, std::string_view where) {
        value* v = o.find(key);
        if (v == nullptr || v->is_undefined()) malformed(fmt::format("{}: missing \"{}\"", where, key));
        return *v;
    }

    static std::string string(object& o, std::string_view key, std::string_view where) {
        value& v = required(o, key, where);
        if (!v.is_string()) {
            malformed(fmt::format("{}.{}: expected a string, got {}", where, key, kind_name(v.kind())));
        }
        return std::move(v.as_string());
    }

    static bool boolean(object& o, std::string_view key, std::string_view where) {
        value& v = required(o, key, where);
        if (!v.is_bool()) {
            malformed(fmt::format("{}.{}: expected a boolean, got {}", where, key, kind_name(v.kind())));
        }
        return v.as_bool();
    }

    /// A bigint (what the JS peers send), or a non-negative integer for peers that do not tag.
    static std::uint64_t id(const value& v, std::string_view where, std::string_view key) {
        if ((v.is_bigint() || v.is_integer()) && v.as_int() >= 0) return static_cast<std::uint64_t>(v.as_int());
        if (v.is_bigint() || v.is_integer()) {
            malformed(fmt::format("{}.{}: negative id {}", where, key, v.as_int()));
        }
        malformed(fmt::format("{}.{}: expected a bigint id, got {}", where, key, kind_name(v.kind())));
    }

    static std::uint64_t id(object& o, std::string_view key, std::string_view where) {
        return id(required(o, key, where), where, key);
    }

    /// bigint | null; absent counts as null.
    static std::optional<std::uint64_t> optional_id(object& o, std::string_view key, std::string_view where) {
        const value* v = o.find(key);
        if (v == nullptr || v->is_nullish()) return std::nullopt;
        return id(*v, where, key);
    }

    array args(object& o, std::string_view key, std::string_view where) const {
        value& v = required(o, key, where);
        if (!v.is_array()) malformed(fmt::format("{}.{}: expected an array, got {}", where, key, kind_name(v.kind())));
        array out = std::move(v.as_array());
        if (enc_ == encoding::cbor) revive_elements(out);
        return out;
    }

    /// A user value that may be absent (undefined).
    value user(object& o, std::string_view key) const {
        value* v = o.find(key);
        if (v == nullptr) return {};
        return enc_ == encoding::cbor ? revive_cbor_compat(std::move(*v)) : std::move(*v);
    }

    struct body {
        std::string tag;
        object* val;
    };

    /// {"body":{"tag":<tag>,"val":{...}}}
    static body open(value& root, std::string_view what) {
        object& r = as_object(root, what);
        const std::string body_where = std::string(what) + ".body";
        object& b = as_object(required(r, "body", what), body_where);
        std::string tag = string(b, "tag", body_where);
        object& val = as_object(required(b, "val", body_where), std::string(what) + "." + tag);
        return {std::move(tag), &val};
    }

private:
    encoding enc_;
};

}  // namespace

std::string encode_to_client(encoding e, const to_client& message) {
    return with_writer(e, [&](auto& w) { std::visit([&](const auto& m) { write(w, m); }, message); });
}

std::string encode_to_server(encoding e, const to_server& message) {
    return with_writer(e, [&](auto& w) { std::visit([&](const auto& m) { write(w, m); }, message); });
}

to_client decode_to_client(encoding e, std::string_view payload) {
    const tree_reader r(e);
    value root = r.parse(payload);
    auto [tag, val] = tree_reader::open(root, "ToClient");
    if (tag == "Init") {
        init_message m;
        m.actor_id = tree_reader::string(*val, "actorId", "Init");
        m.connection_id = tree_reader::string(*val, "connectionId", "Init");
        return m;
    }
    if (tag == "Error") {
        error_message m;
        m.group = tree_reader::string(*val, "group", "Error");
        m.code = tree_reader::string(*val, "code", "Error");
        m.message = tree_reader::string(*val, "message", "Error");
        m.metadata = r.user(*val, "metadata");
        m.action_id = tree_reader::optional_id(*val, "actionId", "Error");
        return m;
    }
    if (tag == "ActionResponse") {
        action_response m;
        m.id = tree_reader::id(*val, "id", "ActionResponse");
        m.output = r.user(*val, "output");
        return m;
    }
    if (tag == "Event") {
        event_message m;
        m.name = tree_reader::string(*val, "name", "Event");
        m.args = r.args(*val, "args", "Event");
        return m;
    }
    malformed(fmt::format("ToClient: unknown tag \"{}\"", tag));
}

to_server decode_to_server(encoding e, std::string_view payload) {
    const tree_reader r(e);
    value root = r.parse(payload);
    auto [tag, val] = tree_reader::open(root, "ToServer");
    if (tag == "ActionRequest") {
        action_request m;
        m.id = tree_reader::id(*val, "id", "ActionRequest");
        m.name = tree_reader::string(*val, "name", "ActionRequest");
        m.args = r.args(*val, "args", "ActionRequest");
        return m;
    }
    if (tag == "SubscriptionRequest") {
        subscription_request m;
        m.event_name = tree_reader::string(*val, "eventName", "SubscriptionRequest");
        m.subscribe = tree_reader::boolean(*val, "subscribe", "SubscriptionRequest");
        return m;
    }
    malformed(fmt::format("ToServer: unknown tag \"{}\"", tag));
}

std::string encode_http_action_request(encoding e, const array& args) {
    return with_writer(e, [&](auto& w) {
        w.begin_object(1);
        w.key("args");
        w.user_array(args);
        w.end_object();
    });
}

array decode_http_action_request(encoding e, std::string_view body) {
    const tree_reader r(e);
    value root = r.parse(body);
    return r.args(tree_reader::as_object(root, "HttpActionRequest"), "args", "HttpActionRequest");
}

std::string encode_http_action_response(encoding e, const value& output) {
    return with_writer(e, [&](auto& w) {
        w.begin_object(1);
        w.key("output");
        w.user(output);
        w.end_object();
    });
}

value decode_http_action_response(encoding e, std::string_view body) {
    const tree_reader r(e);
    value root = r.parse(body);
    return r.user(tree_reader::as_object(root, "HttpActionResponse"), "output");
}

std::string encode_http_error(encoding e, const client_error& error) {
    return with_writer(e, [&](auto& w) { write_http_error(w, error); });
}

client_error decode_http_error(encoding e, std::string_view body) {
    const tree_reader r(e);
    value root = r.parse(body);
    object& o = tree_reader::as_object(root, "HttpResponseError");
    client_error out;
    out.group = tree_reader::string(o, "group", "HttpResponseError");
    out.code = tree_reader::string(o, "code", "HttpResponseError");
    out.message = tree_reader::string(o, "message", "HttpResponseError");
    out.metadata = r.user(o, "metadata");
    out.http_status = status_for(out.group, out.code);
    return out;
}

}  // namespace rivetkit::protocol::detail::tree
