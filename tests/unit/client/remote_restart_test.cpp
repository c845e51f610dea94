// Reconnection across a server restart: the interop server (file-system driver), or the
// TypeScript reference server when the tests run against it, runs as a separate process. It is
// stopped while a connection is open; actions are called while it is down (queued) and a
// subscription is added. After the server is back on the same port with the same data
// directory, the queued actions complete on the persisted state and events arrive.

#include "client_test_support.hpp"

using namespace client_test;
using rivetkit::connection_status;
using rivetkit::value;

TEST_CASE("remote connection: survives a server restart with queued actions and subscriptions",
          "[client][remote][connect][restart]") {
    const std::string enc = GENERATE("bare", "cbor", "json");
    INFO("encoding " << enc);
    temp_dir data("rivetkit-client-restart-" + enc);
    // The first start picks a free port; the restart reuses it.
    server_process server(restartable_server_command(), {{"RIVETKIT_DATA_PATH", data.path.string()}});
    const std::uint16_t port = server.port;

    auto client = rivetkit::create_client(options_for("http://127.0.0.1:" + std::to_string(port), enc));
    auto conn = client.get_or_create("counter", {"restart"}).connect();
    recorder<std::int64_t> counts;
    conn.on("newCount", [&](const rivetkit::array& args) { counts.push(args.at(0).as_int()); });
    recorder<connection_status> statuses;
    conn.on_status([&](connection_status s) { statuses.push(s); });
    conn.wait_connected();
    const std::string first_id = conn.connection_id();
    CHECK(conn.call("increment", 1) == value(1));
    CHECK(counts.wait_for(1) == std::vector<std::int64_t>{1});

    server.stop();
    statuses.wait_until([](const auto& v) { return !v.empty() && v.back() != connection_status::connected; });

    // While the server is down: two actions (queued, in order) and a new subscription.
    recorder<value> others;
    conn.on("other", [&](const rivetkit::array& args) { others.push(args.at(0)); });
    std::vector<value> results;
    asio::io_context io;
    auto a = conn.async_call("increment", 10);
    auto b = conn.async_call("increment", 100);
    auto collect = [](rivetkit::task<value> t, std::vector<value>& out) -> rivetkit::task<void> {
        out.push_back(co_await std::move(t));
    };
    asio::co_spawn(io, collect(std::move(a), results), asio::detached);
    asio::co_spawn(io, collect(std::move(b), results), asio::detached);
    std::thread runner([&] { io.run(); });
    // A failed restart must not leave the runner joinable (std::terminate): stop it, then join.
    struct join_guard {
        std::thread& t;
        asio::io_context& io;
        ~join_guard() {
            if (!t.joinable()) return;
            io.stop();
            t.join();
        }
    } guard{runner, io};
    // Still down: nothing can complete.
    CHECK(conn.status() != connection_status::connected);

    server.start();
    runner.join();  // both queued actions completed after the reconnect
    CHECK(results == std::vector<value>{value(11), value(111)});
    CHECK(counts.wait_for(3) == std::vector<std::int64_t>{1, 11, 111});
    CHECK(conn.status() == connection_status::connected);
    CHECK(conn.connection_id() != first_id);

    // Both subscriptions (the old one and the one added while down) are live on the new
    // connection.
    conn.call("emit", "other", "x");
    CHECK(others.wait_for(1) == std::vector<value>{value("x")});
    CHECK(conn.call("increment", 1) == value(112));
    CHECK(counts.wait_for(4).back() == 112);

    conn.dispose();
    client.dispose();
    server.stop();
}
