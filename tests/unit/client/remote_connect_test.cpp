// Connections of the remote client: Init, events, subscriptions, status, errors, dispose, and
// reconnection after the actor closes the connection.

#include "client_test_support.hpp"

using namespace client_test;
using rivetkit::connection_status;
using rivetkit::value;

namespace {

const char* encoding_name() { return GENERATE("bare", "cbor", "json"); }

}  // namespace

TEST_CASE("remote connection: actions and events", "[client][remote][connect]") {
    const std::string enc = encoding_name();
    INFO("encoding " << enc);
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint(), enc));
    auto h = client.get_or_create("counter", {"conn-" + enc});

    recorder<connection_status> statuses;
    auto conn = h.connect();
    conn.on_status([&](connection_status s) { statuses.push(s); });
    recorder<std::int64_t> counts;
    auto sub = conn.on("newCount", [&](const rivetkit::array& args) { counts.push(args.at(0).as_int()); });
    conn.wait_connected();
    CHECK(conn.status() == connection_status::connected);
    CHECK(conn.connection_id().size() >= 16);
    statuses.wait_until([](const auto& v) { return !v.empty() && v.back() == connection_status::connected; });

    // The event an action broadcast arrives before the action's result.
    CHECK(conn.call("increment", 3) == value(3));
    CHECK(counts.items() == std::vector<std::int64_t>{3});
    // Broadcasts from another caller (a one-off HTTP action) reach the connection too.
    CHECK(h.call("increment", 2) == value(5));
    CHECK(counts.wait_for(2) == std::vector<std::int64_t>{3, 5});
    // An argument list built at run time, over the connection.
    CHECK(conn.action("increment", rivetkit::array{value(1)}) == value(6));
    CHECK(counts.wait_for(3) == std::vector<std::int64_t>{3, 5, 6});

    // once: the next occurrence only.
    recorder<value> once;
    conn.once("ping", [&](const rivetkit::array& args) { once.push(args.at(0)); });
    conn.call("emit", "ping", "a");
    conn.call("emit", "ping", "b");
    CHECK(once.items() == std::vector<value>{value("a")});

    // Unsubscribed: the server no longer sends the event (conn.send reaches us regardless).
    sub.unsubscribe();
    conn.call("increment", 1);
    recorder<value> direct;
    conn.on("direct", [&](const rivetkit::array& args) { direct.push(args.at(0)); });
    conn.call("sendToMe", "direct");
    direct.wait_for(1);
    CHECK(counts.items().size() == 3);

    // Errors of actions over the connection.
    auto e = expect_error([&] { conn.call("throwUser"); }, "user", "my_code");
    CHECK(e.metadata == value(rivetkit::object{{"a", 1}}));
    expect_error([&] { conn.call("nope"); }, "action", "not_found");
    // The connection is still usable.
    CHECK(conn.call("getCount") == value(7));

    // Typed calls over the connection.
    auto typed = client.get_or_create(counter_actor, "counter", {"conn-" + enc}).connect();
    CHECK(typed.call<"increment">(1) == 8);
    typed.dispose();

    conn.dispose();
    CHECK(conn.status() == connection_status::disposed);
    CHECK(statuses.items().back() == connection_status::disposed);
    expect_error([&] { conn.call("getCount"); }, "client", "disposed");
}

TEST_CASE("remote connection: actions called before the connection is open are queued", "[client][remote][connect]") {
    const std::string enc = encoding_name();
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint(), enc));
    auto conn = client.get_or_create("counter", {"queued-" + enc}).connect();
    recorder<std::int64_t> counts;
    conn.on("newCount", [&](const rivetkit::array& args) { counts.push(args.at(0).as_int()); });
    // Not waiting for the connection: the calls wait in the queue and go out in order.
    auto a = conn.async_call("increment", 1);
    auto b = conn.async_call("increment", 10);
    asio::io_context io;
    std::vector<value> results;
    asio::co_spawn(
        io,
        [](rivetkit::task<value> x, rivetkit::task<value> y, std::vector<value>& out) -> rivetkit::task<void> {
            out.push_back(co_await std::move(x));
            out.push_back(co_await std::move(y));
        }(std::move(a), std::move(b), results),
        asio::detached);
    io.run();  // the user's own io_context: the client's work runs on its own threads
    CHECK(results == std::vector<value>{value(1), value(11)});
    CHECK(counts.wait_for(2) == std::vector<std::int64_t>{1, 11});
    conn.dispose();
}

TEST_CASE("remote connection: params, rejection and connection-level errors", "[client][remote][connect]") {
    const std::string enc = encoding_name();
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint(), enc));

    rivetkit::get_options go;
    go.params = rivetkit::object{{"token", "s3cret ü"}};
    (void)client.get_or_create("counter", {"params"}).resolve();
    auto conn = client.get("counter", {"params"}, go).connect();
    CHECK(conn.call("getParams") == value(rivetkit::object{{"token", "s3cret ü"}}));
    conn.dispose();

    // on_before_connect throws: the attempt fails with the error's code, and keeps retrying.
    rivetkit::get_options bad;
    bad.params = rivetkit::object{{"reject", true}};
    auto rejected = client.get("counter", {"params"}, bad).connect();
    recorder<rivetkit::client_error> errors;
    rejected.on_error([&](const rivetkit::client_error& e) { errors.push(e); });
    auto e = expect_error([&] { rejected.wait_connected(); }, "connection", "forbidden");
    CHECK(e.metadata == value(rivetkit::object{{"closeCode", 1011}, {"reason", "forbidden"}}));
    auto seen = errors.wait_for(2);  // retried
    CHECK(seen[0].code == "forbidden");
    CHECK(rejected.status() != connection_status::connected);
    rejected.dispose();

    // An actor that cannot exist: lost for good, queued actions fail with the reason.
    auto missing = client.get("counter", {"never-created"}).connect();
    recorder<connection_status> st;
    missing.on_status([&](connection_status s) { st.push(s); });
    auto queued = missing.async_call("getCount");
    expect_error([&] { missing.wait_connected(); }, "actor", "not_found");
    expect_error([&] { (void)rivetkit::detail::block_on(*client.transport(), std::move(queued)); }, "actor",
                 "not_found");
    expect_error([&] { missing.call("getCount"); }, "actor", "not_found");
    missing.dispose();
}

TEST_CASE("remote connection: the actor closing the connection makes the client reconnect", "[client][remote][connect]") {
    const std::string enc = encoding_name();
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint(), enc));
    auto conn = client.get_or_create("counter", {"kick-" + enc}).connect();
    recorder<std::int64_t> counts;
    conn.on("newCount", [&](const rivetkit::array& args) { counts.push(args.at(0).as_int()); });
    recorder<connection_status> statuses;
    conn.on_status([&](connection_status s) { statuses.push(s); });
    conn.wait_connected();
    const std::string first_id = conn.connection_id();

    // kickMe disconnects us while the action runs: its response may or may not arrive first.
    try {
        conn.call("kickMe");
    } catch (const rivetkit::error& e) {
        CHECK(e.group() == "client");
        CHECK(e.code() == "connection_lost");
    }
    statuses.wait_until([](const auto& v) {
        return std::count(v.begin(), v.end(), connection_status::connected) >= 2;
    });
    conn.wait_connected();
    CHECK(conn.connection_id() != first_id);
    // The subscription was sent again after the new Init.
    CHECK(conn.call("increment", 1) == value(1));
    CHECK(counts.wait_for(1) == std::vector<std::int64_t>{1});
    const auto seen = statuses.items();
    CHECK(std::count(seen.begin(), seen.end(), connection_status::disconnected) >= 1);
    conn.dispose();
}

TEST_CASE("remote connection: dispose fails pending actions and stops the listeners", "[client][remote][connect]") {
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint()));
    auto conn = client.get("counter", {"never"}).connect();  // retries forever? no: not_found is definitive
    conn.dispose();
    expect_error([&] { conn.wait_connected(); }, "client", "disposed");

    // dispose() from inside a listener, and client.dispose() closing every connection.
    auto h = client.get_or_create("counter", {"dispose"});
    auto c1 = h.connect();
    auto c2 = h.connect();
    recorder<int> fired;
    c1.on("newCount", [&](const rivetkit::array&) {
        fired.push(1);
        c1.dispose();
    });
    c1.wait_connected();
    c2.wait_connected();
    c1.call("getCount");  // the subscription is through (same socket, sent before)
    h.call("increment", 1);
    fired.wait_for(1);
    h.call("increment", 1);
    CHECK(c1.status() == connection_status::disposed);
    client.dispose();
    CHECK(c2.status() == connection_status::disposed);
    CHECK(fired.size() == 1);
}

TEST_CASE("remote client: blocking on a client thread throws instead of deadlocking", "[client][remote]") {
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint()));
    auto conn = client.get_or_create("counter", {"block"}).connect();
    recorder<std::string> what;
    conn.on("newCount", [&](const rivetkit::array&) {
        try {
            conn.call("getCount");
            what.push("no error");
        } catch (const rivetkit::blocking_call_error&) {
            what.push("blocking_call_error");
        }
    });
    conn.call("increment", 1);
    CHECK(what.wait_for(1) == std::vector<std::string>{"blocking_call_error"});
    conn.dispose();
}

TEST_CASE("remote connection: the reconnect schedule and giving up", "[client][remote][connect]") {
    std::uint16_t port = 0;
    {
        served_registry gone;  // a port nobody listens on any more
        port = gone.port;
    }
    auto o = options_for("http://127.0.0.1:" + std::to_string(port));
    o.reconnect.initial_delay = 100ms;
    o.reconnect.multiplier = 2.0;
    o.reconnect.max_delay = 300ms;
    o.reconnect.jitter = 0.0;
    o.reconnect.max_attempts = 5;
    auto client = rivetkit::create_client(o);
    auto conn = client.get_or_create("counter", {"x"}).connect();
    recorder<std::chrono::steady_clock::time_point> failures;
    conn.on_error([&](const rivetkit::client_error& e) {
        CHECK(e.group == "client");
        CHECK(e.code == "connection_failed");
        failures.push(std::chrono::steady_clock::now());
    });
    auto queued = conn.async_call("getCount");
    // After max_attempts the connection is lost for good: the queued action fails.
    expect_error([&] { (void)rivetkit::detail::block_on(*client.transport(), std::move(queued)); }, "client",
                 "connection_failed");
    // Every failure was reported by then; the first may have come before on_error was set.
    const auto times = failures.items();
    REQUIRE(times.size() >= 4);
    // Waits between consecutive failures: 100, 200, 300 (capped), 300 ms.
    std::vector<std::chrono::milliseconds> expected{100ms, 200ms, 300ms, 300ms};
    const std::size_t offset = 5 - times.size();  // failures missed before the listener
    for (std::size_t i = 1; i < times.size(); ++i) {
        const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(times[i] - times[i - 1]);
        const auto want = expected[offset + i - 1];
        INFO("gap " << i << ": " << gap.count() << " ms, expected " << want.count());
        CHECK(gap >= want - 5ms);
        CHECK(gap < want + 250ms);
    }
    expect_error([&] { conn.wait_connected(); }, "client", "connection_failed");
    CHECK(conn.status() == connection_status::disconnected);
    conn.dispose();
}

TEST_CASE("remote connection: with reconnection off, a drop is final", "[client][remote][connect]") {
    served_registry server;
    auto o = options_for(server.endpoint());
    o.reconnect.enabled = false;
    auto client = rivetkit::create_client(o);
    auto conn = client.get_or_create("counter", {"final"}).connect();
    conn.wait_connected();
    try {
        conn.call("kickMe");
    } catch (const rivetkit::error& e) {
        CHECK(e.code() == "connection_lost");
    }
    poll_until([&] { return conn.status() == connection_status::disconnected; });
    expect_error([&] { conn.call("getCount"); }, "client", "connection_lost");
    conn.dispose();
}

TEST_CASE("remote client: dropping a client with live connections does not hang", "[client][remote][connect]") {
    served_registry server;
    {
        auto client = rivetkit::create_client(options_for(server.endpoint()));
        auto conn = client.get_or_create("counter", {"drop"}).connect();
        conn.wait_connected();
        rivetkit::create_options reject;
        reject.params = rivetkit::object{{"reject", true}};
        auto retrying = client.get_or_create("counter", {"drop"}, reject).connect();  // refused, retrying
        (void)retrying;
        auto ws = client.get_or_create("counter", {"drop"}).websocket();
        (void)ws;
    }
    // The server is fine afterwards.
    auto client = rivetkit::create_client(options_for(server.endpoint()));
    CHECK(client.get_or_create("counter", {"drop"}).call("getCount") == value(0));
}

TEST_CASE("remote client: a listener may own the last reference to its client", "[client][remote][connect]") {
    served_registry server;
    recorder<int> done;
    {
        auto client = rivetkit::create_client(options_for(server.endpoint()));
        auto conn = std::make_shared<rivetkit::actor_connection>(client.get_or_create("counter", {"owner"}).connect());
        conn->wait_connected();
        // The listener holds the connection and the client; disposing from inside it drops
        // them, and with them the client, on the client's own io thread.
        conn->on("newCount", [conn, client, &done](const rivetkit::array&) {
            conn->dispose();
            done.push(1);
        });
        conn->call("getCount");  // the subscription went out before this call, on the same socket
        // A one-off action (not over the connection, which the listener disposes).
        client.get_or_create("counter", {"owner"}).call("increment", 1);
    }
    CHECK(done.wait_for(1).size() == 1);
    // The server still serves other clients.
    auto other = rivetkit::create_client(options_for(server.endpoint()));
    CHECK(other.get_or_create("counter", {"owner"}).call("getCount") == value(1));
}
