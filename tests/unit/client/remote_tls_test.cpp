// https:// endpoints: the remote client over TLS (OpenSSL), through a test TLS proxy in front of
// a served registry, with a certificate generated for the test.

#include "client_test_support.hpp"
#include "tls_proxy.hpp"

using namespace client_test;
using rivetkit::value;

TEST_CASE("remote client over TLS: a trusted certificate", "[client][remote][tls]") {
    const std::string enc = GENERATE("bare", "json");
    served_registry server;
    self_signed_cert cert;
    tls_proxy proxy(cert, server.port);

    // By IP address and by host name: the certificate names both.
    for (const std::string host : {"127.0.0.1", "localhost"}) {
        INFO("host " << host);
        auto o = options_for("https://" + host + ":" + std::to_string(proxy.port), enc);
        o.tls_ca_file = cert.cert_file.string();
        auto client = rivetkit::create_client(o);
        auto h = client.get_or_create("counter", {"tls-" + enc});
        const auto before = h.call("getCount").as_int();
        CHECK(h.call("increment", 1) == value(before + 1));

        // wss:// for connections, with events.
        auto conn = h.connect();
        recorder<std::int64_t> counts;
        conn.on("newCount", [&](const rivetkit::array& args) { counts.push(args.at(0).as_int()); });
        CHECK(conn.call("increment", 1) == value(before + 2));
        CHECK(counts.wait_for(1) == std::vector<std::int64_t>{before + 2});
        conn.dispose();

        // Raw HTTP and raw WebSocket over TLS.
        rivetkit::http_request req;
        req.path = "/tls";
        CHECK(nlohmann::json::parse(h.fetch(req).body)["path"] == "/tls");
        auto ws = h.websocket("x");
        recorder<std::string> messages;
        ws->on_message([&](const rivetkit::websocket_message& m) { messages.push(m.data); });
        ws->send("over tls");
        CHECK(messages.wait_for(2)[1] == "echo:over tls");
        ws->close();
    }

    // Keep-alive: sequential requests reuse one pooled connection (one TLS handshake).
    auto o = options_for("https://127.0.0.1:" + std::to_string(proxy.port), enc);
    o.tls_ca_file = cert.cert_file.string();
    auto client = rivetkit::create_client(o);
    auto h = client.get_or_create("counter", {"pool-" + enc});
    h.call("getCount");
    const int before = proxy.handshakes.load();
    for (int i = 0; i < 20; ++i) h.call("increment", 1);
    CHECK(proxy.handshakes.load() == before);
}

TEST_CASE("remote client over TLS: an untrusted certificate is refused", "[client][remote][tls]") {
    served_registry server;
    self_signed_cert cert;
    tls_proxy proxy(cert, server.port);
    const std::string endpoint = "https://127.0.0.1:" + std::to_string(proxy.port);

    // The system store does not know the test's certificate.
    auto client = rivetkit::create_client(options_for(endpoint));
    auto e = expect_error([&] { (void)client.get_or_create("counter", {"x"}).resolve(); }, "client", "connection_failed");
    CHECK(e.message.find("certificate verify failed") != std::string::npos);

    // The right CA but another name: the host check fails.
    self_signed_cert other;
    auto o = options_for("https://127.0.0.1:" + std::to_string(proxy.port));
    o.tls_ca_file = other.cert_file.string();
    auto c2 = rivetkit::create_client(o);
    expect_error([&] { (void)c2.get_or_create("counter", {"x"}).resolve(); }, "client", "connection_failed");

    // A missing CA file is reported as such.
    auto o3 = options_for(endpoint);
    o3.tls_ca_file = (cert.dir / "missing.pem").string();
    auto c3 = rivetkit::create_client(o3);
    expect_error([&] { (void)c3.get_or_create("counter", {"x"}).resolve(); }, "client", "tls_configuration");

    // Verification off (tests only): accepted.
    auto o4 = options_for(endpoint);
    o4.tls_verify_peer = false;
    auto c4 = rivetkit::create_client(o4);
    CHECK(c4.get_or_create("counter", {"x"}).call("increment", 1) == value(1));

    // A plain-HTTP client talking to the TLS port fails cleanly.
    auto c5 = rivetkit::create_client(options_for("http://127.0.0.1:" + std::to_string(proxy.port)));
    try {
        (void)c5.get_or_create("counter", {"x"}).resolve();
        FAIL("expected an error");
    } catch (const rivetkit::error& err) {
        CHECK(err.group() == "client");
    }
}
