#pragma once
// Internals shared by the client protocol's translation units: the JSON/CBOR object-tree codec
// (client_protocol_tree.cpp) and the BARE codec (client_protocol_bare.cpp).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "protocol/client_protocol.hpp"

namespace rivetkit::protocol::detail {

[[noreturn]] void malformed(std::string message);

[[nodiscard]] inline std::span<const std::uint8_t> as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
[[nodiscard]] inline std::string to_std_string(const bytes& b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// A CBOR head with the shortest argument (what cbor-x writes for lengths and small ints).
void cbor_head(bytes& out, std::uint8_t major, std::uint64_t argument);
/// `a` as one CBOR array item, byte-identical to cbor::encode(value(a)) without copying `a`.
void cbor_append_array(bytes& out, const array& a);
/// One CBOR item that must be an array (args); its elements are revived (CBOR-compat), the
/// array itself is not: it is the argument list, never a tagged value. `where` names the field.
[[nodiscard]] array decode_cbor_args(std::span<const std::uint8_t> in, std::string_view where);
/// Revives each element of an argument list in place.
void revive_elements(array& a);

// JSON and CBOR: the same object tree (§3.5). `e` is json or cbor.
namespace tree {
[[nodiscard]] std::string encode_to_client(encoding e, const to_client& message);
[[nodiscard]] to_client decode_to_client(encoding e, std::string_view payload);
[[nodiscard]] std::string encode_to_server(encoding e, const to_server& message);
[[nodiscard]] to_server decode_to_server(encoding e, std::string_view payload);
[[nodiscard]] std::string encode_http_action_request(encoding e, const array& args);
[[nodiscard]] array decode_http_action_request(encoding e, std::string_view body);
[[nodiscard]] std::string encode_http_action_response(encoding e, const value& output);
[[nodiscard]] value decode_http_action_response(encoding e, std::string_view body);
[[nodiscard]] std::string encode_http_error(encoding e, const client_error& error);
[[nodiscard]] client_error decode_http_error(encoding e, std::string_view body);
}  // namespace tree

// BARE with the vbare version prefix.
namespace bare_codec {
[[nodiscard]] std::string encode_to_client(const to_client& message);
[[nodiscard]] to_client decode_to_client(std::string_view payload);
[[nodiscard]] std::string encode_to_server(const to_server& message);
[[nodiscard]] to_server decode_to_server(std::string_view payload);
[[nodiscard]] std::string encode_http_action_request(const array& args);
[[nodiscard]] array decode_http_action_request(std::string_view body);
[[nodiscard]] std::string encode_http_action_response(const value& output);
[[nodiscard]] value decode_http_action_response(std::string_view body);
[[nodiscard]] std::string encode_http_error(const client_error& error);
[[nodiscard]] client_error decode_http_error(std::string_view body);
}  // namespace bare_codec

/// The HTTP status the catalogue gives group/code (the body does not carry one).
[[nodiscard]] int status_for(const std::string& group, const std::string& code);

}  // namespace rivetkit::protocol::detail
