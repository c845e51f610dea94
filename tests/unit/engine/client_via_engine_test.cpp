// The C++ client (rivetkit::create_client) reaching actors through an engine, as RivetKit's
// remote manager does (engine-protocol.md §7): the engine's REST API (`GET /metadata`,
// `GET/PUT/POST /actors` with `?namespace=` and `Authorization: Bearer`) to find and create
// actors, and its gateway (`/gateway/{actorId}/action/...`, `/gateway/{actorId}/connect`) to
// reach them. The engine is the fake one (tests/engine/fake_engine) and the actors run in
// RivetKit 2.0.33 itself, the TypeScript app tests/engine/ts_runner_app/app.mjs acting as the
// engine's runner. Each case starts both as fresh Node processes. Synchronisation: the fake's
// wait endpoints, the client's own blocking calls and a recorder with a deadline; no sleeps.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "client/server_process.hpp"
#include "client/waiting.hpp"
#include "engine/fake_engine_process.hpp"
#include "rivetkit/client.hpp"
#include "rivetkit/error.hpp"

using namespace engine_test;
using client_test::expect_error;
using client_test::recorder;
using namespace std::chrono_literals;
using rivetkit::value;

namespace {

const std::string app_dir = std::string(RIVETKIT_TEST_FAKE_ENGINE_DIR) + "/../ts_runner_app";

/// The fake engine can run, and the RivetKit app's npm packages are installed (once per process).
bool ts_app_available() {
    static const bool ok = [] {
        if (!fake_engine_available()) return false;
        const std::string cmd = std::string("bash '") + RIVETKIT_TEST_NPM_INSTALL + "' '" + app_dir + "' 1>&2";
        return std::system(cmd.c_str()) == 0;
    }();
    return ok;
}

#define REQUIRE_ENGINE_AND_APP()                                                                              \
    do {                                                                                                      \
        if (!ts_app_available()) {                                                                            \
            WARN("node (or the npm packages of the fake engine / the RivetKit app) is unavailable: skipping"); \
            return;                                                                                           \
        }                                                                                                     \
    } while (false)

struct setup_options {
    std::string token;  // the engine's admin token; empty: none
    std::string namespace_name = "default";
    std::string runner_name = "default";
    std::map<std::string, std::string> engine_env;  // more FAKE_ENGINE_* options
};

std::map<std::string, std::string> engine_env(const setup_options& o) {
    auto env = o.engine_env;
    if (!o.token.empty()) env["FAKE_ENGINE_TOKEN"] = o.token;
    env.try_emplace("FAKE_ENGINE_PING_INTERVAL_MS", "500");
    return env;
}

/// A fake engine, and the RivetKit app connected to it as a runner (stopped first).
class engine_with_runner {
public:
    explicit engine_with_runner(setup_options o = {})
        : opts_(std::move(o)),
          engine_(io_, engine_env(opts_)),
          app_({RIVETKIT_TEST_NODE, app_dir + "/app.mjs"}, app_env()) {
        json want{{"name", opts_.runner_name}, {"key", runner_key}, {"connected", true}, {"timeoutMs", 25000}};
        const json runner = engine_.call("POST", "/__fake/wait/runner", want)["runner"];
        REQUIRE(runner["namespace"] == opts_.namespace_name);
    }

    /// Client options for this engine: every option set, so the environment plays no part.
    [[nodiscard]] rivetkit::client_options client_options(rivetkit::client_encoding enc = rivetkit::client_encoding::bare) const {
        rivetkit::client_options c;
        c.endpoint = engine_.endpoint();
        c.token = opts_.token;
        c.namespace_name = opts_.namespace_name;
        c.runner_name = opts_.runner_name;
        c.encoding = enc;
        c.reconnect.initial_delay = 50ms;
        c.reconnect.max_delay = 500ms;
        return c;
    }

    /// The fake's view of every actor named `name` (its control API).
    json actors(const std::string& name) { return engine_.call("GET", "/__fake/actors?name=" + name)["actors"]; }

    /// The tunnel messages of this kind the engine sent to the runner (ToClientRequestStart, ...).
    json tunnel_messages(const std::string& kind) { return engine_.messages("dir=toRunner&kind=" + kind); }

    fake_engine& engine() { return engine_; }

    const std::string runner_key = "cpp-client-test";

private:
    std::map<std::string, std::string> app_env() const {
        std::map<std::string, std::string> env{{"ENGINE_ENDPOINT", engine_.endpoint()},
                                               {"ENGINE_NAMESPACE", opts_.namespace_name},
                                               {"RUNNER_NAME", opts_.runner_name},
                                               {"RUNNER_KEY", runner_key},
                                               {"LOG_LEVEL", "error"}};
        if (!opts_.token.empty()) env["ENGINE_TOKEN"] = opts_.token;
        return env;
    }

    setup_options opts_;
    io_thread io_;
    fake_engine engine_;
    client_test::server_process app_;  // declared last: stopped before the engine
};

/// The path of a logged tunnel message (ToClientRequestStart / ToClientWebSocketOpen).
std::string tunnel_path(const json& message) { return message["msg"]["val"]["messageKind"]["val"]["path"].get<std::string>(); }

}  // namespace

TEST_CASE("client through an engine: get_or_create, actions over HTTP, get by key and by id, create",
          "[engine][client_via_engine]") {
    REQUIRE_ENGINE_AND_APP();
    setup_options o;
    o.token = "engine-admin-token";
    engine_with_runner env(o);
    auto client = rivetkit::create_client(env.client_options());

    // get_or_create: PUT /actors, then POST /gateway/{id}/action/increment, served by RivetKit.
    auto counter = client.get_or_create("counter", {"room", "1"});
    CHECK(counter.call("increment", 5) == value(5));
    CHECK(counter.call("increment", 2) == value(7));

    // The engine created one actor as RivetKit's remote manager would (key serialized, crash
    // policy sleep, the runner name as selector), and RivetKit runs it.
    json actors = env.actors("counter");
    REQUIRE(actors.size() == 1);
    const std::string id = actors[0]["actorId"].get<std::string>();
    CHECK(actors[0]["key"] == "room/1");
    CHECK(actors[0]["namespace"] == "default");
    CHECK(actors[0]["crashPolicy"] == "sleep");
    CHECK(actors[0]["runnerNameSelector"] == "default");
    CHECK(actors[0]["state"] == "running");
    CHECK(counter.resolve() == id);

    // The actions went through the gateway as HTTP requests carrying the token.
    const json requests = env.tunnel_messages("ToClientRequestStart");
    REQUIRE(requests.size() >= 2);
    for (const auto& m : requests) {
        CHECK(tunnel_path(m).starts_with("/action/"));
        CHECK(m["msg"]["val"]["messageKind"]["val"]["headers"]["x-rivet-token"] == o.token);
    }

    // The same actor by key (GET /actors?name&key) and by id (GET /actors?actor_ids).
    CHECK(client.get("counter", {"room", "1"}).call("getCount") == value(7));
    auto by_id = client.get_for_id("counter", id);
    CHECK(by_id.resolve() == id);
    CHECK(by_id.call("getCount") == value(7));
    // A key nobody created, and an id under another actor name, are not found.
    expect_error([&] { (void)client.get("counter", {"room", "2"}).call("getCount"); }, "actor", "not_found");
    expect_error([&] { (void)client.get_for_id("other", id).resolve(); }, "actor", "not_found");
    // An id the engine never issued.
    expect_error([&] { (void)client.get_for_id("counter", "00000000000000000000000000000a").call("getCount"); },
                 "actor", "not_found");
    CHECK(env.actors("counter").size() == 1);

    // The creation input travels as base64 CBOR to RivetKit's createState.
    rivetkit::create_options with_input;
    with_input.input = value(40);
    CHECK(client.get_or_create("counter", {"with-input"}, with_input).call("increment", 2) == value(42));
    // get_or_create on an existing key keeps the actor (and ignores the input).
    CHECK(client.get_or_create("counter", {"with-input"}, with_input).call("getCount") == value(42));

    // A region the engine does not have.
    rivetkit::create_options elsewhere;
    elsewhere.region = "no-such-dc";
    expect_error([&] { (void)client.get_or_create("counter", {"far"}, elsewhere).resolve(); }, "datacenter",
                 "not_found");

    // create: POST /actors; a second create with the same key is the engine's duplicate_key.
    auto created = client.create("counter", {"fresh"});
    CHECK(created.call("increment", 1) == value(1));
    auto dup = expect_error([&] { (void)client.create("counter", {"fresh"}); }, "actor", "duplicate_key");
    CHECK(dup.message.find("fresh") != std::string::npos);
    CHECK(created.call("getCount") == value(1));
    CHECK(env.actors("counter").size() == 3);
}

TEST_CASE("client through an engine: a connection over the gateway WebSocket gets broadcasts",
          "[engine][client_via_engine]") {
    REQUIRE_ENGINE_AND_APP();
    setup_options o;
    o.token = "engine-admin-token";
    engine_with_runner env(o);

    for (const auto enc : {rivetkit::client_encoding::bare, rivetkit::client_encoding::cbor, rivetkit::client_encoding::json}) {
        const std::string name = enc == rivetkit::client_encoding::bare   ? "bare"
                                 : enc == rivetkit::client_encoding::cbor ? "cbor"
                                                                          : "json";
        INFO("encoding " << name);
        auto client = rivetkit::create_client(env.client_options(enc));
        auto handle = client.get_or_create("counter", {"conn", name});
        auto conn = handle.connect();
        recorder<std::int64_t> counts;
        conn.on("newCount", [&](const rivetkit::array& args) { counts.push(args.at(0).as_int()); });
        conn.wait_connected();
        CHECK(conn.status() == rivetkit::connection_status::connected);
        CHECK_FALSE(conn.connection_id().empty());

        // An action over the connection; its broadcast arrives on the connection.
        CHECK(conn.call("increment", 3) == value(3));
        CHECK(counts.wait_for(1) == std::vector<std::int64_t>{3});
        // A one-off HTTP action from the same client broadcasts to the connection too.
        CHECK(handle.call("increment", 4) == value(7));
        CHECK(counts.wait_for(2) == std::vector<std::int64_t>{3, 7});
        CHECK(conn.call("getCount") == value(7));

        conn.dispose();
        CHECK(conn.status() == rivetkit::connection_status::disposed);
    }

    // Each connection was a WebSocket the gateway opened to RivetKit's /connect.
    const json opens = env.tunnel_messages("ToClientWebSocketOpen");
    REQUIRE(opens.size() == 3);
    for (const auto& m : opens) CHECK(tunnel_path(m).starts_with("/connect"));
}

TEST_CASE("client through an engine: raw HTTP and raw WebSockets reach the actor through the gateway",
          "[engine][client_via_engine]") {
    REQUIRE_ENGINE_AND_APP();
    setup_options o;
    o.token = "engine-admin-token";
    engine_with_runner env(o);
    auto client = rivetkit::create_client(env.client_options());
    auto handle = client.get_or_create("counter", {"raw"});
    CHECK(handle.call("increment", 6) == value(6));

    // fetch: /gateway/{id}/request/... reaches RivetKit's onRequest with path, query, body, headers.
    rivetkit::http_request req;
    req.method = "POST";
    req.path = "/users/1";
    req.query = "x=1&y=two";
    req.body = "hi there";
    req.headers.emplace_back("x-test", "yes");
    const rivetkit::http_response r = handle.fetch(req);
    REQUIRE(r.status == 200);
    const json body = json::parse(r.body);
    CHECK(body["method"] == "POST");
    CHECK(body["path"] == "/users/1");
    CHECK(body["query"] == "x=1&y=two");
    CHECK(body["body"] == "hi there");
    CHECK(body["xTest"] == "yes");
    CHECK(body["count"] == 6);

    // websocket: /gateway/{id}/websocket/... reaches onWebSocket; messages go both ways.
    auto ws = handle.websocket("/room/1?z=3");
    recorder<std::string> messages;
    recorder<int> closes;
    ws->on_message([&](const rivetkit::websocket_message& m) { messages.push(m.data); });
    ws->on_close([&](std::uint16_t code, const std::string&) { closes.push(code); });
    CHECK(messages.wait_for(1)[0] == "hello");
    ws->send("ping");
    CHECK(messages.wait_for(2)[1] == "echo:ping");
    ws->close(1000, "done");
    CHECK(closes.wait_for(1)[0] == 1000);

    const json opens = env.tunnel_messages("ToClientWebSocketOpen");
    REQUIRE(opens.size() == 1);
    CHECK(tunnel_path(opens[0]) == "/websocket/room/1?z=3");
    bool saw_request = false;
    for (const auto& m : env.tunnel_messages("ToClientRequestStart")) {
        if (tunnel_path(m) == "/request/users/1?x=1&y=two") saw_request = true;
    }
    CHECK(saw_request);
}

TEST_CASE("client through an engine: a wrong or missing token is a clear error", "[engine][client_via_engine]") {
    REQUIRE_ENGINE_AND_APP();
    setup_options o;
    o.token = "the-right-token";
    engine_with_runner env(o);

    auto wrong_opts = env.client_options();
    wrong_opts.token = "a-wrong-token";
    auto wrong = rivetkit::create_client(wrong_opts);
    auto e = expect_error([&] { (void)wrong.get_or_create("counter", {"t"}).call("getCount"); }, "api", "forbidden");
    CHECK(e.message.find("HTTP 403") != std::string::npos);
    CHECK(e.message.find("token") != std::string::npos);
    // A connection fails for good with the same error (no reconnecting with a refused token).
    auto conn = wrong.get_or_create("counter", {"t"}).connect();
    expect_error([&] { conn.wait_connected(); }, "api", "forbidden");
    expect_error([&] { (void)conn.call("getCount"); }, "api", "forbidden");
    conn.dispose();

    auto none_opts = env.client_options();
    none_opts.token.clear();
    // (an empty token takes RIVET_TOKEN: the test environment must not set it)
    if (std::getenv("RIVET_TOKEN") == nullptr) {
        auto none = rivetkit::create_client(none_opts);
        auto u = expect_error([&] { (void)none.get("counter", {"t"}).resolve(); }, "api", "unauthorized");
        CHECK(u.message.find("HTTP 401") != std::string::npos);
    }

    // Nothing was created by the refused requests; the right token works.
    CHECK(env.actors("counter").empty());
    auto right = rivetkit::create_client(env.client_options());
    CHECK(right.get_or_create("counter", {"t"}).call("increment", 1) == value(1));
}

TEST_CASE("client through an engine: an actor destroyed through the engine is gone for the client",
          "[engine][client_via_engine]") {
    REQUIRE_ENGINE_AND_APP();
    engine_with_runner env;
    auto client = rivetkit::create_client(env.client_options());
    auto handle = client.get_or_create("counter", {"doomed"});
    CHECK(handle.call("increment", 9) == value(9));
    const std::string id = handle.resolve();

    // The client has no destroy call (nor has RivetKit's 2.0.33 client): DELETE /actors/{id}.
    const auto r = env.engine().raw("DELETE", "/actors/" + id + "?namespace=default");
    REQUIRE(r.status == 200);
    REQUIRE(env.engine().call("POST", "/__fake/wait/actor",
                              json{{"actorId", id}, {"state", "destroyed"}, {"timeoutMs", 15000}})["actor"]["state"] ==
            "destroyed");

    expect_error([&] { (void)client.get_for_id("counter", id).call("getCount"); }, "actor", "not_found");
    expect_error([&] { (void)client.get("counter", {"doomed"}).resolve(); }, "actor", "not_found");
    // get_or_create makes a new actor under the freed key, with a fresh state.
    CHECK(handle.call("increment", 1) == value(1));
    CHECK(handle.resolve() != id);
}

TEST_CASE("client through an engine: namespace and runner name select where actors run",
          "[engine][client_via_engine]") {
    REQUIRE_ENGINE_AND_APP();
    setup_options o;
    o.namespace_name = "team-a";
    o.runner_name = "cpp-pool";
    o.engine_env["FAKE_ENGINE_NAMESPACES"] = "default,team-a";
    engine_with_runner env(o);

    auto client = rivetkit::create_client(env.client_options());
    CHECK(client.get_or_create("counter", {"ns"}).call("increment", 4) == value(4));
    const json actors = env.actors("counter");
    REQUIRE(actors.size() == 1);
    CHECK(actors[0]["namespace"] == "team-a");
    CHECK(actors[0]["runnerNameSelector"] == "cpp-pool");
    CHECK(actors[0]["state"] == "running");

    // Another namespace does not see it; an unknown one is the engine's namespace/not_found.
    auto other_opts = env.client_options();
    other_opts.namespace_name = "default";
    expect_error([&] { (void)rivetkit::create_client(other_opts).get("counter", {"ns"}).resolve(); }, "actor",
                 "not_found");
    auto unknown_opts = env.client_options();
    unknown_opts.namespace_name = "no-such-namespace";
    expect_error([&] { (void)rivetkit::create_client(unknown_opts).get_or_create("counter", {"ns"}).resolve(); },
                 "namespace", "not_found");
}
