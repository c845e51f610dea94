// CORS of a served registry (client-protocol.md §6).

#include "server/server_test_support.hpp"

namespace server_test {

TEST_CASE("cors: OPTIONS on any path is a 204 preflight", "[server][cors]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "cors");
    const std::vector<std::string> paths = {"/", "/actors", "/no/such/path", "/gateway/" + id + "/action/increment",
                                            "/gateway/" + id + "/request/x"};
    for (const auto& path : paths) {
        INFO(path);
        auto r = srv.fetch("OPTIONS", path,
                           {{"Origin", "https://app.example"},
                            {"Access-Control-Request-Method", "POST"},
                            {"Access-Control-Request-Headers", "x-rivet-encoding, content-type"}});
        CHECK(r.status == 204);
        CHECK(r.body.empty());
        CHECK(r.header("content-length") == nullptr);
        CHECK(r.header_or("access-control-allow-origin") == "https://app.example");
        CHECK(r.header_or("access-control-allow-credentials") == "true");
        CHECK(r.header_or("access-control-allow-methods") == "GET, POST, PUT, DELETE, OPTIONS, PATCH");
        CHECK(r.header_or("access-control-allow-headers") == "x-rivet-encoding, content-type");
        CHECK(r.header_or("access-control-max-age") == "86400");
        CHECK(r.header_or("vary") == "Origin");
    }
    // Preflights never reach on_request (which would answer 201) and do not wake the actor's
    // handler: the counter is untouched.
    CHECK(srv.call(id, "getCount").body == R"({"output":0})");

    SECTION("without Origin or requested headers: wildcards, no Vary") {
        auto r = srv.fetch("OPTIONS", "/actors");
        CHECK(r.status == 204);
        CHECK(r.header_or("access-control-allow-origin") == "*");
        CHECK(r.header_or("access-control-allow-credentials") == "true");
        CHECK(r.header_or("access-control-allow-headers") == "*");
        CHECK(r.header_or("access-control-max-age") == "86400");
        CHECK(r.header("vary") == nullptr);
    }
}

TEST_CASE("cors: preflights also expose all headers", "[server][cors]") {
    served_registry srv;
    auto r = srv.fetch("OPTIONS", "/actors", {{"Origin", "https://app.example"}});
    CHECK(r.status == 204);
    CHECK(r.header_or("access-control-expose-headers") == "*");
}

TEST_CASE("cors: ordinary responses carry the CORS headers", "[server][cors]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "cors-normal");

    auto check_cors = [](const response& r, std::string_view origin) {
        CHECK(r.header_or("access-control-allow-origin") == (origin.empty() ? "*" : origin));
        CHECK(r.header_or("access-control-allow-credentials") == "true");
        CHECK(r.header_or("access-control-expose-headers") == "*");
        if (origin.empty()) {
            CHECK(r.header("vary") == nullptr);
        } else {
            CHECK(r.header_or("vary") == "Origin");
        }
        CHECK(r.header("access-control-max-age") == nullptr);
        CHECK(r.header("access-control-allow-methods") == nullptr);
    };

    const http_headers with_origin{{"Origin", "http://localhost:5173"}};
    auto health = srv.fetch("GET", "/health", with_origin);
    CHECK(health.status == 200);
    check_cors(health, "http://localhost:5173");

    auto no_origin = srv.fetch("GET", "/health");
    check_cors(no_origin, "");

    auto action = srv.call(id, "increment", "[1]", with_origin);
    CHECK(action.status == 200);
    check_cors(action, "http://localhost:5173");

    auto error = srv.call(id, "throwUser", "[]", with_origin);
    CHECK(error.status == 400);
    check_cors(error, "http://localhost:5173");

    auto missing = srv.fetch("GET", "/nope", with_origin);
    CHECK(missing.status == 404);
    check_cors(missing, "http://localhost:5173");

    // A raw response keeps its own headers and gains the CORS ones (an actor's own
    // allow-origin would be replaced by the echo).
    auto raw = srv.fetch("GET", "/gateway/" + id + "/request/r", with_origin);
    CHECK(raw.status == 201);
    CHECK(raw.header_or("x-actor") == "counter");
    check_cors(raw, "http://localhost:5173");
}

}  // namespace server_test
