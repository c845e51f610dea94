// Connections: typed params, rejection in on_before_connect, per-connection state, connect and
// disconnect hooks, events (subscriptions, once, unsubscribe, conn.send, ordering before the
// action's reply) and c.conns() (runtime-semantics §7.5, §7.7; driver-test-suite §3.5, §3.6).

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/testing.hpp>

#include "runtime_test_support.hpp"

namespace connections_test {

using strings = std::vector<std::string>;

struct chat_params {
    std::string name;
    std::string token;
};
RIVETKIT_FIELDS(chat_params, name, token)

struct chat_conn {
    std::string name;
    std::int64_t sent = 0;
};
RIVETKIT_FIELDS(chat_conn, name, sent)

struct chat_state {
    strings log;
};
RIVETKIT_FIELDS(chat_state, log)

const auto chat =
    rivetkit::actor<chat_state, chat_conn, chat_params>()
        .on_before_connect([](auto& c, const chat_params& p) {
            if (p.token != "secret") {
                throw rivetkit::user_error("bad token", "forbidden", rivetkit::object{{"name", p.name}});
            }
            c.state().log.push_back("before_connect:" + p.name);
        })
        .create_conn_state([](auto& c, const chat_params& p) {
            c.state().log.push_back("create_conn_state:" + p.name);
            chat_conn s;
            s.name = p.name;
            return s;
        })
        .on_connect([](auto& c, const auto& conn) {
            if (conn.params().name == "crash") throw rivetkit::user_error("on_connect refused", "refused");
            c.state().log.push_back("connect:" + conn.params().name + "/" + conn.state().name);
        })
        .on_disconnect([](auto& c, const auto& conn) { c.state().log.push_back("disconnect:" + conn.state().name); })
        .action<"whoami">([](auto& c) { return c.conn().params().name + "/" + c.conn().state().name; })
        .action<"connId">([](auto& c) { return c.conn().id(); })
        .action<"bump">([](auto& c) { return ++c.conn().state().sent; })
        .action<"say">([](auto& c, std::string msg) {
            c.broadcast("msg", c.conn().state().name, msg);
            c.broadcast("other", msg);
            return static_cast<std::int64_t>(msg.size());
        })
        .action<"dm">([](auto& c, std::string to, std::string msg) {
            bool sent = false;
            for (const auto& k : c.conns()) {
                if (k.state().name == to) {
                    k.send("dm", c.conn().state().name, msg);
                    sent = true;
                }
            }
            return sent;
        })
        .action<"names">([](auto& c) {
            strings out;
            for (const auto& k : c.conns()) out.push_back(k.state().name);
            std::sort(out.begin(), out.end());
            return out;
        })
        .action<"kick">([](auto& c, std::string who) {
            for (const auto& k : c.conns()) {
                if (k.state().name == who) k.disconnect("kicked");
            }
        })
        .action<"log">([](auto& c) { return std::as_const(c).state().log; });

rivetkit::value params(const std::string& name, const std::string& token = "secret") {
    return rivetkit::to_value(chat_params{name, token});
}

/// Entries of `log` that mention `name`.
strings about(const strings& log, const std::string& name) {
    strings out;
    for (const auto& l : log) {
        if (l.size() > name.size() && l.compare(l.size() - name.size(), name.size(), name) == 0) out.push_back(l);
    }
    return out;
}

/// The handle of `who` to the chat room.
auto room_of(rivetkit::testing::test_registry& t, const std::string& who) {
    return t.client().get_or_create(chat, "chat", {"room"}, rivetkit_test::with_params(params(who)));
}

struct inbox {
    std::vector<rivetkit::array> events;
    std::vector<std::string> texts() const {
        std::vector<std::string> out;
        for (const auto& e : events) out.push_back(e.back().as_string());
        return out;
    }
};

// Holds every connection in on_before_connect until the test clock has moved 10 ms.
const auto slow_door = rivetkit::actor<>()
                           .on_before_connect([](auto& c, const rivetkit::value&) -> rivetkit::task<void> {
                               co_await c.sleep_for(std::chrono::milliseconds(10));
                           })
                           .action<"shout">([](auto& c, std::string msg) {
                               c.broadcast("shout", msg);
                               return msg;
                           });

}  // namespace connections_test

using namespace connections_test;
using namespace rivetkit_test;

TEST_CASE("connections: typed params reach on_before_connect, create_conn_state and conn.params()", "[runtime]") {
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto alice = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("alice"))).connect();
    alice.wait_connected();
    CHECK(alice.status() == rivetkit::connection_status::connected);
    CHECK(alice.call<"whoami">() == "alice/alice");
    CHECK_FALSE(alice.connection_id().empty());
    CHECK(alice.call<"connId">() == alice.connection_id());

    auto admin = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("admin")));
    CHECK(about(admin.call<"log">(), "alice") ==
          strings{"before_connect:alice", "create_conn_state:alice", "connect:alice/alice"});
    alice.dispose();
}

TEST_CASE("connections: a one-off call is a transient connection with the same hooks", "[runtime]") {
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto bob = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("bob")));
    CHECK(bob.call<"whoami">() == "bob/bob");
    // Its on_disconnect ran before the reply of the next call.
    CHECK(about(bob.call<"log">(), "bob") == strings{"before_connect:bob", "create_conn_state:bob",
                                                     "connect:bob/bob", "disconnect:bob", "before_connect:bob",
                                                     "create_conn_state:bob", "connect:bob/bob"});
    // Each call has a fresh connection state.
    CHECK(bob.call<"bump">() == 1);
    CHECK(bob.call<"bump">() == 1);
}

TEST_CASE("connections: on_before_connect throwing a user_error rejects the connection", "[runtime]") {
    std::vector<rivetkit::client_error> errors;
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto h = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("mallory", "guess")));
    auto conn = h.connect();
    conn.on_error([&](const rivetkit::client_error& e) { errors.push_back(e); });

    auto e = require_error([&] { conn.wait_connected(); }, "user", "forbidden");
    CHECK(e.message() == "bad token");
    CHECK(e.metadata()["name"] == rivetkit::value("mallory"));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].group == "user");
    CHECK(errors[0].code == "forbidden");
    CHECK(errors[0].metadata["name"] == rivetkit::value("mallory"));
    CHECK(conn.status() == rivetkit::connection_status::disconnected);

    // Calls with those params are rejected the same way; nothing of mallory got further.
    require_error([&] { (void)h.call<"whoami">(); }, "user", "forbidden");
    auto admin = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("admin")));
    CHECK(about(admin.call<"log">(), "mallory").empty());
    CHECK(admin.call<"names">() == strings{"admin"});
    conn.dispose();
}

TEST_CASE("connections: malformed params are params/invalid", "[runtime]") {
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto h = t.client().get_or_create(chat, "chat", {"room"}, with_params(rivetkit::value("not an object")));
    require_error([&] { (void)h.call<"whoami">(); }, "params", "invalid");
}

TEST_CASE("connections: each connection has its own state", "[runtime]") {
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto alice = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("alice"))).connect();
    auto bob = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("bob"))).connect();
    CHECK(alice.call<"bump">() == 1);
    CHECK(alice.call<"bump">() == 2);
    CHECK(bob.call<"bump">() == 1);
    CHECK(alice.call<"bump">() == 3);
    CHECK(alice.call<"whoami">() == "alice/alice");
    CHECK(bob.call<"whoami">() == "bob/bob");
    CHECK(alice.connection_id() != bob.connection_id());
    alice.dispose();
    bob.dispose();
}

TEST_CASE("connections: c.conns() lists the open connections, dispose() fires on_disconnect", "[runtime]") {
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto room = [&](const std::string& who) { return room_of(t, who); };
    auto alice = room("alice").connect();
    auto bob = room("bob").connect();
    alice.wait_connected();
    bob.wait_connected();
    CHECK(alice.call<"names">() == strings{"alice", "bob"});
    // A one-off call sees itself too (transient connections are connections).
    CHECK(room("carol").call<"names">() == strings{"alice", "bob", "carol"});

    bob.dispose();
    t.settle();
    CHECK(bob.status() == rivetkit::connection_status::disposed);
    CHECK(alice.call<"names">() == strings{"alice"});
    CHECK(about(room("admin").call<"log">(), "bob") ==
          strings{"before_connect:bob", "create_conn_state:bob", "connect:bob/bob", "disconnect:bob"});
    alice.dispose();
}

TEST_CASE("connections: the actor can disconnect a connection", "[runtime]") {
    std::vector<rivetkit::connection_status> statuses;
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto room = [&](const std::string& who) { return room_of(t, who); };
    auto bob = room("bob").connect();
    bob.on_status([&](rivetkit::connection_status s) { statuses.push_back(s); });
    bob.wait_connected();
    auto first_id = bob.connection_id();
    room("admin").call<"kick">("bob");
    t.settle();
    // The client reconnects by itself: a new connection, with new hooks.
    CHECK(about(room("admin").call<"log">(), "bob") ==
          strings{"before_connect:bob", "create_conn_state:bob", "connect:bob/bob", "disconnect:bob",
                  "before_connect:bob", "create_conn_state:bob", "connect:bob/bob"});
    CHECK(std::find(statuses.begin(), statuses.end(), rivetkit::connection_status::disconnected) != statuses.end());
    CHECK(bob.status() == rivetkit::connection_status::connected);
    CHECK(bob.connection_id() != first_id);
    bob.dispose();
}

TEST_CASE("connections: on() receives broadcasts only for the subscribed event", "[runtime]") {
    inbox msgs;
    inbox others;
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto room = [&](const std::string& who) { return room_of(t, who); };
    auto alice = room("alice").connect();
    alice.on("msg", [&](const rivetkit::array& a) { msgs.events.push_back(a); });
    auto bob = room("bob").connect();
    bob.on("other", [&](const rivetkit::array& a) { others.events.push_back(a); });

    CHECK(bob.call<"say">("hello") == 5);
    t.settle();
    REQUIRE(msgs.events.size() == 1);
    CHECK(msgs.events[0] == rivetkit::array{"bob", "hello"});
    REQUIRE(others.events.size() == 1);
    CHECK(others.events[0] == rivetkit::array{"hello"});

    // A one-off call's broadcast reaches the subscribed connections too.
    room("carol").call<"say">("hi");
    t.settle();
    CHECK(msgs.texts() == strings{"hello", "hi"});
    CHECK(others.texts() == strings{"hello", "hi"});
    alice.dispose();
    bob.dispose();
}

TEST_CASE("connections: events an action broadcasts arrive before its reply on the same connection", "[runtime]") {
    inbox msgs;
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto alice = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("alice"))).connect();
    alice.on("msg", [&](const rivetkit::array& a) { msgs.events.push_back(a); });
    for (int i = 0; i < 3; ++i) {
        const std::string text = "m" + std::to_string(i);
        alice.call<"say">(text);
        // No settle: delivered by the time the call returned.
        REQUIRE(msgs.events.size() == static_cast<std::size_t>(i + 1));
        CHECK(msgs.events.back().back() == rivetkit::value(text));
    }
    alice.dispose();
}

TEST_CASE("connections: once() fires once, unsubscribe stops delivery", "[runtime]") {
    inbox once_box;
    inbox on_box;
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto alice = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("alice"))).connect();
    alice.once("msg", [&](const rivetkit::array& a) { once_box.events.push_back(a); });
    auto sub = alice.on("msg", [&](const rivetkit::array& a) { on_box.events.push_back(a); });
    alice.call<"say">("one");
    alice.call<"say">("two");
    CHECK(once_box.texts() == strings{"one"});
    CHECK(on_box.texts() == strings{"one", "two"});

    sub.unsubscribe();
    alice.call<"say">("three");
    t.settle();
    CHECK(once_box.texts() == strings{"one"});
    CHECK(on_box.texts() == strings{"one", "two"});

    // Subscribing again works.
    alice.on("msg", [&](const rivetkit::array& a) { on_box.events.push_back(a); });
    alice.call<"say">("four");
    CHECK(on_box.texts() == strings{"one", "two", "four"});
    alice.dispose();
}

TEST_CASE("connections: conn.send() reaches one connection only", "[runtime]") {
    inbox to_alice, to_bob, to_carol;
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto room = [&](const std::string& who) { return room_of(t, who); };
    auto alice = room("alice").connect();
    auto bob = room("bob").connect();
    auto carol = room("carol").connect();
    alice.on("dm", [&](const rivetkit::array& a) { to_alice.events.push_back(a); });
    bob.on("dm", [&](const rivetkit::array& a) { to_bob.events.push_back(a); });
    carol.on("dm", [&](const rivetkit::array& a) { to_carol.events.push_back(a); });
    bob.wait_connected();
    carol.wait_connected();

    CHECK(alice.call<"dm">("bob", "psst"));
    t.settle();
    REQUIRE(to_bob.events.size() == 1);
    CHECK(to_bob.events[0] == rivetkit::array{"alice", "psst"});
    CHECK(to_alice.events.empty());
    CHECK(to_carol.events.empty());
    CHECK_FALSE(alice.call<"dm">("nobody", "hello?"));
    alice.dispose();
    bob.dispose();
    carol.dispose();
}

TEST_CASE("connections: actions called before the connection is up are queued", "[runtime]") {
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto alice = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("alice"))).connect();
    CHECK(alice.status() == rivetkit::connection_status::connecting);
    auto f = start(t, alice.async_call<"bump">());
    auto g = start(t, alice.async_call<"bump">());
    t.settle();
    REQUIRE(f.done());
    REQUIRE(g.done());
    CHECK(std::min(f.get(), g.get()) == 1);
    CHECK(std::max(f.get(), g.get()) == 2);
    alice.dispose();
}

TEST_CASE("connections: on_connect throwing disconnects the connection, the client backs off", "[runtime]") {
    rivetkit::testing::test_registry t({{"chat", chat}});
    auto admin = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("admin")));
    auto attempts = [&] { return about(admin.call<"log">(), "crash").size() / 3; };
    const strings one_attempt{"before_connect:crash", "create_conn_state:crash", "disconnect:crash"};

    auto conn = t.client().get_or_create(chat, "chat", {"room"}, with_params(params("crash"))).connect();
    t.settle();
    // Connected, refused by on_connect, reconnected at once, refused again: from now on the
    // client waits 250 ms, 500 ms, 1 s, ... between attempts instead of looping.
    auto log = about(admin.call<"log">(), "crash");
    REQUIRE(log.size() == 6);
    CHECK(strings(log.begin(), log.begin() + 3) == one_attempt);
    CHECK(strings(log.begin() + 3, log.end()) == one_attempt);
    CHECK(admin.call<"names">() == strings{"admin"});

    t.advance(249ms);
    CHECK(attempts() == 2);
    t.advance(1ms);
    CHECK(attempts() == 3);
    t.advance(499ms);
    CHECK(attempts() == 3);
    t.advance(1ms);
    CHECK(attempts() == 4);
    t.advance(1000ms);
    CHECK(attempts() == 5);

    conn.dispose();
    t.settle();
    t.advance(60s);
    CHECK(attempts() == 5);  // no more attempts after dispose
}

TEST_CASE("connections: connecting to a missing actor fails with actor/not_found", "[runtime]") {
    std::vector<rivetkit::client_error> errors;
    rivetkit::testing::test_registry t({{"chat", chat}});
    rivetkit::get_options o;
    o.params = params("alice");
    auto conn = t.client().get(chat, "chat", {"nowhere"}, o).connect();
    conn.on_error([&](const rivetkit::client_error& e) { errors.push_back(e); });
    require_error([&] { conn.wait_connected(); }, "actor", "not_found");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].code == "not_found");
    require_error([&] { (void)conn.call<"whoami">(); }, "actor", "not_found");
    CHECK(t.awake_count() == 0);
    conn.dispose();
}

TEST_CASE("connections: a listener added while the connection is being opened gets its events", "[runtime]") {
    // The connection takes its list of events when it starts opening; a listener added after
    // that, before the connection is up, must still subscribe it (it used to be dropped).
    rivetkit::testing::test_registry t({{"door", slow_door}});
    auto h = t.client().get_or_create(slow_door, "door", {"d"});
    auto conn = h.connect();
    t.settle();  // opening: on_before_connect waits on the clock
    std::vector<std::string> heard;
    conn.on("shout", [&](const rivetkit::array& a) { heard.push_back(a.at(0).as_string()); });
    t.settle();
    t.advance(std::chrono::milliseconds(10));
    conn.wait_connected();
    CHECK(conn.call<"shout">("hello") == "hello");  // (a one-off call would wait at the door too)
    t.settle();
    CHECK(heard == std::vector<std::string>{"hello"});
    conn.dispose();
    t.settle();
}
