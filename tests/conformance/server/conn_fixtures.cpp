// Fixture actors of the driver test suite about connections, vars, metadata and lifecycle:
// conn-params.ts, conn-state.ts, metadata.ts, vars.ts, request-access.ts,
// actor-onstatechange.ts, destroy.ts, hibernation.ts and large-payloads.ts. Member names of
// the structs below are the JSON field names the tests read, hence camelCase.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"

namespace conformance {

namespace {

using rivetkit::array;
using rivetkit::object;
using rivetkit::value;

/// JavaScript truthiness, for the fixtures' `x || default` and `x?.flag` tests.
bool truthy(const value& v) {
    switch (v.kind()) {
        case rivetkit::value_kind::undefined:
        case rivetkit::value_kind::null: return false;
        case rivetkit::value_kind::boolean: return v.as_bool();
        case rivetkit::value_kind::integer: return v.as_int() != 0;
        case rivetkit::value_kind::number: return v.as_double() != 0 && !std::isnan(v.as_double());
        case rivetkit::value_kind::bigint: return v.as_int() != 0;
        case rivetkit::value_kind::string: return !v.as_string().empty();
        default: return true;
    }
}

/// `{id, ...fields}`: an object with `id` first, then the members of `fields`.
object with_id(const std::string& id, const value& fields) {
    object o{{"id", id}};
    for (const auto& [k, v] : fields.as_object()) o.insert_or_assign(k, v);
    return o;
}

/// A per-thread generator: actors run on several io threads.
std::mt19937_64& random_engine() {
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return engine;
}

std::int64_t random_int(std::int64_t max_inclusive) {
    return std::uniform_int_distribution<std::int64_t>(0, max_inclusive)(random_engine());
}

// ---- conn-params.ts ---------------------------------------------------------------------------

struct params_counter_state {
    std::int64_t count = 0;
    std::vector<std::string> initializers;
};
RIVETKIT_FIELDS(params_counter_state, count, initializers)

struct named_conn_state {
    std::string name;
};
RIVETKIT_FIELDS(named_conn_state, name)

/// counterWithParams: each connection is named by its params; onConnect records the names.
const auto counter_with_params = rivetkit::actor<params_counter_state, named_conn_state>()
    .create_conn_state([](auto&, const value& params) {
        if (params.is_nullish()) throw std::invalid_argument("counterWithParams needs connection params");
        const value& name = params["name"];
        return named_conn_state{truthy(name) ? name.as_string() : "anonymous"};
    })
    .on_connect([](auto& c, auto conn) { c.state().initializers.push_back(conn.state().name); })
    .action<"increment">([](auto& c, std::int64_t x) {
        c.state().count += x;
        const std::int64_t count = std::as_const(c).state().count;
        c.broadcast("newCount", object{{"count", count}, {"by", c.conn().state().name}});
        return count;
    })
    .action<"getInitializers">([](auto& c) { return std::as_const(c).state().initializers; });

// ---- conn-state.ts ----------------------------------------------------------------------------

struct shared_conn_counters {
    std::int64_t sharedCounter = 0;
    std::int64_t disconnectionCount = 0;
};
RIVETKIT_FIELDS(shared_conn_counters, sharedCounter, disconnectionCount)

struct user_conn_params {
    std::string username;
    std::string role;
    bool noCount = false;
};
RIVETKIT_FIELDS(user_conn_params, username, role, noCount)

struct user_conn_state {
    std::string username;
    std::string role;
    std::int64_t counter = 0;
    std::int64_t createdAt = 0;
    bool noCount = false;
};
RIVETKIT_FIELDS(user_conn_state, username, role, counter, createdAt, noCount)

struct user_conn_update {
    std::optional<std::string> username;
    std::optional<std::string> role;
};
RIVETKIT_FIELDS(user_conn_update, username, role)

/// connStateActor: per-connection user state, connection enumeration and direct messages.
/// Connections with `noCount` are left out of the ids and the disconnection count.
const auto conn_state_actor = rivetkit::actor<shared_conn_counters, user_conn_state, user_conn_params>()
    .create_conn_state([](auto& c, const user_conn_params& p) {
        return user_conn_state{
            .username = p.username.empty() ? "anonymous" : p.username,
            .role = p.role.empty() ? "user" : p.role,
            .counter = 0,
            .createdAt = c.now_ms(),
            .noCount = p.noCount,
        };
    })
    .on_connect([](auto& c, auto conn) {
        c.broadcast("userConnected", object{{"id", conn.id()}, {"username", "anonymous"}, {"role", "user"}});
    })
    .on_disconnect([](auto& c, auto conn) {
        if (conn.state().noCount) return;
        c.state().disconnectionCount += 1;
        c.broadcast("userDisconnected", object{{"id", conn.id()}});
    })
    .action<"incrementConnCounter">([](auto& c, std::optional<std::int64_t> amount) {
        c.conn().state().counter += amount.value_or(1);
    })
    .action<"incrementSharedCounter">([](auto& c, std::optional<std::int64_t> amount) {
        c.state().sharedCounter += amount.value_or(1);
        return std::as_const(c).state().sharedCounter;
    })
    .action<"getConnectionState">([](auto& c) {
        return with_id(c.conn().id(), rivetkit::to_value(c.conn().state()));
    })
    .action<"getConnectionIds">([](auto& c) {
        std::vector<std::string> ids;
        for (const auto& conn : c.conns()) {
            if (!conn.state().noCount) ids.push_back(conn.id());
        }
        return ids;
    })
    .action<"getDisconnectionCount">([](auto& c) { return std::as_const(c).state().disconnectionCount; })
    .action<"getAllConnectionStates">([](auto& c) {
        array states;
        for (const auto& conn : c.conns()) states.push_back(with_id(conn.id(), rivetkit::to_value(conn.state())));
        return states;
    })
    .action<"sendToConnection">([](auto& c, std::string target_id, std::string message) {
        for (const auto& conn : c.conns()) {
            if (conn.id() != target_id) continue;
            conn.send("directMessage", object{{"from", c.conn().id()}, {"message", std::move(message)}});
            return true;
        }
        return false;
    })
    .action<"updateConnection">([](auto& c, user_conn_update updates) {
        auto& state = c.conn().state();
        if (updates.username && !updates.username->empty()) state.username = *updates.username;
        if (updates.role && !updates.role->empty()) state.role = *updates.role;
        return state;
    });

// ---- metadata.ts ------------------------------------------------------------------------------

struct metadata_state {
    value lastMetadata = rivetkit::null;
    std::string actorName;
    object storedTags;
    std::optional<std::string> storedRegion;
};
RIVETKIT_FIELDS(metadata_state, lastMetadata, actorName, storedTags, storedRegion)

/// metadataActor: its name, and tags and a region the tests store through actions.
const auto metadata_actor = rivetkit::actor<metadata_state>()
    .on_wake([](auto& c) { c.state().actorName = c.name(); })
    .action<"setupTestTags">([](auto& c, object tags) {
        c.state().storedTags = tags;
        return tags;
    })
    .action<"setupTestRegion">([](auto& c, std::string region) {
        c.state().storedRegion = region;
        return region;
    })
    .action<"getMetadata">([](auto& c) {
        const auto& s = std::as_const(c).state();
        object m{{"name", c.name()}, {"tags", s.storedTags}, {"region", rivetkit::to_value(s.storedRegion)}};
        c.state().lastMetadata = m;
        return m;
    })
    .action<"getActorName">([](auto& c) { return c.name(); })
    .action<"getTag">([](auto& c, std::string key) {
        const value* tag = std::as_const(c).state().storedTags.find(key);
        return tag != nullptr && truthy(*tag) ? *tag : value(rivetkit::null);
    })
    .action<"getTags">([](auto& c) { return std::as_const(c).state().storedTags; })
    .action<"getRegion">([](auto& c) { return std::as_const(c).state().storedRegion; })
    .action<"getStoredActorName">([](auto& c) { return std::as_const(c).state().actorName; })
    .action<"getLastMetadata">([](auto& c) { return std::as_const(c).state().lastMetadata; });

// ---- vars.ts: every actor has state {value: 0} and conn state {hello: "world"} ----------------

struct plain_value_state {
    std::int64_t value = 0;
};
RIVETKIT_FIELDS(plain_value_state, value)

struct hello_conn_state {
    std::string hello = "world";
};
RIVETKIT_FIELDS(hello_conn_state, hello)

template <class Vars>
auto vars_actor() {
    return rivetkit::actor<plain_value_state, hello_conn_state, value, Vars>();
}

struct static_vars {
    std::int64_t counter = 42;
    std::string name = "test-actor";
};
RIVETKIT_FIELDS(static_vars, counter, name)

/// staticVarActor: vars copied from a constant.
const auto static_var_actor = vars_actor<static_vars>()
    .vars(static_vars{})
    .action<"getVars">([](auto& c) { return c.vars(); })
    .action<"getName">([](auto& c) { return c.vars().name; });

struct nested_object {
    std::string key = "value";
};
RIVETKIT_FIELDS(nested_object, key)

struct nested_value {
    std::string value = "original";
    std::vector<std::int64_t> array{1, 2, 3};
    nested_object obj;
};
RIVETKIT_FIELDS(nested_value, value, array, obj)

struct nested_vars {
    std::int64_t counter = 42;
    nested_value nested;
};
RIVETKIT_FIELDS(nested_vars, counter, nested)

/// nestedVarActor: nested constant vars; modifying them in one instance leaves others intact.
const auto nested_var_actor = vars_actor<nested_vars>()
    .vars(nested_vars{})
    .action<"getVars">([](auto& c) { return c.vars(); })
    .action<"modifyNested">([](auto& c) {
        auto& nested = c.vars().nested;
        nested.value = "modified";
        nested.array.push_back(4);
        nested.obj.key = "new-value";
        return c.vars();
    });

struct dynamic_vars {
    double random = 0;
    std::string computed;
};
RIVETKIT_FIELDS(dynamic_vars, random, computed)

/// dynamicVarActor: vars computed by createVars on every start.
const auto dynamic_var_actor = vars_actor<dynamic_vars>()
    .create_vars([](auto&, const value&) {
        return dynamic_vars{
            .random = std::uniform_real_distribution<double>(0.0, 1.0)(random_engine()),
            .computed = "Actor-" + std::to_string(random_int(999)),
        };
    })
    .action<"getVars">([](auto& c) { return c.vars(); });

struct unique_vars {
    std::int64_t id = 0;
};
RIVETKIT_FIELDS(unique_vars, id)

/// uniqueVarActor: a random id per instance.
const auto unique_var_actor = vars_actor<unique_vars>()
    .create_vars([](auto&, const value&) { return unique_vars{random_int(999'999)}; })
    .action<"getVars">([](auto& c) { return c.vars(); });

struct driver_ctx_vars {
    bool hasDriverCtx = false;
};
RIVETKIT_FIELDS(driver_ctx_vars, hasDriverCtx)

/// driverCtxActor: whether the driver context createVars received says `isTest`.
const auto driver_ctx_actor = vars_actor<driver_ctx_vars>()
    .create_vars([](auto&, const value& driver_ctx) { return driver_ctx_vars{truthy(driver_ctx["isTest"])}; })
    .action<"getVars">([](auto& c) { return c.vars(); });

// ---- request-access.ts ------------------------------------------------------------------------

/// What a hook saw of the HTTP request behind it.
struct request_record {
    bool hasRequest = false;
    std::optional<std::string> requestUrl;
    std::optional<std::string> requestMethod;
    std::map<std::string, std::string> requestHeaders;
};
RIVETKIT_FIELDS(request_record, hasRequest, requestUrl, requestMethod, requestHeaders)

/// The record of `req`: its full URL (as the request's Host saw it), method and headers
/// (lower-case names, as the Fetch API gives them).
request_record record_of(const rivetkit::http_request& req) {
    const std::string* host = req.header("host");
    std::string url = "http://" + (host != nullptr ? *host : std::string("actor")) + req.path;
    if (!req.query.empty()) url += "?" + req.query;
    request_record r;
    r.hasRequest = true;
    r.requestUrl = std::move(url);
    r.requestMethod = req.method;
    for (const auto& [name, v] : req.headers) {
        std::string lower = name;
        for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        r.requestHeaders.insert_or_assign(std::move(lower), v);
    }
    return r;
}

/// The record as the JSON text onRequest and onWebSocket send.
std::string record_json(const request_record& r) {
    return nlohmann::json{
        {"hasRequest", r.hasRequest},
        {"requestUrl", r.requestUrl ? nlohmann::json(*r.requestUrl) : nlohmann::json(nullptr)},
        {"requestMethod", r.requestMethod ? nlohmann::json(*r.requestMethod) : nlohmann::json(nullptr)},
        {"requestHeaders", r.requestHeaders},
    }
        .dump();
}

struct request_access_state {
    request_record onBeforeConnectRequest;
    request_record createConnStateRequest;
    request_record onRequestRequest;
    request_record onWebSocketRequest;
};
RIVETKIT_FIELDS(request_access_state, onBeforeConnectRequest, createConnStateRequest, onRequestRequest,
                onWebSocketRequest)

struct track_request_params {
    bool trackRequest = false;
};
RIVETKIT_FIELDS(track_request_params, trackRequest)

struct request_access_conn_state {
    bool trackRequest = false;
    std::optional<request_record> requestInfo;
};
RIVETKIT_FIELDS(request_access_conn_state, trackRequest, requestInfo)

/// requestAccessActor: records the request each hook was given (when params ask for it).
const auto request_access_actor =
    rivetkit::actor<request_access_state, request_access_conn_state, track_request_params>()
        .on_before_connect([](auto& c, const track_request_params& p) {
            if (!p.trackRequest) return;
            if (c.request() != nullptr) {
                c.state().onBeforeConnectRequest = record_of(*c.request());
            } else {
                c.state().onBeforeConnectRequest.hasRequest = false;
            }
        })
        .create_conn_state([](auto& c, const track_request_params& p) {
            request_access_conn_state s{.trackRequest = p.trackRequest, .requestInfo = std::nullopt};
            if (p.trackRequest && c.request() != nullptr) s.requestInfo = record_of(*c.request());
            return s;
        })
        .on_connect([](auto& c, auto conn) {
            if (conn.state().requestInfo) c.state().createConnStateRequest = *conn.state().requestInfo;
        })
        .on_request([](auto& c, const rivetkit::http_request& req) {
            c.state().onRequestRequest = record_of(req);
            return rivetkit::http_response::json(record_json(std::as_const(c).state().onRequestRequest));
        })
        .on_websocket([](auto& c, std::shared_ptr<rivetkit::websocket> ws) {
            if (c.request() == nullptr) throw std::runtime_error("Missing request");
            c.state().onWebSocketRequest = record_of(*c.request());
            ws->send(record_json(std::as_const(c).state().onWebSocketRequest));
            ws->on_message([ws](const rivetkit::websocket_message& m) {
                if (m.binary) {
                    ws->send_binary(std::span(reinterpret_cast<const std::uint8_t*>(m.data.data()), m.data.size()));
                } else {
                    ws->send(m.data);
                }
            });
        })
        .action<"getRequestInfo">([](auto& c) {
            const auto& s = std::as_const(c).state();
            return object{
                {"onBeforeConnect", rivetkit::to_value(s.onBeforeConnectRequest)},
                {"createConnState", rivetkit::to_value(s.createConnStateRequest)},
                {"onRequest", rivetkit::to_value(s.onRequestRequest)},
                {"onWebSocket", rivetkit::to_value(s.onWebSocketRequest)},
            };
        });

// ---- actor-onstatechange.ts -------------------------------------------------------------------

struct change_counting_state {
    std::int64_t value = 0;
    std::int64_t changeCount = 0;
};
RIVETKIT_FIELDS(change_counting_state, value, changeCount)

/// onStateChangeActor: counts the state changes reported to onStateChange.
const auto on_state_change_actor = rivetkit::actor<change_counting_state>()
    .on_state_change([](auto& c, const change_counting_state&) { c.state().changeCount += 1; })
    .action<"setValue">([](auto& c, std::int64_t v) {
        c.state().value = v;
        return std::as_const(c).state().value;
    })
    .action<"incrementMultiple">([](auto& c, std::int64_t n) {
        for (std::int64_t i = 0; i < n; ++i) c.state().value += 1;  // one change per access
        return std::as_const(c).state().value;
    })
    .action<"getValue">([](auto& c) { return std::as_const(c).state().value; })
    .action<"getDoubled">([](auto& c) { return std::as_const(c).state().value * 2; })
    .action<"getChangeCount">([](auto& c) { return std::as_const(c).state().changeCount; })
    .action<"resetChangeCount">([](auto& c) { c.state().changeCount = 0; });

// ---- destroy.ts -------------------------------------------------------------------------------

struct destroy_observer_state {
    std::vector<std::string> destroyedActors;
};
RIVETKIT_FIELDS(destroy_observer_state, destroyedActors)

/// destroyObserver: remembers the keys of the destroyActors whose onDestroy ran.
const auto destroy_observer = rivetkit::actor<destroy_observer_state>()
    .action<"notifyDestroyed">([](auto& c, std::string key) { c.state().destroyedActors.push_back(std::move(key)); })
    .action<"wasDestroyed">([](auto& c, std::string key) {
        const auto& destroyed = std::as_const(c).state().destroyedActors;
        return std::find(destroyed.begin(), destroyed.end(), key) != destroyed.end();
    })
    .action<"reset">([](auto& c) { c.state().destroyedActors.clear(); });

/// `key.join("/")`.
std::string join_key(const rivetkit::actor_key& key) {
    std::string joined;
    for (std::size_t i = 0; i < key.size(); ++i) joined += (i == 0 ? "" : "/") + key[i];
    return joined;
}

struct destroy_actor_state {
    std::int64_t value = 0;
    std::string key;
};
RIVETKIT_FIELDS(destroy_actor_state, value, key)

/// destroyActor: on destroy, tells the destroyObserver (through c.client()) its key.
const auto destroy_actor = rivetkit::actor<destroy_actor_state>()
    .on_wake([](auto& c) { c.state().key = join_key(c.key()); })
    .on_destroy([](auto& c) -> rivetkit::task<void> {
        auto observer = c.client().get_or_create("destroyObserver", {"observer"});
        auto notify = observer.async_call("notifyDestroyed", std::as_const(c).state().key);
        co_await std::move(notify);
    })
    .action<"setValue">([](auto& c, std::int64_t v) -> rivetkit::task<std::int64_t> {
        c.state().value = v;
        auto saved = c.save_state(true);
        co_await std::move(saved);
        co_return std::as_const(c).state().value;
    })
    .action<"getValue">([](auto& c) { return std::as_const(c).state().value; })
    .action<"destroy">([](auto& c) { c.destroy(); });

// ---- hibernation.ts ---------------------------------------------------------------------------

struct sleep_wake_counts {
    std::int64_t sleepCount = 0;
    std::int64_t wakeCount = 0;
};
RIVETKIT_FIELDS(sleep_wake_counts, sleepCount, wakeCount)

struct hibernation_conn_state {
    std::int64_t count = 0;
    std::int64_t connectCount = 0;
    std::int64_t disconnectCount = 0;
};
RIVETKIT_FIELDS(hibernation_conn_state, count, connectCount, disconnectCount)

/// hibernationActor: counts sleeps, wakes and per-connection lifecycle events; sleeps after 500 ms.
const auto hibernation_actor = rivetkit::actor<sleep_wake_counts, hibernation_conn_state>()
    .options(rivetkit::actor_options{.sleep_timeout = std::chrono::milliseconds(500)})
    .on_wake([](auto& c) { c.state().wakeCount += 1; })
    .on_sleep([](auto& c) { c.state().sleepCount += 1; })
    .on_connect([](auto&, auto conn) { conn.state().connectCount += 1; })
    .on_disconnect([](auto&, auto conn) { conn.state().disconnectCount += 1; })
    .action<"ping">([](auto&) { return std::string("pong"); })
    .action<"connIncrement">([](auto& c) { return ++c.conn().state().count; })
    .action<"getConnCount">([](auto& c) { return c.conn().state().count; })
    .action<"getConnLifecycleCounts">([](auto& c) {
        const auto& s = c.conn().state();
        return object{{"connectCount", s.connectCount}, {"disconnectCount", s.disconnectCount}};
    })
    .action<"getConnectionIds">([](auto& c) {
        std::vector<std::string> ids;
        for (const auto& conn : c.conns()) ids.push_back(conn.id());
        return ids;
    })
    .action<"getActorCounts">([](auto& c) { return std::as_const(c).state(); })
    .action<"triggerSleep">([](auto& c) { c.sleep(); });

// ---- large-payloads.ts ------------------------------------------------------------------------

struct item_list {
    std::vector<std::string> items;
};
RIVETKIT_FIELDS(item_list, items)

/// `{itemCount, firstItem, lastItem}` of a request (the items are undefined when there are none).
object summarize(const item_list& request) {
    const auto& items = request.items;
    return object{
        {"itemCount", items.size()},
        {"firstItem", items.empty() ? value() : value(items.front())},
        {"lastItem", items.empty() ? value() : value(items.back())},
    };
}

/// `n` items of about 50 bytes each.
item_list make_items(std::int64_t n) {
    item_list out;
    for (std::int64_t i = 0; i < n; ++i) {
        out.items.push_back("Item " + std::to_string(i) + " with some additional text to increase size");
    }
    return out;
}

/// largePayloadActor: large requests and responses over HTTP actions. State `{}`, as in the reference.
const auto large_payload_actor = rivetkit::actor<object>()
    .action<"processLargeRequest">([](auto&, const item_list& request) { return summarize(request); })
    .action<"getLargeResponse">([](auto&, std::int64_t n) { return make_items(n); })
    .action<"echo">([](auto&, value x) { return x; });

struct request_size_conn_state {
    std::int64_t lastRequestSize = 0;
};
RIVETKIT_FIELDS(request_size_conn_state, lastRequestSize)

/// largePayloadConnActor: the same over a connection, remembering the last request's size.
const auto large_payload_conn_actor = rivetkit::actor<object, request_size_conn_state>()
    .action<"processLargeRequest">([](auto& c, const item_list& request) {
        c.conn().state().lastRequestSize = static_cast<std::int64_t>(request.items.size());
        return summarize(request);
    })
    .action<"getLargeResponse">([](auto&, std::int64_t n) { return make_items(n); })
    .action<"echo">([](auto&, value x) { return x; })
    .action<"getLastRequestSize">([](auto& c) { return c.conn().state().lastRequestSize; });

}  // namespace

std::vector<rivetkit::registration> conn_fixtures() {
    return {
        {"counterWithParams", counter_with_params},
        {"connStateActor", conn_state_actor},
        {"metadataActor", metadata_actor},
        {"staticVarActor", static_var_actor},
        {"nestedVarActor", nested_var_actor},
        {"dynamicVarActor", dynamic_var_actor},
        {"uniqueVarActor", unique_var_actor},
        {"driverCtxActor", driver_ctx_actor},
        {"requestAccessActor", request_access_actor},
        {"onStateChangeActor", on_state_change_actor},
        {"destroyObserver", destroy_observer},
        {"destroyActor", destroy_actor},
        {"hibernationActor", hibernation_actor},
        {"largePayloadActor", large_payload_actor},
        {"largePayloadConnActor", large_payload_conn_actor},
    };
}

}  // namespace conformance
