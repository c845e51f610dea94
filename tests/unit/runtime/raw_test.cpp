// Raw HTTP (on_request) and raw WebSockets (on_websocket) through the in-process client.

#include <catch2/catch.hpp>

#include <rivetkit/actor.hpp>
#include <rivetkit/testing.hpp>

namespace raw_test {

struct echo_state {
    std::int64_t messages = 0;
    std::int64_t requests = 0;
    std::string last_path;
};
RIVETKIT_FIELDS(echo_state, messages, requests, last_path)

inline const auto echo = rivetkit::actor<echo_state>()
    .on_request([](auto& c, const rivetkit::http_request& req) {
        c.state().requests += 1;
        c.state().last_path = req.path;
        if (req.path == "/missing") return rivetkit::http_response::text("Not Found", 404);
        std::string body = req.method + " " + req.path + "?" + req.query + " " + req.body;
        return rivetkit::http_response::text(body);
    })
    .on_websocket([](auto& c, std::shared_ptr<rivetkit::websocket> ws) {
        c.state().last_path = c.request()->path + "?" + c.request()->query;
        ws->send("welcome");
        // The context is a cheap handle: capture it by value for later callbacks.
        ws->on_message([c, ws](const rivetkit::websocket_message& m) mutable {
            c.state().messages += 1;
            if (m.data == "close") {
                ws->close(4000, "asked to");
                return;
            }
            ws->send((m.binary ? "bin:" : "echo:") + m.data);
        });
    })
    .action<"stats">([](auto& c) { return std::as_const(c).state(); });

// Sends and closes at once: the client sees both even though it registers its handlers later.
inline const auto hasty = rivetkit::actor<echo_state>().on_websocket([](auto&, std::shared_ptr<rivetkit::websocket> ws) {
    ws->send("first");
    ws->send("second");
    ws->close(4001, "done");
});

inline const auto no_handlers = rivetkit::actor<echo_state>().action<"noop">([](auto&) {});

// Answers only /ok; any other path gets no response (std::nullopt).
inline const auto optional_response =
    rivetkit::actor<echo_state>().on_request([](auto&, const rivetkit::http_request& req) -> std::optional<rivetkit::http_response> {
        if (req.path == "/ok") return rivetkit::http_response::text("fine");
        return std::nullopt;
    });

}  // namespace raw_test

TEST_CASE("on_request receives method, path, query and body, state changes persist", "[runtime][raw]") {
    rivetkit::testing::test_registry t({{"echo", raw_test::echo}});
    auto h = t.client().get_or_create(raw_test::echo, "echo", {"a"});
    rivetkit::http_request req;
    req.method = "POST";
    req.path = "/hello/world";
    req.query = "x=1";
    req.body = "payload";
    auto res = h.fetch(req);
    CHECK(res.status == 200);
    CHECK(res.body == "POST /hello/world?x=1 payload");
    REQUIRE(res.header("Content-Type") != nullptr);
    req.path = "/missing";
    CHECK(h.fetch(req).status == 404);
    auto s = h.call<"stats">();
    CHECK(s.requests == 2);
    CHECK(s.last_path == "/missing");
}

TEST_CASE("a raw request to an actor without on_request is handler/request_not_defined", "[runtime][raw]") {
    rivetkit::testing::test_registry t({{"plain", raw_test::no_handlers}});
    auto h = t.client().get_or_create("plain", {"a"});
    try {
        (void)h.fetch(rivetkit::http_request{});
        FAIL("fetch should have thrown");
    } catch (const rivetkit::error& e) {
        CHECK(e.group() == "handler");
        CHECK(e.code() == "request_not_defined");
        CHECK(e.http_status() == 404);
    }
}

TEST_CASE("on_request answering std::nullopt is handler/invalid_request_handler_response (500)", "[runtime][raw]") {
    rivetkit::testing::test_registry t({{"opt", raw_test::optional_response}});
    auto h = t.client().get_or_create("opt", {"a"});
    rivetkit::http_request req;
    req.path = "/ok";
    CHECK(h.fetch(req).body == "fine");
    req.path = "/other";
    try {
        (void)h.fetch(req);
        FAIL("fetch should have thrown");
    } catch (const rivetkit::error& e) {
        CHECK(e.group() == "handler");
        CHECK(e.code() == "invalid_request_handler_response");
        CHECK(e.message() == "Actor's onRequest handler must return a Response");
        CHECK(e.http_status() == 500);
    }
}

TEST_CASE("raw websocket: messages both ways, binary frames, state, close from the actor", "[runtime][raw]") {
    rivetkit::testing::test_registry t({{"echo", raw_test::echo}});
    auto h = t.client().get_or_create(raw_test::echo, "echo", {"ws"});
    auto ws = h.websocket("room/1?token=abc");
    std::vector<std::string> received;
    std::optional<std::pair<std::uint16_t, std::string>> closed;
    ws->on_message([&](const rivetkit::websocket_message& m) { received.push_back(m.data); });
    ws->on_close([&](std::uint16_t code, const std::string& reason) { closed.emplace(code, reason); });
    t.settle();
    REQUIRE(received == std::vector<std::string>{"welcome"});

    ws->send("hi");
    const std::uint8_t raw[] = {1, 2, 3};
    ws->send_binary(raw);
    t.settle();
    REQUIRE(received.size() == 3);
    CHECK(received[1] == "echo:hi");
    CHECK(received[2] == std::string("bin:\x01\x02\x03", 7));

    // The open socket keeps the actor awake.
    t.advance(std::chrono::minutes(2));
    CHECK(t.awake_count() == 1);

    ws->send("close");
    t.settle();
    REQUIRE(closed.has_value());
    CHECK(closed->first == 4000);
    CHECK(closed->second == "asked to");
    CHECK_FALSE(ws->is_open());

    auto s = h.call<"stats">();
    CHECK(s.messages == 3);
    CHECK(s.last_path == "/websocket/room/1?token=abc");

    // Closed: the connection is gone, so the actor sleeps once idle.
    t.advance(std::chrono::seconds(31));
    CHECK(t.awake_count() == 0);
}

TEST_CASE("raw websocket: a client close disconnects, sleep closes open sockets", "[runtime][raw]") {
    rivetkit::testing::test_registry t({{"echo", raw_test::echo}});
    auto h = t.client().get_or_create(raw_test::echo, "echo", {"ws2"});
    auto ws = h.websocket();
    std::optional<std::uint16_t> code;
    ws->on_close([&](std::uint16_t c, const std::string&) { code = c; });
    ws->close(1000, "bye");
    t.settle();
    CHECK(code == 1000);
    t.advance(std::chrono::seconds(31));
    CHECK(t.awake_count() == 0);
}

TEST_CASE("raw websocket without on_websocket fails with handler/websocket_not_defined", "[runtime][raw]") {
    rivetkit::testing::test_registry t({{"plain", raw_test::no_handlers}});
    auto h = t.client().get_or_create("plain", {"a"});
    try {
        (void)h.websocket();
        FAIL("websocket should have thrown");
    } catch (const rivetkit::error& e) {
        CHECK(e.group() == "handler");
        CHECK(e.code() == "websocket_not_defined");
    }
}

TEST_CASE("raw websocket: messages and a close that arrive before handlers are set are not lost", "[runtime][raw]") {
    rivetkit::testing::test_registry t({{"hasty", raw_test::hasty}});
    auto ws = t.client().get_or_create("hasty", {"a"}).websocket();
    t.settle();  // everything the actor sent has arrived by now
    std::vector<std::string> received;
    std::optional<std::uint16_t> code;
    ws->on_message([&](const rivetkit::websocket_message& m) { received.push_back(m.data); });
    ws->on_close([&](std::uint16_t c, const std::string&) { code = c; });
    t.settle();
    CHECK(received == std::vector<std::string>{"first", "second"});
    CHECK(code == 4001);
}
