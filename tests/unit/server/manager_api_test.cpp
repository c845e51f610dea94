// The manager API of a served registry (client-protocol.md §1.1-1.2): /, /health, /metadata,
// /actors/names, PUT/POST/GET/DELETE /actors, and 404s.

#include "server/server_test_support.hpp"

namespace server_test {
namespace {

nlohmann::json actor_body(std::string_view name, std::optional<std::string_view> key,
                          std::optional<std::string_view> input = std::nullopt) {
    nlohmann::json b = {{"name", name}, {"runner_name_selector", "default"}, {"crash_policy", "sleep"}};
    if (key) b["key"] = *key;
    if (input) b["input"] = *input;
    return b;
}

const http_headers json_type{{"Content-Type", "application/json"}};

std::vector<std::string> ids_of(const nlohmann::json& list_body) {
    std::vector<std::string> ids;
    for (const auto& a : list_body.at("actors")) ids.push_back(a.at("actor_id").get<std::string>());
    return ids;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("manager: GET /, /health and /metadata", "[server][manager]") {
    served_registry srv;

    auto root = srv.fetch("GET", "/");
    CHECK(root.status == 200);
    CHECK(root.header_or("content-type").rfind("text/plain", 0) == 0);
    CHECK(root.body == "This is a RivetKit server.\n\nLearn more at https://rivetkit.org");

    auto health = srv.fetch("GET", "/health");
    CHECK(health.status == 200);
    CHECK(health.header_or("content-type") == "application/json");
    CHECK(health.body == R"({"status":"ok","runtime":"rivetkit","version":"2.0.33"})");

    auto meta = srv.fetch("GET", "/metadata?namespace=default");
    CHECK(meta.status == 200);
    CHECK(meta.header_or("content-type") == "application/json");
    const auto m = meta.json();
    CHECK(m["runtime"] == "rivetkit");
    CHECK(m["version"] == "2.0.33");
    CHECK(m["runner"] == nlohmann::json::parse(R"({"kind":{"normal":{}}})"));
    CHECK(m["actorNames"] == nlohmann::json::parse(R"({"counter":{"metadata":{}},"plain":{"metadata":{}}})"));
    CHECK_FALSE(m.contains("clientEndpoint"));

    // Without the (ignored) namespace too, and with a trailing slash (Hono strict: false).
    CHECK(srv.fetch("GET", "/metadata").json() == m);
    CHECK(srv.fetch("GET", "/metadata/").status == 200);
}

TEST_CASE("manager: GET /actors/names requires a namespace", "[server][manager]") {
    served_registry srv;

    auto missing = srv.fetch("GET", "/actors/names");
    CHECK(missing.status == 400);
    const auto z = missing.json();
    CHECK(z["success"] == false);
    CHECK(z["error"]["name"] == "ZodError");
    CHECK(z["error"]["message"].is_string());
    CHECK(z["error"]["message"].get<std::string>().find("namespace") != std::string::npos);

    auto ok = srv.fetch("GET", "/actors/names?namespace=default");
    CHECK(ok.status == 200);
    CHECK(ok.json() == nlohmann::json::parse(R"({"names":{"counter":{"metadata":{}},"plain":{"metadata":{}}}})"));
}

TEST_CASE("manager: PUT /actors gets or creates, and the input reaches the actor", "[server][manager]") {
    served_registry srv;
    // base64 of the CBOR b9 0001 65 "hello" 01, i.e. {hello: 1} (reference §2.3).
    const auto body = actor_body("counter", "with-input", "uQABZWhlbGxvAQ==").dump();

    auto first = srv.fetch("PUT", "/actors", json_type, body);
    REQUIRE(first.status == 200);
    CHECK(first.header_or("content-type") == "application/json");
    const auto f = nlohmann::ordered_json::parse(first.body);
    CHECK(f["created"] == true);
    const auto& actor = f["actor"];
    std::vector<std::string> keys;
    for (const auto& [k, v] : actor.items()) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"actor_id", "name", "key", "namespace_id", "runner_name_selector",
                                           "create_ts", "connectable_ts", "destroy_ts", "sleep_ts", "start_ts"});
    const auto id = actor["actor_id"].get<std::string>();
    CHECK(id.size() == 16);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(actor["name"] == "counter");
    CHECK(actor["key"] == "with-input");
    CHECK(actor["namespace_id"] == "default");
    CHECK(actor["runner_name_selector"] == "default");
    CHECK(actor["create_ts"].is_number());
    CHECK(actor["destroy_ts"].is_null());

    auto second = srv.fetch("PUT", "/actors", json_type, body);
    REQUIRE(second.status == 200);
    const auto s = second.json();
    CHECK(s["created"] == false);
    CHECK(s["actor"]["actor_id"] == id);

    auto input = srv.call(id, "getInput");
    CHECK(input.status == 200);
    CHECK(input.body == R"({"output":{"hello":1}})");

    SECTION("a multi-part key is the deserialised key, returned serialised") {
        auto ab = srv.fetch("PUT", "/actors", json_type, actor_body("counter", "a/b").dump());
        REQUIRE(ab.status == 200);
        CHECK(ab.json()["actor"]["key"] == "a/b");
    }
    SECTION("a missing required field is a zod error") {
        nlohmann::json no_key = {{"name", "counter"}, {"runner_name_selector", "default"}, {"crash_policy", "sleep"}};
        auto r = srv.fetch("PUT", "/actors", json_type, no_key.dump());
        CHECK(r.status == 400);
        CHECK(r.json()["error"]["name"] == "ZodError");
    }
    SECTION("a body that is not JSON is a clear 400") {
        auto r = srv.fetch("PUT", "/actors", json_type, "{not json");
        check_json_error(r, 400, "request", "invalid");
    }
}

TEST_CASE("manager: POST /actors creates, and a duplicate key is refused", "[server][manager]") {
    served_registry srv;
    auto created = srv.fetch("POST", "/actors", json_type, actor_body("counter", "dup").dump());
    REQUIRE(created.status == 200);
    const auto c = created.json();
    CHECK_FALSE(c.contains("created"));
    CHECK(c["actor"]["name"] == "counter");
    CHECK(c["actor"]["key"] == "dup");

    auto again = srv.fetch("POST", "/actors", json_type, actor_body("counter", "dup").dump());
    check_json_error(again, 400, "actor", "duplicate_key");

    // Without a key: a random one.
    auto r1 = srv.fetch("POST", "/actors", json_type, actor_body("counter", std::nullopt).dump());
    auto r2 = srv.fetch("POST", "/actors", json_type, actor_body("counter", std::nullopt).dump());
    REQUIRE(r1.status == 200);
    REQUIRE(r2.status == 200);
    CHECK(r1.json()["actor"]["key"].get<std::string>().size() >= 32);
    CHECK(r1.json()["actor"]["actor_id"] != r2.json()["actor"]["actor_id"]);

    // The created actor answers.
    const auto id = c["actor"]["actor_id"].get<std::string>();
    CHECK(srv.call(id, "getCount").body == R"({"output":0})");
}

TEST_CASE("manager: GET /actors by name, by name and key, by ids, and its validation", "[server][manager]") {
    served_registry srv;
    const auto ab = srv.actor_id("counter", "a/b");
    const auto solo = srv.actor_id("counter", "solo");
    const auto other = srv.actor_id("plain", "p");

    SECTION("by name") {
        auto r = srv.fetch("GET", "/actors?name=counter&namespace=default");
        REQUIRE(r.status == 200);
        const auto ids = ids_of(r.json());
        CHECK(ids.size() == 2);
        CHECK(contains(ids, ab));
        CHECK(contains(ids, solo));
    }
    SECTION("by name and key: the key string a/b means [\"a\",\"b\"]") {
        auto r = srv.fetch("GET", "/actors?name=counter&key=a%2Fb&namespace=default");
        REQUIRE(r.status == 200);
        const auto j = r.json();
        REQUIRE(j["actors"].size() == 1);
        CHECK(j["actors"][0]["actor_id"] == ab);
        CHECK(j["actors"][0]["key"] == "a/b");
        // ["a/b"] (escaped slash) is another key: nothing.
        auto escaped = srv.fetch("GET", "/actors?name=counter&key=a%5C%2Fb");
        REQUIRE(escaped.status == 200);
        CHECK(escaped.json()["actors"].empty());
        // Another name with the same key: nothing.
        auto wrong = srv.fetch("GET", "/actors?name=plain&key=a%2Fb");
        CHECK(wrong.json()["actors"].empty());
    }
    SECTION("by actor_ids: comma list, trimmed, empties dropped, unknown ones skipped") {
        auto r = srv.fetch("GET", "/actors?actor_ids=" + ab + "%2C%20%2C" + other + ",ffffffffffffffff");
        REQUIRE(r.status == 200);
        const auto j = r.json();
        const auto ids = ids_of(j);
        CHECK(ids.size() == 2);
        CHECK(contains(ids, ab));
        CHECK(contains(ids, other));
        for (const auto& a : j["actors"]) {
            CHECK(a["key"].is_string());
            CHECK_FALSE(a["key"].get<std::string>().empty());  // the 2.0.33 client requires it
        }
        // A name filters the ids.
        auto filtered = srv.fetch("GET", "/actors?name=plain&actor_ids=" + ab + "," + other);
        CHECK(ids_of(filtered.json()) == std::vector<std::string>{other});
    }
    SECTION("the four validation errors") {
        auto both = srv.fetch("GET", "/actors?actor_ids=" + ab + "&name=counter&key=a%2Fb");
        CHECK(both.status == 400);
        CHECK(both.body ==
              R"({"error":"Cannot provide both actor_ids and (name + key). Use either actor_ids or (name + key)."})");

        auto key_only = srv.fetch("GET", "/actors?key=solo");
        CHECK(key_only.status == 400);
        CHECK(key_only.body == R"({"error":"Name is required when key is provided."})");

        std::string many;
        for (int i = 0; i < 33; ++i) many += (i ? "," : "") + fmt::format("{:016x}", i);
        auto too_many = srv.fetch("GET", "/actors?actor_ids=" + many);
        CHECK(too_many.status == 400);
        CHECK(too_many.body == R"({"error":"Too many actor IDs. Maximum is 32, got 33."})");

        auto nothing = srv.fetch("GET", "/actors?namespace=default");
        CHECK(nothing.status == 400);
        CHECK(nothing.body == R"({"error":"Name is required when not using actor_ids."})");
    }
}

TEST_CASE("manager: DELETE /actors/{id} destroys, and recreating gives fresh state", "[server][manager]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "doomed");
    REQUIRE(srv.call(id, "increment", "[5]").body == R"({"output":5})");

    auto del = srv.fetch("DELETE", "/actors/" + id);
    CHECK(del.status == 200);
    CHECK(del.body == "{}");

    auto listed = srv.fetch("GET", "/actors?actor_ids=" + id);
    REQUIRE(listed.status == 200);
    CHECK(listed.json()["actors"].empty());
    CHECK(srv.fetch("GET", "/actors?name=counter&key=doomed").json()["actors"].empty());
    check_json_error(srv.call(id, "getCount"), 400, "actor", "not_found");

    const auto body = actor_body("counter", "doomed").dump();
    auto again = srv.fetch("PUT", "/actors", json_type, body);
    REQUIRE(again.status == 200);
    CHECK(again.json()["created"] == true);
    const auto new_id = again.json()["actor"]["actor_id"].get<std::string>();
    CHECK(new_id == id);  // ids are deterministic
    CHECK(srv.call(new_id, "getCount").body == R"({"output":0})");
}

TEST_CASE("manager: unknown paths answer 404 Not Found (RivetKit)", "[server][manager]") {
    served_registry srv;
    const auto id = srv.actor_id("counter", "paths");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"GET", "/nope"},
        {"GET", "/actors/" + id + "/more"},
        {"POST", "/health"},
        {"PATCH", "/actors"},
        {"DELETE", "/actors/"},
        {"GET", "/gateway/"},
        {"GET", "/gateway/" + id + "/nope"},
        {"GET", "/gateway/" + id + "/action/getCount"},  // actions are POST only
        {"POST", "/gateway/" + id + "/action/"},
    };
    for (const auto& [method, target] : cases) {
        INFO(method << " " << target);
        auto r = srv.fetch(method, target);
        CHECK(r.status == 404);
        CHECK(r.header_or("content-type").rfind("text/plain", 0) == 0);
        CHECK(r.body == "Not Found (RivetKit)");
    }
    // The actor's own root and health (through the gateway) are served.
    auto actor_root = srv.fetch("GET", "/gateway/" + id + "/");
    CHECK(actor_root.status == 200);
    CHECK(actor_root.body == "This is an RivetKit actor.\n\nLearn more at https://rivetkit.org");
    auto actor_health = srv.fetch("GET", "/gateway/" + id + "/health");
    CHECK(actor_health.status == 200);
    CHECK(actor_health.body == "ok");
}

}  // namespace server_test
