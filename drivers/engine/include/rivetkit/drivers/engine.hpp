#pragma once
// The engine driver's configuration: how a runner reaches a Rivet Engine (runner protocol v5,
// shared/reference/engine-protocol.md §2). Defaults and environment variables are RivetKit
// 2.0.33's (§2.2).
//
//   auto options = rivetkit::drivers::engine_options::from_env();  // RIVET_* variables
//   options.total_slots = 64;                                       // then override in code

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "rivetkit/driver.hpp"

namespace rivetkit::drivers {

/// How the runner's process is started by the engine (`RIVET_RUNNER_KIND`).
enum class runner_kind {
    /// A long-running process that connects to the engine by itself (`registry.start_runner()`).
    normal,
    /// Started per request by the engine through `GET /start` on the registry's server
    /// (`registry.serve()` / `listen()`; §6, docs/engine.md "Serverless").
    serverless,
};

struct engine_options {
    /// The engine's base URL, http(s):// or ws(s)://, optionally with a path prefix; the runner
    /// socket is `<endpoint>/runners/connect`. Default "http://127.0.0.1:6420" (the engine's
    /// guard port). Env: RIVET_ENGINE, else RIVET_ENDPOINT.
    std::string endpoint = "http://127.0.0.1:6420";
    /// The engine namespace the runner serves. Default "default". Env: RIVET_NAMESPACE.
    std::string namespace_name = "default";
    /// The engine's admin token, offered as subprotocol `rivet_token.<token>`; empty = none
    /// (an engine without auth ignores it). Default empty. Env: RIVET_TOKEN.
    std::string token;
    /// The runner name (pool) actors are allocated to; sent in ToServerInit. Default "default".
    /// Env: RIVET_RUNNER.
    std::string runner_name = "default";
    /// Identifies this runner across reconnects: the engine gives the same key the same runner
    /// id, and a second connection with the same key evicts the first. Empty = a fresh random
    /// UUID for each driver (RivetKit's `crypto.randomUUID()`). Default empty. Env: RIVET_RUNNER_KEY.
    std::string runner_key;
    /// How many actors the engine may place on this runner at once. Default 100000.
    /// Env: RIVET_TOTAL_SLOTS (an extension: RivetKit reads it from v2.0.34 on).
    std::uint32_t total_slots = 100'000;
    /// Normal (long-running) or serverless. Default normal. Env: RIVET_RUNNER_KIND ("normal" or
    /// "serverless").
    runner_kind kind = runner_kind::normal;
    /// ToServerInit.version: the engine prefers runners with a higher version for new actors.
    /// Default 1 (RivetKit 2.0.33 hard-codes 1).
    std::uint32_t runner_version = 1;

    /// Reads a variable; nullopt when it is not set. An empty value counts as not set.
    using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;

    /// The defaults above overridden by the environment. Throws std::invalid_argument naming
    /// the variable when a value is invalid: an endpoint that is not an http(s)/ws(s) URL, a
    /// RIVET_TOTAL_SLOTS that is not an integer in 1..4294967295, a RIVET_RUNNER_KIND other than
    /// "normal"/"serverless".
    [[nodiscard]] static engine_options from_env();
    /// The same, reading variables through `lookup` (tests).
    [[nodiscard]] static engine_options from_env(const env_lookup& lookup);
};

/// The engine driver: the registry runs the actors a Rivet Engine assigns to it (runner protocol
/// v5): as one runner with registry::start_runner(), or, with runner_kind::serverless, as the
/// runners the engine starts through registry::serve(). A normal runner:
///
///   auto reg = rivetkit::setup({{"counter", counter}},
///                              {.driver = rivetkit::drivers::engine()});  // RIVET_* variables
///   reg.start_runner();
///
/// Actors are created through the engine (its REST API, or rivetkit::create_client pointed at
/// the engine), which starts them here; their state lives in the engine's KV. See
/// docs/engine.md.
[[nodiscard]] driver_factory engine(engine_options options = engine_options::from_env());

}  // namespace rivetkit::drivers
