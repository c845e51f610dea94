#pragma once
// The two driver interfaces. A driver hosts actors (ActorDriver: storage, alarms, sleep,
// destroy) and answers "which actor is this / create it" (ManagerDriver). The memory and
// file-system drivers implement both on top of rivetkit::local_host; the engine driver talks to
// a Rivet Engine.
//
// All methods returning task<> may be awaited from any executor; implementations must not block
// the calling thread on I/O.

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "rivetkit/clock.hpp"
#include "rivetkit/key.hpp"
#include "rivetkit/task.hpp"
#include "rivetkit/value.hpp"

namespace rivetkit {

class actor_instance;
class client;
class registry_core;

namespace sql {
class database;
}

/// What the manager knows of an actor. Timestamps are milliseconds since the Unix epoch.
struct actor_record {
    std::string actor_id;
    std::string name;
    actor_key key;
    std::int64_t create_ts = 0;
    std::optional<std::int64_t> start_ts;
    std::optional<std::int64_t> connectable_ts;
    std::optional<std::int64_t> sleep_ts;
    std::optional<std::int64_t> destroy_ts;
    /// Bumped every time the actor is created anew under the same id (after a destroy).
    std::uint64_t generation = 0;
};

struct create_request {
    std::string name;
    actor_key key;
    value input;             // undefined when none was given
    std::string region;      // empty: the driver's default
};

using kv_entry = std::pair<bytes, bytes>;

/// Byte-wise ordering of KV keys, for ordered containers. (std::less<bytes> is equivalent, but
/// GCC 12 at -O2 raises a false -Wstringop-overread on its inlined three-way compare.)
struct bytes_less {
    bool operator()(const bytes& a, const bytes& b) const noexcept {
        std::size_t n = a.size() < b.size() ? a.size() : b.size();
        int c = n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
        return c < 0 || (c == 0 && a.size() < b.size());
    }
};

/// Hosts actor instances. Called by an instance, on its strand.
class actor_driver {
public:
    virtual ~actor_driver() = default;

    /// Values for `keys`, in order; nullopt where a key is absent.
    virtual task<std::vector<std::optional<bytes>>> kv_get(std::string actor_id, std::vector<bytes> keys) = 0;
    /// Upserts all entries atomically. Completion means durable per the driver's durability mode.
    virtual task<void> kv_put(std::string actor_id, std::vector<kv_entry> entries) = 0;
    virtual task<void> kv_delete(std::string actor_id, std::vector<bytes> keys) = 0;
    /// Every entry whose key starts with `prefix`, in key order.
    virtual task<std::vector<kv_entry>> kv_list_prefix(std::string actor_id, bytes prefix) = 0;

    /// Ensures the actor's on_alarm runs at or after `timestamp_ms`, waking it if asleep. A later
    /// call replaces the earlier alarm; nullopt clears it.
    virtual task<void> set_alarm(std::string actor_id, std::optional<std::int64_t> timestamp_ms) = 0;

    /// Whether actors on this driver can sleep (be stopped while idle and woken on demand).
    [[nodiscard]] virtual bool supports_sleep() const noexcept = 0;
    /// Whether connections can outlive a sleep (the engine's hibernatable WebSockets): the
    /// runtime then persists them and reads them back on wake.
    [[nodiscard]] virtual bool supports_hibernation() const noexcept { return false; }
    /// Begins putting the actor to sleep; the driver stops the instance and keeps its data.
    virtual void start_sleep(const std::string& actor_id) = 0;
    /// Begins destroying the actor; the driver stops the instance and deletes its data.
    virtual void start_destroy(const std::string& actor_id) = 0;

    /// The opaque value handed to `create_vars` as its second argument.
    [[nodiscard]] virtual value driver_context(const std::string& /*actor_id*/) { return object{}; }

    /// A new connection to the actor's SQL database (`c.db()`), asked for on its first use in
    /// an awake period; the runtime closes it (sql::database::close()) when the actor stops, so
    /// never hand out the same connection twice. The data must survive sleep and go with
    /// destroy. Runs on the actor's strand, synchronously (opening a file is quick). The
    /// default throws database/not_enabled (rivetkit::sql::not_enabled_error()).
    [[nodiscard]] virtual std::shared_ptr<sql::database> open_database(const std::string& actor_id);
};

/// The request of a Rivet Engine's serverless pool for one more runner (`GET /start`, with
/// these values from its x-rivet-* headers; engine-protocol.md §6).
struct serverless_start_request {
    /// The engine the runner connects to (x-rivet-endpoint).
    std::string endpoint;
    /// The engine's admin token (x-rivet-token); empty when the engine sent none.
    std::string token;
    /// x-rivet-namespace-name.
    std::string namespace_name;
    /// x-rivet-runner-name.
    std::string runner_name;
    /// x-rivet-total-slots (at least 1).
    std::uint32_t total_slots = 1;
};

/// One runner started for a `GET /start` request. Every member may be called from any thread.
class serverless_runner {
public:
    virtual ~serverless_runner() = default;
    /// Once the engine has accepted the runner: the event stream's first `data` (the base64
    /// serverless init packet naming the runner); nullopt before.
    [[nodiscard]] virtual std::optional<std::string> init_payload() const = 0;
    /// True once the runner has ended: its connection closed for good and its actors stopped.
    [[nodiscard]] virtual bool ended() const = 0;
    /// `fn` is called (on any thread, without locks held) when the runner connects and when it
    /// ends; it replaces an earlier observer.
    virtual void set_observer(std::function<void()> fn) = 0;
    /// Ends the runner gracefully: the engine is told it is stopping and stops its actors (they
    /// sleep), then the connection closes. Returns at once; idempotent.
    virtual void stop() = 0;
};

/// A driver whose actors a Rivet Engine places on runners it starts per request (serverless):
/// the registry's server then answers the engine's `GET /start` and `GET /metadata`.
class serverless_host {
public:
    virtual ~serverless_host() = default;
    /// Starts connecting a new runner with the request's settings. Throws std::invalid_argument
    /// for an endpoint that is not an http(s)/ws(s) URL.
    virtual std::shared_ptr<serverless_runner> start_serverless_runner(serverless_start_request request) = 0;
};

/// Finds, creates and wakes actors.
class manager_driver {
public:
    virtual ~manager_driver() = default;

    virtual task<std::optional<actor_record>> get_for_id(std::string actor_id) = 0;
    virtual task<std::optional<actor_record>> get_with_key(std::string name, actor_key key) = 0;
    /// Returns the existing actor or creates it; never fails because it exists.
    virtual task<actor_record> get_or_create_with_key(create_request request) = 0;
    /// Creates the actor; throws actor/duplicate_key when one exists under that name and key.
    virtual task<actor_record> create_actor(create_request request) = 0;
    /// Every actor of `name`, newest first.
    virtual task<std::vector<actor_record>> list_actors(std::string name) = 0;
    /// Destroys the actor (waking it first so on_destroy runs). Throws actor/not_found.
    virtual task<void> destroy_actor(std::string actor_id) = 0;
    /// The running instance of the actor, starting or waking it as needed. Throws
    /// actor/not_found when it does not exist and actor/stopping while it is being stopped.
    virtual task<std::shared_ptr<actor_instance>> load_actor(std::string actor_id) = 0;

    /// Called once when the registry starts, before any request: e.g. re-arms persisted alarms
    /// so scheduled actions missed while the process was down run now.
    virtual task<void> start() { co_return; }
    /// Stops every running actor as for sleep (state saved); used on registry shutdown.
    virtual task<void> shutdown() = 0;
    /// "Memory", "File System", ... for banners and /metadata.
    [[nodiscard]] virtual std::string display_name() const = 0;
    /// The client registry.client() and c.client() return. nullptr (the default): a client in
    /// process, over this registry's own actors. The engine driver returns a remote client of
    /// the engine, since the engine, not this process, creates actors and knows where they run.
    [[nodiscard]] virtual std::shared_ptr<client> make_client() { return nullptr; }
    /// The engine driver: its runners are started by the engine's serverless pool through the
    /// registry's server (listen()/serve()), which then serves only the serverless routes.
    /// nullptr (the default) for drivers that run actors themselves.
    [[nodiscard]] virtual serverless_host* serverless() noexcept { return nullptr; }
};

/// What a driver is built from when a registry starts.
struct driver_env {
    asio::any_io_executor executor;
    std::shared_ptr<rivetkit::clock> clock;
    registry_core* registry = nullptr;
};

struct driver_pair {
    std::shared_ptr<manager_driver> manager;
    std::shared_ptr<actor_driver> actor;
};

/// How a registry makes its driver.
struct driver_factory {
    std::string name;  // "memory", "file-system", "engine"
    std::function<driver_pair(const driver_env&)> make;
};

}  // namespace rivetkit
