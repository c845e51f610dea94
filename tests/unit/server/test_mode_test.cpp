// Test mode (server_options::test_mode): the /.test/* endpoints of the official driver test
// suite's inline client (driver-test-suite.md §1.4), and their absence outside test mode.

#include "common/cbor.hpp"
#include "server/server_test_support.hpp"

namespace server_test {
namespace {

using protocol::encoding;

/// POST /.test/inline-driver/call; the decoded CBOR reply.
rivetkit::value inline_call(served_registry& srv, std::string_view method, rivetkit::object input) {
    rivetkit::object body{{"encoding", std::string("json")},
                          {"method", std::string(method)},
                          {"args", rivetkit::array{rivetkit::value(std::move(input))}}};
    const auto bytes = rivetkit::cbor::encode(rivetkit::value(std::move(body)));
    const auto r = srv.fetch("POST", "/.test/inline-driver/call", {{"Content-Type", "application/json"}},
                             std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    REQUIRE(r.status == 200);
    return rivetkit::cbor::decode(std::span(reinterpret_cast<const std::uint8_t*>(r.body.data()), r.body.size()));
}

rivetkit::array key_of(std::initializer_list<std::string> parts) {
    rivetkit::array key;
    for (const auto& p : parts) key.emplace_back(p);
    return key;
}

std::string pct(std::string_view s) {
    std::string out;
    for (unsigned char ch : s) {
        if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.') {
            out.push_back(static_cast<char>(ch));
        } else {
            out += fmt::format("%{:02X}", ch);
        }
    }
    return out;
}

std::vector<std::string> inline_protocols(std::string_view actor_id, std::string_view path) {
    return {"rivet", "rivet_target.actor", "rivet_actor." + pct(actor_id), "rivet_encoding.json",
            "test_path." + pct(path)};
}

}  // namespace

TEST_CASE("test mode: the /.test endpoints do not exist outside test mode", "[server][test_mode]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "outside");
    CHECK(srv.fetch("POST", "/.test/inline-driver/call", {}, "\xa0").status == 404);
    CHECK(srv.fetch("POST", "/.test/inline-driver/send-request/action/getCount",
                    {{"x-rivet-actor", id}, {"x-rivet-encoding", "json"}}, R"({"args":[]})")
              .status == 404);
    CHECK(srv.fetch("POST", "/.test/force-disconnect?actor=" + id + "&conn=x").status == 404);
    // Not even through the header gateway (x-rivet-target), which reaches the actor's router.
    CHECK(srv.fetch("POST", "/.test/inline-driver/call", {{"x-rivet-target", "actor"}, {"x-rivet-actor", id}}, "\xa0")
              .status == 404);
    ws_client ws(srv.port, "/.test/inline-driver/connect-websocket/ws", inline_protocols(id, "connect"));
    CHECK(ws.handshake.status == 404);
    srv.expect_alive();
}

TEST_CASE("test mode: inline-driver/call reaches the manager", "[server][test_mode]") {
    served_registry srv(true);

    const auto created = inline_call(srv, "getOrCreateWithKey", {{"name", std::string("counter")}, {"key", key_of({"a", "b"})}});
    const auto out = member(created, "ok");
    REQUIRE(out.is_object());
    const std::string id = member(out, "actorId").as_string();
    CHECK(member(out, "name").as_string() == "counter");
    CHECK(member(out, "key") == rivetkit::value(key_of({"a", "b"})));
    // The same actor as the HTTP manager API gives.
    CHECK(srv.actor_id("counter", "a/b") == id);

    CHECK(member(member(inline_call(srv, "getWithKey", {{"name", std::string("counter")}, {"key", key_of({"a", "b"})}}), "ok"),
                 "actorId")
              .as_string() == id);
    CHECK(member(member(inline_call(srv, "getForId", {{"name", std::string("counter")}, {"actorId", id}}), "ok"), "actorId")
              .as_string() == id);

    // Not found: {ok: undefined}, the member present.
    const auto missing = inline_call(srv, "getWithKey", {{"name", std::string("counter")}, {"key", key_of({"nope"})}});
    REQUIRE(missing.is_object());
    REQUIRE(missing.as_object().contains("ok"));
    CHECK(member(missing, "ok").is_undefined());
    CHECK(member(inline_call(srv, "getForId", {{"name", std::string("counter")}, {"actorId", std::string("nope")}}), "ok")
              .is_undefined());

    // Input reaches the actor.
    const auto with_input = inline_call(
        srv, "createActor",
        {{"name", std::string("counter")}, {"key", key_of({"in"})}, {"input", rivetkit::object{{"x", std::int64_t{7}}}}});
    const std::string in_id = member(member(with_input, "ok"), "actorId").as_string();
    const auto r = srv.call(in_id, "getInput");
    CHECK(r.json()["output"] == nlohmann::json({{"x", 7}}));

    // Errors travel as {err: {group, code, message}}.
    const auto dup = inline_call(srv, "createActor", {{"name", std::string("counter")}, {"key", key_of({"in"})}});
    CHECK(member(member(dup, "err"), "group").as_string() == "actor");
    CHECK(member(member(dup, "err"), "code").as_string() == "duplicate_key");
    const auto unknown = inline_call(srv, "dropEverything", {{"name", std::string("counter")}});
    CHECK(member(member(unknown, "err"), "code").as_string() == "invalid");

    const auto listed = inline_call(srv, "listActors", {{"name", std::string("counter")}});
    CHECK(member(listed, "ok").as_array().size() == 2);

    // A body that is not CBOR is an error reply, not a crash.
    const auto bad = srv.fetch("POST", "/.test/inline-driver/call", {}, "not cbor");
    REQUIRE(bad.status == 200);
    const auto bad_reply =
        rivetkit::cbor::decode(std::span(reinterpret_cast<const std::uint8_t*>(bad.body.data()), bad.body.size()));
    CHECK(member(member(bad_reply, "err"), "group").as_string() == "message");
    srv.expect_alive();
}

TEST_CASE("test mode: inline-driver/send-request reaches the actor's router", "[server][test_mode]") {
    served_registry srv(true);
    const auto id = srv.actor_id("counter", "send");

    const auto action = srv.fetch("POST", "/.test/inline-driver/send-request/action/increment",
                                  {{"x-rivet-actor", id}, {"x-rivet-encoding", "json"}}, R"({"args":[4]})");
    CHECK(action.status == 200);
    CHECK(action.json()["output"] == 4);

    const auto raw = srv.fetch("PUT", "/.test/inline-driver/send-request/request/some/path?a=1",
                               {{"x-rivet-actor", id}, {"x-test", "yes"}}, "body");
    CHECK(raw.status == 201);
    const auto j = raw.json();
    CHECK(j["method"] == "PUT");
    CHECK(j["path"] == "/some/path");
    CHECK(j["query"] == "a=1");
    CHECK(j["xTest"] == "yes");
    CHECK(j["hasActor"] == false);  // the routing header does not reach the actor

    const auto missing = srv.fetch("POST", "/.test/inline-driver/send-request/action/increment", {}, R"({"args":[1]})");
    CHECK(missing.status == 400);
    CHECK(missing.body == "Missing required headers");
}

TEST_CASE("test mode: inline-driver/connect-websocket opens the socket test_path names", "[server][test_mode]") {
    served_registry srv(true);
    const auto id = srv.actor_id("counter", "ws");

    SECTION("the RivetKit protocol (/connect)") {
        ws_client ws(srv.port, "/.test/inline-driver/connect-websocket/ws", inline_protocols(id, "connect"));
        INFO(ws.problem.value_or("accepted"));
        REQUIRE(ws.opened());
        const auto init = next_message(ws, encoding::json);
        REQUIRE(std::holds_alternative<protocol::init_message>(init));
        CHECK(std::get<protocol::init_message>(init).actor_id == id);
        send_message(ws, encoding::json, action_msg(1, "increment", {std::int64_t{2}}));
        bool answered = false;
        for (int i = 0; i < 4 && !answered; ++i) {
            const auto m = next_message(ws, encoding::json);
            if (const auto* res = std::get_if<protocol::action_response>(&m)) {
                CHECK(res->output == rivetkit::value(std::int64_t{2}));
                answered = true;
            }
        }
        CHECK(answered);
    }

    SECTION("a raw WebSocket, with its query") {
        ws_client ws(srv.port, "/.test/inline-driver/connect-websocket/ws", inline_protocols(id, "websocket/room?x=1"));
        REQUIRE(ws.opened());
        CHECK(ws.next_message().data == "hello /websocket/room?x=1");
    }

    SECTION("no actor subprotocol") {
        ws_client ws(srv.port, "/.test/inline-driver/connect-websocket/ws", {"rivet", "test_path.connect"});
        REQUIRE(ws.handshake.status == 400);
    }
}

TEST_CASE("test mode: force-disconnect drops a connection without a close frame", "[server][test_mode]") {
    served_registry srv(true);
    const auto id = srv.actor_id("counter", "drop");
    ws_client ws(srv.port, "/gateway/" + id + "/connect", rivet_protocols(encoding::json));
    REQUIRE(ws.opened());
    const auto init = next_message(ws, encoding::json);
    const auto conn_id = std::get<protocol::init_message>(init).connection_id;

    const auto unknown = srv.fetch("POST", "/.test/force-disconnect?actor=" + id + "&conn=nope");
    CHECK(unknown.status == 404);
    CHECK(unknown.body == "Connection not found: nope");
    CHECK(srv.fetch("POST", "/.test/force-disconnect?actor=" + id).status == 400);

    const auto r = srv.fetch("POST", "/.test/force-disconnect?actor=" + id + "&conn=" + conn_id);
    CHECK(r.status == 200);
    CHECK(r.body == R"({"success":true})");
    // The stream ends with no close frame before it.
    CHECK(ws.tcp().closed_by_peer());
    ws.abandon();
    srv.expect_alive();
}

}  // namespace server_test
