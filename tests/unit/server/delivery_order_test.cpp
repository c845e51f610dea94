// Delivery order across connections: the events and messages an action sends to other
// connections are handed to their sockets before the action's reply is handed to its own
// (the official suite's "should send messages to specific connections" relies on it). The
// served registry runs 2 io threads, so the two sockets' strands really run in parallel.

#include "server/server_test_support.hpp"

namespace server_test {
namespace {

using protocol::encoding;

std::string connect_path(std::string_view id) { return "/gateway/" + std::string(id) + "/connect"; }

/// Reads messages until the reply to `id`, which must not be an error.
rivetkit::value output_for(ws_client& ws, encoding enc, std::uint64_t id) {
    for (;;) {
        auto m = next_message(ws, enc);
        if (const auto* r = std::get_if<protocol::action_response>(&m); r && r->id == id) return r->output;
        if (const auto* e = std::get_if<protocol::error_message>(&m); e && e->action_id == id) {
            FAIL("action " << id << " failed: " << e->group << "/" << e->code << " " << e->message);
        }
    }
}

struct peer {
    std::unique_ptr<ws_client> ws;
    std::string conn_id;
};

peer open_peer(served_registry& srv, const std::string& actor, encoding enc) {
    peer p;
    p.ws = std::make_unique<ws_client>(srv.port, connect_path(actor), rivet_protocols(enc));
    REQUIRE(p.ws->opened());
    auto m = next_message(*p.ws, enc);
    const auto* init = std::get_if<protocol::init_message>(&m);
    REQUIRE(init != nullptr);
    p.conn_id = init->connection_id;
    return p;
}

/// The next message of `ws` must be the event `name`; returns its arguments.
rivetkit::array expect_event(ws_client& ws, encoding enc, std::string_view name) {
    auto m = next_message(ws, enc);
    const auto* ev = std::get_if<protocol::event_message>(&m);
    INFO("message index " << m.index());
    REQUIRE(ev != nullptr);
    CHECK(ev->name == name);
    return ev->args;
}

constexpr int iterations = 300;

}  // namespace

TEST_CASE("delivery order: conn.send to another connection arrives before the caller's reply",
          "[server][websocket][order]") {
    served_registry srv;
    const auto enc = GENERATE(encoding::json, encoding::bare);
    const auto id = srv.actor_id("counter", "order-send-" + std::string(protocol::to_string(enc)));
    auto a = open_peer(srv, id, enc);
    auto b = open_peer(srv, id, enc);

    int late = 0;
    for (int i = 0; i < iterations; ++i) {
        const std::string text = "m" + std::to_string(i);
        send_message(*a.ws, enc, action_msg(static_cast<std::uint64_t>(i), "sendTo", {b.conn_id, text}));
        REQUIRE(output_for(*a.ws, enc, static_cast<std::uint64_t>(i)) == rivetkit::value(true));
        if (!b.ws->tcp().readable_now()) ++late;
        CHECK(expect_event(*b.ws, enc, "direct") == rivetkit::array{text});
    }
    INFO(late << " of " << iterations << " messages reached B after A's reply");
    CHECK(late == 0);
}

TEST_CASE("delivery order: a broadcast reaches other connections before the caller's reply",
          "[server][websocket][order]") {
    served_registry srv;
    const auto enc = GENERATE(encoding::json, encoding::bare);
    const auto id = srv.actor_id("counter", "order-broadcast-" + std::string(protocol::to_string(enc)));
    auto a = open_peer(srv, id, enc);
    auto b = open_peer(srv, id, enc);
    auto c = open_peer(srv, id, enc);
    for (auto* p : {&b, &c}) {
        send_message(*p->ws, enc, subscribe_msg("newCount", true));
        send_message(*p->ws, enc, action_msg(0, "getCount"));  // once answered, the subscription is in place
        CHECK(output_for(*p->ws, enc, 0) == rivetkit::value(0));
    }

    int late = 0;
    for (int i = 1; i <= iterations; ++i) {
        send_message(*a.ws, enc, action_msg(static_cast<std::uint64_t>(i), "increment", {std::int64_t{1}}));
        REQUIRE(output_for(*a.ws, enc, static_cast<std::uint64_t>(i)) == rivetkit::value(std::int64_t{i}));
        for (auto* p : {&b, &c}) {
            if (!p->ws->tcp().readable_now()) ++late;
            CHECK(expect_event(*p->ws, enc, "newCount") == rivetkit::array{std::int64_t{i}});
        }
    }
    INFO(late << " of " << 2 * iterations << " events reached B or C after A's reply");
    CHECK(late == 0);
}

}  // namespace server_test
