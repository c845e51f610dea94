// The remote client against a served registry: resolving actors through the manager API and
// calling actions through the gateway, in all three encodings.

#include "client_test_support.hpp"

using namespace client_test;
using rivetkit::value;

namespace {

const char* encoding_name() { return GENERATE("bare", "cbor", "json"); }

}  // namespace

TEST_CASE("remote client: get_or_create, call, get, get_for_id and create", "[client][remote]") {
    const std::string enc = encoding_name();
    INFO("encoding " << enc);
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint(), enc));

    auto h = client.get_or_create("counter", {"k-" + enc});
    CHECK(h.call("increment", 5) == value(5));
    CHECK(h.call("increment", 2) == value(7));
    const std::string id = h.resolve();
    CHECK(id.size() == 16);

    // get: the same actor by key.
    CHECK(client.get("counter", {"k-" + enc}).call("getCount") == value(7));
    CHECK(client.get("counter", {"k-" + enc}).resolve() == id);
    // get_for_id: the same actor by id.
    CHECK(client.get_for_id("counter", id).call("getCount") == value(7));

    // create: a new actor; the handle then addresses it by id.
    auto created = client.create("counter", {"created-" + enc});
    CHECK(created.query().how == rivetkit::detail::actor_query::kind::get_for_id);
    CHECK(created.call("increment", 1) == value(1));
    CHECK(client.get("counter", {"created-" + enc}).resolve() == created.query().actor_id);

    // Values round-trip in every encoding.
    rivetkit::object o{{"s", "ü/ñ"}, {"n", 1.5}, {"i", std::int64_t{-3}}, {"b", true}, {"z", nullptr},
                       {"a", rivetkit::array{value(1), value("x")}}};
    CHECK(h.call("echo", value(o)) == value(o));
    CHECK(h.call("echoArgs", 1, "two") == value(rivetkit::array{value(1), value("two")}));
    // An argument list built at run time.
    CHECK(h.action("echoArgs", rivetkit::array{value(1), value("two")}) ==
          value(rivetkit::array{value(1), value("two")}));
    CHECK(h.action("getCount", {}) == value(7));
    // A void action.
    CHECK(h.call("noop").is_nullish());
}

TEST_CASE("remote client: keys, input and params reach the actor", "[client][remote]") {
    const std::string enc = encoding_name();
    INFO("encoding " << enc);
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint(), enc));

    // Keys with the characters that need escaping, and the empty key.
    for (const rivetkit::actor_key& key :
         {rivetkit::actor_key{"a/b", "c\\d"}, rivetkit::actor_key{}, rivetkit::actor_key{""}, rivetkit::actor_key{"ü"}}) {
        auto h = client.get_or_create("counter", key);
        CHECK(h.call("increment", 1) == value(1));
        CHECK(client.get("counter", key).call("getCount") == value(1));
    }

    rivetkit::create_options co;
    co.input = rivetkit::object{{"hello", 1}};
    co.params = rivetkit::object{{"token", "t/ü"}};
    auto h = client.get_or_create("counter", {"input-" + enc}, co);
    CHECK(h.call("getInput") == value(rivetkit::object{{"hello", 1}}));
    CHECK(h.call("getParams") == value(rivetkit::object{{"token", "t/ü"}}));

    rivetkit::create_options co2;
    co2.input = std::int64_t{0};  // a falsy input is still sent (the reference drops it)
    CHECK(client.create("counter", {"zero-" + enc}, co2).call("getInput") == value(0));
}

TEST_CASE("remote client: typed calls", "[client][remote]") {
    const std::string enc = encoding_name();
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint(), enc));
    auto h = client.get_or_create(counter_actor, "counter", {"typed-" + enc});
    std::int64_t n = h.call<"increment">(4);
    CHECK(n == 4);
    CHECK(h.call<"getCount">() == 4);
    // The untyped form on the same handle.
    CHECK(h.call("getCount") == value(4));
    auto array = h.call<"echoArgs">(value("x"), "y");
    CHECK(array == rivetkit::array{value("x"), value("y")});
    h.call<"noop">();
}

TEST_CASE("remote client: errors keep group, code, message and metadata", "[client][remote]") {
    const std::string enc = encoding_name();
    INFO("encoding " << enc);
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint(), enc));
    auto h = client.get_or_create("counter", {"errors"});

    auto user = expect_error([&] { h.call("throwUser"); }, "user", "my_code");
    CHECK(user.message == "bad thing");
    CHECK(user.metadata == value(rivetkit::object{{"a", 1}}));

    auto internal = expect_error([&] { h.call("throwInternal"); }, "internal", "internal_error");
    CHECK(internal.message.find("secret") == std::string::npos);

    expect_error([&] { h.call("noSuchAction"); }, "action", "not_found");
    expect_error([&] { h.call("increment", "not a number"); }, "action", "invalid_request");

    auto missing = expect_error([&] { client.get("counter", {"missing"}).call("getCount"); }, "actor", "not_found");
    CHECK(missing.message.find("missing") != std::string::npos);
    expect_error([&] { (void)client.get_for_id("counter", "0000000000000000").resolve(); }, "actor", "not_found");
    // An id of another actor type is not found under this name.
    const std::string plain_id = client.get_or_create("plain", {"p"}).resolve();
    expect_error([&] { client.get_for_id("counter", plain_id).call("getCount"); }, "actor", "not_found");
    expect_error([&] { (void)client.create("counter", {"errors"}); }, "actor", "duplicate_key");
    // An unknown actor name. (The reference's PUT /actors creates an actor under any name, and
    // its process crashes on the first request to it: nothing for a client to check there.)
    if (!against_reference()) {
        expect_error([&] { (void)client.get_or_create("nonexistent", {"x"}).resolve(); }, "actor", "not_found");
    }
}

TEST_CASE("remote client: network failures are client errors", "[client][remote]") {
    std::uint16_t port = 0;
    {
        served_registry server;  // a port that was just free and is closed again
        port = server.port;
    }
    auto o = options_for("http://127.0.0.1:" + std::to_string(port));
    auto client = rivetkit::create_client(o);
    expect_error([&] { client.get_or_create("counter", {"x"}).call("getCount"); }, "client", "connection_failed");

    // A server that is not RivetKit at all: the metadata lookup fails with the status.
    rivetkit::registry reg = make_registry();
    reg.start();
    rivetkit::http_server plain(
        reg.executor(), [](rivetkit::http_request) -> rivetkit::task<rivetkit::http_response> {
            co_return rivetkit::http_response::text("nope", 503);
        });
    const auto p = plain.listen();
    auto c2 = rivetkit::create_client(options_for("http://127.0.0.1:" + std::to_string(p)));
    auto e = expect_error([&] { (void)c2.get("counter", {"x"}).resolve(); }, "client", "http_error");
    CHECK(e.metadata == value(rivetkit::object{{"status", 503}}));
    plain.close();
    reg.stop();

    expect_error([] { (void)rivetkit::create_client("ftp://example.com"); }, "client", "invalid_endpoint");
    expect_error([] { (void)rivetkit::create_client("http://"); }, "client", "invalid_endpoint");
    expect_error([] { (void)rivetkit::create_client("http://host:99999"); }, "client", "invalid_endpoint");
}
