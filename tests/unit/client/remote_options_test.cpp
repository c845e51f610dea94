// Options of the remote client: environment defaults, the /metadata clientEndpoint redirect,
// base paths, headers and tokens, and use from a user's own io_context.

#include "client_test_support.hpp"
#include "thread_names.hpp"

#include "client/remote_transport.hpp"

using namespace client_test;
using rivetkit::value;

namespace {

/// A front server that records what it receives and answers /metadata with `client_endpoint`
/// (everything else: 502), so a client that ignored the redirect fails.
class metadata_front {
public:
    explicit metadata_front(std::string client_endpoint) : registry_(make_registry()) {
        registry_.start();
        auto seen = seen_;
        server_ = std::make_unique<rivetkit::http_server>(
            registry_.executor(),
            [client_endpoint, seen](rivetkit::http_request req) -> rivetkit::task<rivetkit::http_response> {
                seen->push(req.method + " " + req.path + "?" + req.query);
                if (req.path == "/metadata") {
                    nlohmann::json body = {{"runtime", "rivetkit"}, {"version", "2.0.33"}};
                    if (!client_endpoint.empty()) body["clientEndpoint"] = client_endpoint;
                    co_return rivetkit::http_response::json(body.dump());
                }
                co_return rivetkit::http_response::text("wrong server", 502);
            });
        port = server_->listen();
    }
    ~metadata_front() {
        server_->close();
        registry_.stop();
    }

    std::uint16_t port = 0;
    std::shared_ptr<recorder<std::string>> seen_ = std::make_shared<recorder<std::string>>();

private:
    rivetkit::registry registry_;
    std::unique_ptr<rivetkit::http_server> server_;
};

}  // namespace

TEST_CASE("remote client: options come from the environment when unset", "[client][remote][options]") {
    scoped_env engine("RIVET_ENGINE", "http://engine.example:1234/base/");
    scoped_env endpoint("RIVET_ENDPOINT", "http://endpoint.example:1");
    scoped_env token("RIVET_TOKEN", "env-token");
    scoped_env ns("RIVET_NAMESPACE", "env-ns");
    scoped_env runner("RIVET_RUNNER", "env-runner");
    auto o = rivetkit::detail::resolve_client_options({});
    CHECK(o.endpoint == "http://engine.example:1234/base/");
    CHECK(o.token == "env-token");
    CHECK(o.namespace_name == "env-ns");
    CHECK(o.runner_name == "env-runner");
    CHECK(o.encoding == rivetkit::client_encoding::bare);
    {
        scoped_env no_engine("RIVET_ENGINE", std::nullopt);
        CHECK(rivetkit::detail::resolve_client_options({}).endpoint == "http://endpoint.example:1");
        scoped_env no_endpoint("RIVET_ENDPOINT", std::nullopt);
        CHECK(rivetkit::detail::resolve_client_options({}).endpoint == "http://127.0.0.1:6420");
    }
    // Explicit options win.
    rivetkit::client_options explicit_options;
    explicit_options.endpoint = "http://x:2";
    explicit_options.namespace_name = "mine";
    auto o2 = rivetkit::detail::resolve_client_options(explicit_options);
    CHECK(o2.endpoint == "http://x:2");
    CHECK(o2.namespace_name == "mine");
    CHECK(o2.runner_name == "env-runner");
    {
        scoped_env no_ns("RIVET_NAMESPACE", std::nullopt);
        scoped_env no_runner("RIVET_RUNNER", std::nullopt);
        auto d = rivetkit::detail::resolve_client_options({});
        CHECK(d.namespace_name == "default");
        CHECK(d.runner_name == "default");
    }

    // create_client() with nothing given talks to RIVET_ENDPOINT.
    served_registry server;
    scoped_env no_engine("RIVET_ENGINE", std::nullopt);
    scoped_env to_server("RIVET_ENDPOINT", server.endpoint());
    auto client = rivetkit::create_client();
    CHECK(client.get_or_create("counter", {"env"}).call("increment", 1) == value(1));
}

TEST_CASE("remote client: GET /metadata and its clientEndpoint redirect", "[client][remote][options]") {
    served_registry server;
    metadata_front front(server.endpoint());
    auto client = rivetkit::create_client(options_for("http://127.0.0.1:" + std::to_string(front.port), "cbor"));
    auto h = client.get_or_create("counter", {"redirect"});
    CHECK(h.call("increment", 2) == value(2));
    auto conn = h.connect();
    CHECK(conn.call("increment", 1) == value(3));
    conn.dispose();
    // The front server saw exactly the metadata lookup (with the namespace), once.
    CHECK(front.seen_->items() == std::vector<std::string>{"GET /metadata?namespace=default"});
    auto* remote = dynamic_cast<rivetkit::detail::remote_transport*>(client.transport().get());
    REQUIRE(remote != nullptr);
    CHECK(remote->endpoint() == server.endpoint());

    // Without clientEndpoint the endpoint stays (and the front answers 502 to the rest).
    metadata_front plain_front("");
    auto c2 = rivetkit::create_client(options_for("http://127.0.0.1:" + std::to_string(plain_front.port)));
    auto e = expect_error([&] { (void)c2.get("counter", {"redirect"}).resolve(); }, "client", "http_error");
    CHECK(e.message.find("502") != std::string::npos);

    // disable_metadata_lookup: no lookup at all.
    auto o = options_for(server.endpoint());
    o.disable_metadata_lookup = true;
    metadata_front unused(server.endpoint());
    auto c3 = rivetkit::create_client(o);
    CHECK(c3.get("counter", {"redirect"}).call("getCount") == value(3));
    CHECK(unused.seen_->size() == 0);

    // An invalid clientEndpoint is a clear error.
    metadata_front broken("not a url");
    auto c4 = rivetkit::create_client(options_for("http://127.0.0.1:" + std::to_string(broken.port)));
    expect_error([&] { (void)c4.get("counter", {"redirect"}).resolve(); }, "client", "malformed_response");
}

TEST_CASE("remote client: an endpoint with a base path", "[client][remote][options]") {
    const char* enc = GENERATE("bare", "json");
    served_registry server("/api/rivet");
    auto client = rivetkit::create_client(options_for(server.endpoint() + "/api/rivet/", enc));
    auto h = client.get_or_create("counter", {"base"});
    CHECK(h.call("increment", 1) == value(1));
    auto conn = h.connect();
    CHECK(conn.call("increment", 1) == value(2));
    conn.dispose();
    rivetkit::http_request req;
    req.path = "/x";
    CHECK(nlohmann::json::parse(h.fetch(req).body)["path"] == "/x");
}

TEST_CASE("remote client: async calls from the user's own io_context", "[client][remote][options]") {
    served_registry server;
    auto client = rivetkit::create_client(options_for(server.endpoint(), "json"));
    auto h = client.get_or_create(counter_actor, "counter", {"async"});
    asio::io_context io;
    std::vector<std::int64_t> out;
    std::thread::id resumed_on;
    asio::co_spawn(
        io,
        [](decltype(h) handle, std::vector<std::int64_t>& results, std::thread::id& where) -> rivetkit::task<void> {
            auto a = handle.async_call<"increment">(2);
            results.push_back(co_await std::move(a));
            where = std::this_thread::get_id();
            auto b = handle.async_call("getCount");
            auto v = co_await std::move(b);
            results.push_back(v.as_int());
        }(h, out, resumed_on),
        asio::detached);
    io.run();
    CHECK(out == std::vector<std::int64_t>{2, 2});
    CHECK(resumed_on == std::this_thread::get_id());  // resumed on the user's io_context
}

TEST_CASE("remote client: several io threads and concurrent callers", "[client][remote][options]") {
    const char* enc = GENERATE("bare", "json");
    served_registry server;
    auto o = options_for(server.endpoint(), enc);
    o.io_threads = 3;
    auto client = rivetkit::create_client(o);
    auto h = client.get_or_create(counter_actor, "counter", {std::string("threads-") + enc});
    auto conn = h.connect();
    recorder<std::int64_t> events;
    conn.on("newCount", [&](const rivetkit::array& args) { events.push(args.at(0).as_int()); });
    conn.wait_connected();
    conn.call("getCount");  // the subscription is through
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
        callers.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                if ((i + t) % 2 == 0) {
                    h.call<"increment">(1);
                } else {
                    conn.call("increment", 1);
                }
            }
        });
    }
    for (auto& c : callers) c.join();
    CHECK(h.call<"getCount">() == 100);
    auto seen = events.wait_for(100);
    std::sort(seen.begin(), seen.end());
    for (std::int64_t i = 0; i < 100; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i + 1);
    conn.dispose();
}

TEST_CASE("remote client: its io threads are named rivetkit-cli-N", "[client][remote][options]") {
    served_registry server;
    auto o = options_for(server.endpoint(), "bare");
    o.io_threads = 2;
    auto client = rivetkit::create_client(o);
    auto conn = client.get_or_create(counter_actor, "counter", {"thread-names"}).connect();
    // Event listeners run on the client's io threads.
    recorder<std::string> ran_on;
    conn.on("newCount", [&](const rivetkit::array&) { ran_on.push(test_support::this_thread_name()); });
    conn.wait_connected();
    conn.call("increment", 1);
    const auto names = ran_on.wait_for(1);
    REQUIRE(names.size() == 1);
    CHECK((names[0] == "rivetkit-cli-0" || names[0] == "rivetkit-cli-1"));
    conn.dispose();
}
