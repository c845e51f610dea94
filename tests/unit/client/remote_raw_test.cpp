// Raw HTTP (fetch) and raw WebSockets through the remote client.

#include "client_test_support.hpp"

using namespace client_test;
using rivetkit::value;

TEST_CASE("remote client: fetch reaches on_request with path, query, body and headers", "[client][remote][raw]") {
    served_registry server;
    auto o = options_for(server.endpoint());
    o.headers.emplace_back("x-extra", "from-options");
    o.token = "tok";
    auto client = rivetkit::create_client(o);
    rivetkit::create_options co;
    co.params = rivetkit::object{{"token", "p"}};
    auto h = client.get_or_create("counter", {"fetch"}, co);

    rivetkit::http_request req;
    req.method = "POST";
    req.path = "/users/1";
    req.query = "x=1&y=2";
    req.body = "payload";
    req.headers.emplace_back("x-test", "yes");
    req.headers.emplace_back("Content-Length", "999");  // replaced by the real length
    const auto res = h.fetch(req);
    CHECK(res.status == 201);
    REQUIRE(res.header("x-actor") != nullptr);
    CHECK(*res.header("x-actor") == "counter");
    const auto j = nlohmann::json::parse(res.body);
    CHECK(j["method"] == "POST");
    CHECK(j["path"] == "/users/1");
    CHECK(j["query"] == "x=1&y=2");
    CHECK(j["body"] == "payload");
    CHECK(j["xTest"] == "yes");
    CHECK(j["xExtra"] == "from-options");
    CHECK(j["xRivetToken"] == "tok");
    CHECK(j["paramToken"] == "p");

    // GET with the default path; HEAD has no body.
    rivetkit::http_request get;
    const auto r2 = h.fetch(get);
    CHECK(r2.status == 201);
    CHECK(nlohmann::json::parse(r2.body)["path"] == "/");
    rivetkit::http_request head;
    head.method = "HEAD";
    const auto r3 = h.fetch(head);
    CHECK(r3.body.empty());

    // An actor without on_request answers with the server's error, as it is.
    const auto r4 = client.get_or_create("plain", {"p"}).fetch(get);
    CHECK(r4.status == 404);
    CHECK(r4.body.find("request_not_defined") != std::string::npos);

    // Many requests reuse pooled connections and still all succeed.
    for (int i = 0; i < 50; ++i) CHECK(h.fetch(get).status == 201);
}

TEST_CASE("remote client: raw websockets reach on_websocket", "[client][remote][raw]") {
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint()));
    rivetkit::create_options co;
    co.params = rivetkit::object{{"token", "wp"}};
    auto h = client.get_or_create("counter", {"ws"}, co);

    auto ws = h.websocket("/room/1?x=2");
    recorder<rivetkit::websocket_message> messages;
    recorder<std::pair<int, std::string>> closes;
    ws->on_message([&](const rivetkit::websocket_message& m) { messages.push(m); });
    ws->on_close([&](std::uint16_t code, const std::string& reason) { closes.push({code, reason}); });
    auto first = messages.wait_for(1);
    CHECK(first[0].data == "hello /websocket/room/1?x=2 token=wp");
    CHECK_FALSE(first[0].binary);

    ws->send("hi");
    const std::string bin("\x00\x01\xff", 3);
    ws->send_binary(std::span(reinterpret_cast<const std::uint8_t*>(bin.data()), bin.size()));
    auto got = messages.wait_for(3);
    CHECK(got[1].data == "echo:hi");
    CHECK(got[2].data == bin);
    CHECK(got[2].binary);

    // The actor closes it.
    ws->send("close");
    auto c = closes.wait_for(1);
    CHECK(c[0].first == 4000);
    CHECK(c[0].second == "asked");
    CHECK_FALSE(ws->is_open());

    // The client closes one; an empty path.
    auto ws2 = h.websocket();
    recorder<std::string> m2;
    recorder<int> c2;
    ws2->on_message([&](const rivetkit::websocket_message& m) { m2.push(m.data); });
    ws2->on_close([&](std::uint16_t code, const std::string&) { c2.push(code); });
    CHECK(m2.wait_for(1)[0].rfind("hello /websocket?", 0) == 0);
    ws2->close(1000, "bye");
    CHECK(c2.wait_for(1)[0] == 1000);

    // A socket may outlive its client: the io threads stay until it is released.
    std::shared_ptr<rivetkit::websocket> kept;
    {
        auto c3 = rivetkit::create_client(options_for(server.endpoint()));
        kept = c3.get_or_create("counter", {"ws"}).websocket();
    }
    recorder<std::string> m3;
    kept->on_message([&](const rivetkit::websocket_message& m) { m3.push(m.data); });
    kept->send("still");
    CHECK(m3.wait_for(2)[1] == "echo:still");
    kept->close();
    kept.reset();
}
