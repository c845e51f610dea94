// WebSockets of a served registry (client-protocol.md §1.3, §4.3, §5): /connect in each
// encoding, and raw /websocket/*.

#include "server/server_test_support.hpp"

namespace server_test {
namespace {

using protocol::encoding;

std::string connect_path(std::string_view id) { return "/gateway/" + std::string(id) + "/connect"; }

const protocol::init_message& as_init(const protocol::to_client& m) {
    const auto* init = std::get_if<protocol::init_message>(&m);
    INFO("message index " << m.index());
    REQUIRE(init != nullptr);
    return *init;
}

/// Reads messages until the response (or error) for `id`; the others are returned in `others`.
protocol::to_client reply_for(ws_client& ws, encoding enc, std::uint64_t id,
                              std::vector<protocol::to_client>* others = nullptr) {
    for (;;) {
        auto m = next_message(ws, enc);
        if (const auto* r = std::get_if<protocol::action_response>(&m); r && r->id == id) return m;
        if (const auto* e = std::get_if<protocol::error_message>(&m); e && e->action_id == id) return m;
        if (others) others->push_back(std::move(m));
    }
}

rivetkit::value output_for(ws_client& ws, encoding enc, std::uint64_t id) {
    auto m = reply_for(ws, enc, id);
    const auto* r = std::get_if<protocol::action_response>(&m);
    if (!r) {
        const auto& e = std::get<protocol::error_message>(m);
        FAIL("action " << id << " failed: " << e.group << "/" << e.code << " " << e.message);
    }
    return r->output;
}

std::string enc_name(encoding e) { return std::string(protocol::to_string(e)); }

}  // namespace

TEST_CASE("websocket: /connect in each encoding", "[server][websocket]") {
    const auto enc = GENERATE(encoding::json, encoding::cbor, encoding::bare);
    INFO("encoding " << enc_name(enc));
    served_registry srv;
    const auto id = srv.actor_id("counter", "ws-" + enc_name(enc));

    SECTION("Init first, even when an action is sent with the handshake") {
        // The handshake and an ActionRequest in one write.
        const std::string early = client_frame(enc, action_msg(0, "increment", {std::int64_t{1}}));
        ws_client ws(srv.port, connect_path(id), rivet_protocols(enc), early);
        INFO(ws.problem.value_or("accepted"));
        REQUIRE(ws.opened());
        CHECK(ws.handshake.header_or("sec-websocket-protocol") == "rivet");

        const auto first = next_message(ws, enc);
        const auto& init = as_init(first);
        CHECK(init.actor_id == id);
        CHECK_FALSE(init.connection_id.empty());
        CHECK(output_for(ws, enc, 0) == rivetkit::value(1));

        // A second connection gets another connection id.
        ws_client ws2(srv.port, connect_path(id), rivet_protocols(enc));
        REQUIRE(ws2.opened());
        CHECK(as_init(next_message(ws2, enc)).connection_id != init.connection_id);
    }
    SECTION("responses matched by (bigint) id; errors carry the action id") {
        ws_client ws(srv.port, connect_path(id), rivet_protocols(enc));
        REQUIRE(ws.opened());
        as_init(next_message(ws, enc));

        const std::uint64_t big = std::uint64_t{1} << 40;
        send_message(ws, enc, action_msg(big, "increment", {std::int64_t{5}}));
        send_message(ws, enc, action_msg(big + 1, "throwUser"));
        send_message(ws, enc, action_msg(big + 2, "echo", {rivetkit::value("x")}));
        send_message(ws, enc, action_msg(big + 3, "throwInternal"));
        send_message(ws, enc, action_msg(big + 4, "nope"));

        std::map<std::uint64_t, protocol::to_client> replies;
        while (replies.size() < 5) {
            auto m = next_message(ws, enc);
            if (const auto* r = std::get_if<protocol::action_response>(&m)) {
                replies.emplace(r->id, m);
            } else if (const auto* e = std::get_if<protocol::error_message>(&m)) {
                REQUIRE(e->action_id.has_value());
                replies.emplace(*e->action_id, m);
            } else {
                FAIL("unexpected message " << m.index());
            }
        }
        CHECK(std::get<protocol::action_response>(replies[big]).output == rivetkit::value(5));
        const auto& user = std::get<protocol::error_message>(replies[big + 1]);
        CHECK(user.group == "user");
        CHECK(user.code == "my_code");
        CHECK(user.message == "bad");
        CHECK(user.metadata == rivetkit::value(rivetkit::object{{"a", std::int64_t{1}}}));
        CHECK(std::get<protocol::action_response>(replies[big + 2]).output == rivetkit::value("x"));
        const auto& internal = std::get<protocol::error_message>(replies[big + 3]);
        CHECK(internal.group == "internal");
        CHECK(internal.code == "internal_error");
        CHECK(internal.message.find("secret") == std::string::npos);
        const auto& missing = std::get<protocol::error_message>(replies[big + 4]);
        CHECK(missing.group == "action");
        CHECK(missing.code == "not_found");

        // The connection survives action errors.
        send_message(ws, enc, action_msg(1, "getCount"));
        CHECK(output_for(ws, enc, 1) == rivetkit::value(5));
    }
}

TEST_CASE("websocket: events follow subscriptions", "[server][websocket]") {
    const auto enc = GENERATE(encoding::json, encoding::cbor, encoding::bare);
    INFO("encoding " << enc_name(enc));
    served_registry srv;
    const auto id = srv.actor_id("counter", "events-" + enc_name(enc));
    ws_client ws(srv.port, connect_path(id), rivet_protocols(enc));
    REQUIRE(ws.opened());
    as_init(next_message(ws, enc));

    // Subscribed: the increment's broadcast arrives; so does conn.send's event, which needs no
    // subscription.
    send_message(ws, enc, subscribe_msg("newCount", true));
    send_message(ws, enc, action_msg(0, "increment", {std::int64_t{2}}));
    send_message(ws, enc, action_msg(1, "sendToMe", {rivetkit::value("marker")}));
    std::vector<std::string> events;
    std::vector<rivetkit::array> new_count_args;
    std::set<std::uint64_t> replies;
    auto seen = [&](const char* name) { return std::find(events.begin(), events.end(), name) != events.end(); };
    while (replies.size() < 2 || !seen("marker") || !seen("newCount")) {
        auto m = next_message(ws, enc);
        if (const auto* ev = std::get_if<protocol::event_message>(&m)) {
            events.push_back(ev->name);
            if (ev->name == "newCount") new_count_args.push_back(ev->args);
        } else if (const auto* r = std::get_if<protocol::action_response>(&m)) {
            replies.insert(r->id);
        } else {
            FAIL("unexpected message " << m.index());
        }
    }
    CHECK(events.size() == 2);
    REQUIRE(new_count_args.size() == 1);
    CHECK(new_count_args[0] == rivetkit::array{std::int64_t{2}});

    // Unsubscribed: the increment to 5 sends nothing. Broadcasts leave in commit order, so after
    // subscribing again the first newCount must be the one for 6.
    send_message(ws, enc, subscribe_msg("newCount", false));
    send_message(ws, enc, action_msg(2, "increment", {std::int64_t{3}}));
    std::vector<protocol::to_client> before_reply;
    const auto reply2 = reply_for(ws, enc, 2, &before_reply);
    CHECK(before_reply.empty());
    REQUIRE(std::holds_alternative<protocol::action_response>(reply2));
    CHECK(std::get<protocol::action_response>(reply2).output == rivetkit::value(5));
    send_message(ws, enc, subscribe_msg("newCount", true));
    send_message(ws, enc, action_msg(3, "increment", {std::int64_t{1}}));
    for (;;) {
        auto m = next_message(ws, enc);
        if (const auto* ev = std::get_if<protocol::event_message>(&m)) {
            CHECK(ev->name == "newCount");
            CHECK(ev->args == rivetkit::array{std::int64_t{6}});
            break;
        }
    }
    // Subscribing twice is harmless (one event per broadcast).
    send_message(ws, enc, subscribe_msg("newCount", true));
    send_message(ws, enc, action_msg(4, "increment", {std::int64_t{1}}));
    send_message(ws, enc, action_msg(5, "increment", {std::int64_t{1}}));
    std::vector<std::int64_t> counts;
    replies.clear();
    while (counts.size() < 2 || replies.size() < 2) {
        auto m = next_message(ws, enc);
        if (const auto* ev = std::get_if<protocol::event_message>(&m)) {
            counts.push_back(ev->args.at(0).as_int());
        } else if (const auto* r = std::get_if<protocol::action_response>(&m)) {
            if (r->id >= 4) replies.insert(r->id);
        }
    }
    CHECK(counts == std::vector<std::int64_t>{7, 8});

    // Another connection subscribed sees the first one's increments.
    ws_client watcher(srv.port, connect_path(id), rivet_protocols(enc));
    REQUIRE(watcher.opened());
    as_init(next_message(watcher, enc));
    send_message(watcher, enc, subscribe_msg("newCount", true));
    send_message(watcher, enc, action_msg(0, "getCount"));  // once answered, the subscription is in place
    CHECK(output_for(watcher, enc, 0) == rivetkit::value(8));
    send_message(ws, enc, action_msg(6, "increment", {std::int64_t{1}}));
    for (;;) {
        auto m = next_message(watcher, enc);
        if (const auto* ev = std::get_if<protocol::event_message>(&m)) {
            CHECK(ev->name == "newCount");
            CHECK(ev->args == rivetkit::array{std::int64_t{9}});
            break;
        }
    }
}

TEST_CASE("websocket: events of one connection keep the actor's order", "[server][websocket]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "event-order");
    for (int round = 0; round < 10; ++round) {
        INFO("round " << round);
        ws_client ws(srv.port, connect_path(id), rivet_protocols(encoding::json));
        REQUIRE(ws.opened());
        as_init(next_message(ws, encoding::json));
        std::string burst = client_frame(encoding::json, subscribe_msg("newCount", true));
        burst += client_frame(encoding::json, action_msg(0, "increment", {std::int64_t{1}}));
        burst += client_frame(encoding::json, action_msg(1, "sendToMe", {rivetkit::value("marker")}));
        ws.send_raw(burst);
        std::vector<std::string> events;
        int replies = 0;
        while (events.size() < 2 || replies < 2) {
            auto m = next_message(ws, encoding::json);
            if (const auto* ev = std::get_if<protocol::event_message>(&m)) events.push_back(ev->name);
            if (std::holds_alternative<protocol::action_response>(m)) ++replies;
        }
        CHECK(events == std::vector<std::string>{"newCount", "marker"});
    }
}

TEST_CASE("websocket: params, rejection and unknown actors", "[server][websocket]") {
    const auto enc = GENERATE(encoding::json, encoding::cbor, encoding::bare);
    INFO("encoding " << enc_name(enc));
    served_registry srv;
    const auto id = srv.actor_id("counter", "ws-params");

    SECTION("params as percent-encoded UTF-8 JSON in the subprotocol") {
        // {"token":"t/ü"}, as encodeURIComponent writes it (the reference's capture).
        ws_client ws(srv.port, connect_path(id), rivet_protocols(enc, "%7B%22token%22%3A%22t%2F%C3%BC%22%7D"));
        REQUIRE(ws.opened());
        as_init(next_message(ws, enc));
        send_message(ws, enc, action_msg(0, "getParams"));
        CHECK(output_for(ws, enc, 0) == rivetkit::value(rivetkit::object{{"token", "t/\xC3\xBC"}}));
    }
    SECTION("on_before_connect rejects: close 1011 with the code") {
        ws_client ws(srv.port, connect_path(id), rivet_protocols(enc, "%7B%22reject%22%3Atrue%7D"));
        REQUIRE(ws.opened());
        const auto close = ws.expect_close();
        CHECK(close.code == 1011);
        CHECK(close.reason == "forbidden");
    }
    SECTION("unknown actor: close 1011 not_found") {
        ws_client ws(srv.port, connect_path("0000000000000000"), rivet_protocols(enc));
        REQUIRE(ws.opened());
        const auto close = ws.expect_close();
        CHECK(close.code == 1011);
        CHECK(close.reason == "not_found");
    }
    SECTION("invalid params JSON: close 1011 invalid") {
        ws_client ws(srv.port, connect_path(id), rivet_protocols(enc, "%7Bnope"));
        REQUIRE(ws.opened());
        const auto close = ws.expect_close();
        CHECK(close.code == 1011);
        CHECK(close.reason == "invalid");
    }
    srv.expect_alive();
}

TEST_CASE("websocket: subprotocol selection and routing forms", "[server][websocket]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "ws-forms");

    SECTION("without rivet offered no subprotocol is selected; encoding defaults to json") {
        ws_client ws(srv.port, connect_path(id), {});
        INFO(ws.problem.value_or("accepted"));
        REQUIRE(ws.opened());
        CHECK(ws.handshake.header("sec-websocket-protocol") == nullptr);
        const auto first = ws.next_message();
        CHECK_FALSE(first.binary);
        as_init(protocol::decode_to_client(encoding::json, first.data));
    }
    SECTION("an unknown encoding closes with 1011") {
        ws_client ws(srv.port, connect_path(id), {"rivet", "rivet_encoding.xml"});
        REQUIRE(ws.opened());
        const auto close = ws.expect_close();
        CHECK(close.code == 1011);
        CHECK(close.reason == "invalid");
    }
    SECTION("@token and a trailing slash") {
        ws_client ws(srv.port, "/gateway/" + id + "@tok/connect/", rivet_protocols(encoding::cbor));
        REQUIRE(ws.opened());
        CHECK(as_init(next_message(ws, encoding::cbor)).actor_id == id);
    }
    SECTION("header routing with rivet_target.actor and rivet_actor.{id}") {
        ws_client ws(srv.port, "/connect", {"rivet", "rivet_target.actor", "rivet_actor." + id, "rivet_encoding.bare"});
        REQUIRE(ws.opened());
        CHECK(ws.handshake.header_or("sec-websocket-protocol") == "rivet");
        CHECK(as_init(next_message(ws, encoding::bare)).actor_id == id);

        ws_client no_target(srv.port, "/connect", {"rivet", "rivet_actor." + id});
        CHECK_FALSE(no_target.opened());
        CHECK(no_target.handshake.status == 400);

        ws_client no_actor(srv.port, "/connect", {"rivet", "rivet_target.actor"});
        CHECK_FALSE(no_actor.opened());
        check_json_error(no_actor.handshake, 400, "request", "missing_actor_header");
    }
    SECTION("query form") {
        ws_client ws(srv.port, "/gateway/counter/connect?rvt-namespace=default&rvt-method=getOrCreate&rvt-key=ws-forms",
                     rivet_protocols(encoding::json));
        REQUIRE(ws.opened());
        CHECK(as_init(next_message(ws, encoding::json)).actor_id == id);
    }
    SECTION("an unknown actor path answers 404") {
        ws_client ws(srv.port, "/gateway/" + id + "/elsewhere", rivet_protocols(encoding::json));
        CHECK_FALSE(ws.opened());
        CHECK(ws.handshake.status == 404);
        CHECK(ws.handshake.body == "Not Found (RivetKit)");
    }
    srv.expect_alive();
}

TEST_CASE("websocket: raw /websocket/* to on_websocket", "[server][websocket]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "raw-ws");

    ws_client ws(srv.port, "/gateway/" + id + "/websocket/room/1?q=1", {"rivet", "rivet_encoding.bare"});
    INFO(ws.problem.value_or("accepted"));
    REQUIRE(ws.opened());
    CHECK(ws.handshake.header_or("sec-websocket-protocol") == "rivet");
    auto hello = ws.next_message();
    CHECK_FALSE(hello.binary);
    CHECK(hello.data == "hello /websocket/room/1?q=1");

    ws.send_text("hi");
    auto text = ws.next_message();
    CHECK_FALSE(text.binary);
    CHECK(text.data == "echo:hi");

    const std::string blob("\x00\x01\xff\x7f", 4);
    ws.send_binary(blob);
    auto bin = ws.next_message();
    CHECK(bin.binary);
    CHECK(bin.data == blob);

    // Fragmented text arrives whole.
    ws.send_frame(net::ws_opcode::text, "frag", false);
    ws.send_frame(net::ws_opcode::continuation, "ment", true);
    CHECK(ws.next_message().data == "echo:fragment");

    // A ping is answered with a pong carrying the same payload.
    ws.send_frame(net::ws_opcode::ping, "p1");
    auto pong = ws.next();
    CHECK(pong.what == ws_event::kind::pong);
    CHECK(pong.data == "p1");

    // Client close: the server echoes the code.
    ws.send_close(1000, "bye");
    auto close = ws.next();
    CHECK(close.what == ws_event::kind::close);
    CHECK(close.code == 1000);
    CHECK(ws.tcp().closed_by_peer());

    SECTION("/websocket without a path") {
        ws_client root(srv.port, "/gateway/" + id + "/websocket", {});
        REQUIRE(root.opened());
        CHECK(root.next_message().data.rfind("hello /websocket", 0) == 0);
    }
    SECTION("an actor without on_websocket closes with 1011") {
        const auto plain = srv.actor_id("plain", "no-ws");
        ws_client none(srv.port, "/gateway/" + plain + "/websocket/x", {});
        REQUIRE(none.opened());
        const auto c = none.expect_close();
        CHECK(c.code == 1011);
        CHECK(c.reason == "websocket_not_defined");
    }
    srv.expect_alive();
}

TEST_CASE("websocket: stopping the registry with a WebSocket open closes its socket", "[server][shutdown]") {
    const std::size_t before = open_descriptors();
    std::optional<ws_client> ws;
    {
        served_registry srv;
        const auto id = srv.actor_id("counter", "shutdown");
        ws.emplace(srv.port, connect_path(id), rivet_protocols(encoding::json));
        REQUIRE(ws->opened());
        as_init(next_message(*ws, encoding::json));
        ws->abandon();
    }
    // The registry is stopped and destroyed; once our client end is closed too, every
    // descriptor of the test is gone (the leaked server-side socket stays open).
    ws.reset();
    CHECK(open_descriptors() == before);
}

}  // namespace server_test
