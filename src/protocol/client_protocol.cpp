#include "protocol/client_protocol.hpp"

#include <charconv>
#include <new>
#include <utility>

#include "common/base64.hpp"
#include "common/cbor.hpp"
#include "protocol/client_protocol_detail.hpp"

namespace rivetkit::protocol {
namespace detail {

void malformed(std::string message) { throw errors::malformed_message(std::move(message)); }

void cbor_head(bytes& out, std::uint8_t major, std::uint64_t argument) {
    const auto m = static_cast<std::uint8_t>(major << 5);
    int width = 0;
    if (argument < 24) {
        out.push_back(static_cast<std::uint8_t>(m | argument));
        return;
    }
    if (argument <= 0xFF) {
        out.push_back(m | 24);
        width = 1;
    } else if (argument <= 0xFFFF) {
        out.push_back(m | 25);
        width = 2;
    } else if (argument <= 0xFFFFFFFF) {
        out.push_back(m | 26);
        width = 4;
    } else {
        out.push_back(m | 27);
        width = 8;
    }
    for (int i = width - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(argument >> (8 * i)));
}

void cbor_append_array(bytes& out, const array& a) {
    cbor_head(out, 4, a.size());
    for (const auto& x : a) cbor::encode(x, out);
}

void revive_elements(array& a) {
    for (auto& x : a) x = revive_cbor_compat(std::move(x));
}

array decode_cbor_args(std::span<const std::uint8_t> in, std::string_view where) {
    value v = cbor::decode(in);
    if (!v.is_array()) {
        malformed(std::string(where) + ": expected an array, got " + std::string(kind_name(v.kind())));
    }
    array out = std::move(v.as_array());
    revive_elements(out);
    return out;
}

int status_for(const std::string& group, const std::string& code) {
    return error(group, code, {}, {}, group != "internal").http_status();
}

}  // namespace detail

namespace {

// Every decoder runs through this: whatever slips past the explicit checks (a conversion_error
// from a value accessor, say) still surfaces as a malformed message, never as another type.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const rivetkit::error&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        throw errors::malformed_message(e.what());
    }
}

std::optional<value> revive_tag(const std::string& head, array& a) {
    value& payload = a[1];
    if (head == "$BigInt") {
        if (!payload.is_string()) return std::nullopt;
        const std::string& s = payload.as_string();
        std::int64_t n = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
        return value(bigint{n});
    }
    if (head == "$Uint8Array" || head == "$ArrayBuffer") {
        if (!payload.is_string()) return std::nullopt;
        auto decoded = base64_decode(payload.as_string());
        if (!decoded) return std::nullopt;
        return value(std::move(*decoded));
    }
    if (head == "$Undefined") {
        if (!payload.is_integer() || payload.as_int() != 0) return std::nullopt;
        return value(undefined);
    }
    if (head == "$Set") {
        if (!payload.is_array()) return std::nullopt;
        return std::move(payload);
    }
    return std::nullopt;
}

}  // namespace

std::optional<encoding> parse_encoding(std::string_view text) noexcept {
    if (text == "json") return encoding::json;
    if (text == "cbor") return encoding::cbor;
    if (text == "bare") return encoding::bare;
    return std::nullopt;
}

std::string_view to_string(encoding e) noexcept {
    switch (e) {
        case encoding::json: return "json";
        case encoding::cbor: return "cbor";
        case encoding::bare: return "bare";
    }
    return "json";
}

std::string_view content_type(encoding e) noexcept {
    return e == encoding::json ? "application/json" : "application/octet-stream";
}

value revive_cbor_compat(value v) {
    if (v.is_object()) {
        for (auto& [k, member] : v.as_object()) member = revive_cbor_compat(std::move(member));
        return v;
    }
    if (!v.is_array()) return v;
    array& a = v.as_array();
    detail::revive_elements(a);  // bottom-up, as the reference's reviver: ["$Set",[["$BigInt","1"]]]
    if (a.size() == 2 && a[0].is_string() && a[0].as_string().starts_with('$')) {
        if (auto revived = revive_tag(a[0].as_string(), a)) return std::move(*revived);
    }
    return v;
}

value decode_cbor_user_value(std::span<const std::uint8_t> in) {
    return revive_cbor_compat(cbor::decode(in));
}

std::string encode_to_client(encoding e, const to_client& message) {
    return e == encoding::bare ? detail::bare_codec::encode_to_client(message)
                               : detail::tree::encode_to_client(e, message);
}

to_client decode_to_client(encoding e, std::string_view payload) {
    return guarded([&] {
        return e == encoding::bare ? detail::bare_codec::decode_to_client(payload)
                                   : detail::tree::decode_to_client(e, payload);
    });
}

std::string encode_to_server(encoding e, const to_server& message) {
    return e == encoding::bare ? detail::bare_codec::encode_to_server(message)
                               : detail::tree::encode_to_server(e, message);
}

to_server decode_to_server(encoding e, std::string_view payload) {
    return guarded([&] {
        return e == encoding::bare ? detail::bare_codec::decode_to_server(payload)
                                   : detail::tree::decode_to_server(e, payload);
    });
}

array decode_http_action_request(encoding e, std::string_view body) {
    return guarded([&] {
        return e == encoding::bare ? detail::bare_codec::decode_http_action_request(body)
                                   : detail::tree::decode_http_action_request(e, body);
    });
}

std::string encode_http_action_request(encoding e, const array& args) {
    return e == encoding::bare ? detail::bare_codec::encode_http_action_request(args)
                               : detail::tree::encode_http_action_request(e, args);
}

std::string encode_http_action_response(encoding e, const value& output) {
    return e == encoding::bare ? detail::bare_codec::encode_http_action_response(output)
                               : detail::tree::encode_http_action_response(e, output);
}

value decode_http_action_response(encoding e, std::string_view body) {
    return guarded([&] {
        return e == encoding::bare ? detail::bare_codec::decode_http_action_response(body)
                                   : detail::tree::decode_http_action_response(e, body);
    });
}

std::string encode_http_error(encoding e, const client_error& error) {
    return e == encoding::bare ? detail::bare_codec::encode_http_error(error)
                               : detail::tree::encode_http_error(e, error);
}

client_error decode_http_error(encoding e, std::string_view body) {
    return guarded([&] {
        return e == encoding::bare ? detail::bare_codec::decode_http_error(body)
                                   : detail::tree::decode_http_error(e, body);
    });
}

}  // namespace rivetkit::protocol
