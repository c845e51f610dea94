#pragma once
// Actor keys and their one-string form.
//
// The string form is what the manager HTTP API, the gateway and log lines carry, so it must be
// byte-for-byte what the JS runtime produces (reference: client-protocol.md §2.4): `[]` is "/",
// parts are joined with '/', inside a part '\' becomes "\\" and '/' becomes "\/", and an empty
// part is the marker "\0" so that it survives the join.

#include <string>
#include <string_view>
#include <vector>

namespace rivetkit {

/// An actor's key: an ordered list of parts. `{}` and `{""}` are different keys.
using actor_key = std::vector<std::string>;

/// The escaped, '/'-joined form of `key`. Injective: deserialize_key inverts it.
[[nodiscard]] std::string serialize_key(const actor_key& key);

/// Parses any string the way the JS runtime does, including input serialize_key never produces:
/// "" and "/" give `[]`, a dangling trailing '\' is kept literally, `\x` is `x` for any other
/// byte, and a part holding the "\0" marker is empty whatever else it holds.
[[nodiscard]] actor_key deserialize_key(std::string_view text);

}  // namespace rivetkit
