#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "http_test_support.hpp"
#include "rivetkit/log.hpp"

using namespace http_test;
using rivetkit::net::http_server_options;

namespace {

http_server_options short_timeouts() {
    http_server_options o;
    o.header_timeout = 200ms;
    o.body_timeout = 200ms;
    o.idle_timeout = 200ms;
    return o;
}

// A gate a handler awaits until the test opens it (from any thread). Opening runs on the
// handler's executor, so it takes effect only once the handler is suspended at the gate, and
// after anything posted to that executor before (the server's close notice, for instance).
class gate {
public:
    explicit gate(asio::io_context& io) : timer_(io, asio::steady_timer::time_point::max()) {}
    task<void> wait() {
        executor_ = co_await asio::this_coro::executor;
        arrived_.set_value();
        while (!open_) {
            co_await timer_.async_wait(use_result);
        }
    }
    void open() {
        asio::post(executor_, [this] {
            open_ = true;
            timer_.cancel();
        });
    }
    void await_arrival() { REQUIRE(arrived_.get_future().wait_for(guard) == std::future_status::ready); }

private:
    static constexpr auto use_result = asio::experimental::as_tuple(asio::use_awaitable);
    asio::steady_timer timer_;
    asio::any_io_executor executor_;
    bool open_ = false;
    std::promise<void> arrived_;
};

}  // namespace

TEST_CASE("http_server: GET and POST", "[net][http_server]") {
    server_fixture f;
    client c(f.port);
    auto r = c.roundtrip(get("/hello?x=1"));
    CHECK(r.status == 200);
    CHECK(r.body == "GET /hello?x=1");
    REQUIRE(r.header("content-length") != nullptr);
    CHECK(*r.header("content-length") == "14");
    CHECK(*r.header("content-type") == "text/plain; charset=utf-8");
    CHECK(r.header("date") != nullptr);
    CHECK(r.header("connection") == nullptr);

    r = c.roundtrip("POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\npayload");
    CHECK(r.status == 200);
    CHECK(r.body == "POST /items payload");
}

TEST_CASE("http_server: the request reaches the handler as received", "[net][http_server]") {
    server_fixture f;
    std::promise<http_request> seen;
    f.handler->on_request = [&seen](const http_request& r) {
        seen.set_value(r);
        reply out;
        out.response.status = 201;
        out.response.headers = {{"X-Custom", "yes"}, {"Content-Length", "999"}, {"Bad", "a\r\nInjected: 1"}};
        out.response.body = "made";
        return out;
    };
    client c(f.port);
    auto r = c.roundtrip("PUT /a%2Fb/c?q=%20&r HTTP/1.1\r\nHost: t\r\nX-Mixed-Case: Value\r\n\r\n");
    CHECK(r.status == 201);
    CHECK(r.body == "made");
    CHECK(*r.header("content-length") == "4");  // computed, the handler's value dropped
    CHECK(*r.header("x-custom") == "yes");
    CHECK(r.header("injected") == nullptr);
    CHECK(r.header("bad") == nullptr);
    auto req = seen.get_future().get();
    CHECK(req.method == "PUT");
    CHECK(req.path == "/a%2Fb/c");
    CHECK(req.query == "q=%20&r");
    REQUIRE(req.header("x-mixed-case") != nullptr);
    CHECK(req.headers[1].first == "X-Mixed-Case");
}

TEST_CASE("http_server: keep-alive serves several requests on one connection", "[net][http_server]") {
    server_fixture f;
    client c(f.port);
    for (int i = 0; i < 5; ++i) {
        const auto r = c.roundtrip(get("/n/" + std::to_string(i)));
        CHECK(r.status == 200);
        CHECK(r.body == "GET /n/" + std::to_string(i));
    }
    CHECK(f.server->connection_count() == 1);
}

TEST_CASE("http_server: HTTP/1.0 keep-alive rules", "[net][http_server]") {
    server_fixture f;
    SECTION("without keep-alive the server closes") {
        client c(f.port);
        const auto r = c.roundtrip("GET /old HTTP/1.0\r\n\r\n");
        CHECK(*r.header("connection") == "close");
        CHECK(c.closed_by_peer());
    }
    SECTION("with keep-alive the connection stays") {
        client c(f.port);
        auto r = c.roundtrip("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(*r.header("connection") == "keep-alive");
        r = c.roundtrip("GET /again HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(r.body == "GET /again");
    }
    SECTION("Connection: close on HTTP/1.1") {
        client c(f.port);
        const auto r = c.roundtrip(get("/bye", "Connection: close\r\n"));
        CHECK(*r.header("connection") == "close");
        CHECK(c.closed_by_peer());
    }
}

TEST_CASE("http_server: pipelined requests are answered one at a time, in order", "[net][http_server]") {
    server_fixture f;
    std::atomic<int> running{0};
    std::atomic<int> overlap{0};
    f.handler->on_request_async = [&](http_request r) -> task<reply> {
        if (++running > 1) ++overlap;
        if (r.path == "/slow") {
            // Without ordering, the fast request behind it would be answered first.
            asio::steady_timer t(f.io, 20ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        --running;
        co_return test_handler::echo(r);
    };
    client c(f.port);
    c.send(get("/slow") + "POST /second HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" + get("/third"));
    CHECK(c.read_response().body == "GET /slow");
    CHECK(c.read_response().body == "POST /second abc");
    CHECK(c.read_response().body == "GET /third");
    CHECK(overlap == 0);
}

TEST_CASE("http_server: chunked request bodies", "[net][http_server]") {
    server_fixture f;
    client c(f.port);
    c.send("POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    c.send("6\r\n world\r\n0\r\n\r\n");
    const auto r = c.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "POST /up hello world");
    CHECK(c.roundtrip(get("/after")).body == "GET /after");
}

TEST_CASE("http_server: Expect: 100-continue", "[net][http_server]") {
    http_server_options o;
    o.max_body_bytes = 100;
    server_fixture f(o);
    SECTION("an acceptable body is asked for") {
        client c(f.port);
        c.send("POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
        CHECK(c.read_until("\r\n\r\n") == "HTTP/1.1 100 Continue\r\n\r\n");
        c.send("data");
        const auto r = c.read_response();
        CHECK(r.status == 200);
        CHECK(r.body == "POST /e data");
    }
    SECTION("a body over the limit is refused before it is sent") {
        client c(f.port);
        const auto r = c.roundtrip("POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n");
        CHECK(r.status == 413);
        CHECK(*r.header("connection") == "close");
        CHECK(c.closed_by_peer());
    }
    SECTION("other expectations fail with 417") {
        client c(f.port);
        const auto r = c.roundtrip("POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: something\r\n\r\n");
        CHECK(r.status == 417);
        CHECK(c.closed_by_peer());
    }
}

TEST_CASE("http_server: limits", "[net][http_server]") {
    http_server_options o;
    o.max_header_bytes = 1024;
    o.max_body_bytes = 64;
    server_fixture f(o);
    SECTION("oversize head: 431") {
        client c(f.port);
        const auto r = c.roundtrip(get("/", "X-Big: " + std::string(2000, 'x') + "\r\n"));
        CHECK(r.status == 431);
        CHECK(*r.header("connection") == "close");
        CHECK(c.closed_by_peer());
    }
    SECTION("declared body over the limit: 413") {
        client c(f.port);
        const auto r = c.roundtrip("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 65\r\n\r\n");
        CHECK(r.status == 413);
        CHECK(c.closed_by_peer());
    }
    SECTION("chunked body growing over the limit: 413") {
        client c(f.port);
        c.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
        c.send("28\r\n" + std::string(40, 'a') + "\r\n");
        c.send("28\r\n" + std::string(40, 'b') + "\r\n");
        const auto r = c.read_response();
        CHECK(r.status == 413);
        CHECK(c.closed_by_peer());
    }
    SECTION("a body of exactly the limit passes") {
        client c(f.port);
        const auto r = c.roundtrip("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 64\r\n\r\n" + std::string(64, 'z'));
        CHECK(r.status == 200);
    }
}

TEST_CASE("http_server: a malformed request gets 400 and the connection closes", "[net][http_server]") {
    server_fixture f;
    client c(f.port);
    const auto r = c.roundtrip("NOT HTTP AT ALL\r\n\r\n");
    CHECK(r.status == 400);
    CHECK(*r.header("connection") == "close");
    CHECK(*r.header("content-type") == "text/plain; charset=utf-8");
    CHECK(c.closed_by_peer());
}

TEST_CASE("http_server: timeouts", "[net][http_server]") {
    server_fixture f(short_timeouts());
    SECTION("a head that does not complete in time: 408, then close") {
        client c(f.port);
        const auto start = std::chrono::steady_clock::now();
        c.send("GET /slow HTTP/1.1\r\nHost:");
        const auto r = c.read_response();
        CHECK(r.status == 408);
        CHECK(c.closed_by_peer());
        CHECK(std::chrono::steady_clock::now() - start >= 150ms);
    }
    SECTION("a head trickling in still has to complete in time") {
        client c(f.port);
        const auto start = std::chrono::steady_clock::now();
        c.send("GET / HTTP/1.1\r\n");
        // Keep sending header lines faster than the timeout until the server gives up.
        bool got_408 = false;
        for (int i = 0; i < 100 && !got_408; ++i) {
            try {
                c.send("X-A: b\r\n");
            } catch (const std::exception&) {
                break;  // the server closed
            }
            ::usleep(20000);  // pacing the trickle, not synchronisation
            char probe;
            got_408 = ::recv(c.fd(), &probe, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
        }
        CHECK(got_408);
        CHECK(std::chrono::steady_clock::now() - start < 1s);
    }
    SECTION("a silent new connection is closed") {
        client c(f.port);
        CHECK(c.closed_by_peer());
    }
    SECTION("an idle keep-alive connection is closed") {
        client c(f.port);
        CHECK(c.roundtrip(get("/")).status == 200);
        const auto start = std::chrono::steady_clock::now();
        CHECK(c.closed_by_peer());
        CHECK(std::chrono::steady_clock::now() - start >= 150ms);
    }
    SECTION("a body that does not arrive in time") {
        client c(f.port);
        c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
        const auto r = c.read_response();
        CHECK(r.status == 408);
        CHECK(c.closed_by_peer());
    }
}

TEST_CASE("http_server: HEAD and bodiless statuses", "[net][http_server]") {
    server_fixture f;
    f.handler->on_request = [](const http_request& r) {
        reply out;
        if (r.path == "/empty") {
            out.response.status = 204;
            out.response.body = "ignored";
        } else if (r.path == "/declared") {
            out.response.headers = {{"Content-Length", "1234"}};
        } else {
            out.response = http_response::text("twelve bytes");
        }
        return out;
    };
    client c(f.port);
    auto r = c.roundtrip("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n", true);
    CHECK(r.status == 200);
    CHECK(*r.header("content-length") == "12");
    r = c.roundtrip("HEAD /declared HTTP/1.1\r\nHost: t\r\n\r\n", true);
    CHECK(*r.header("content-length") == "1234");
    r = c.roundtrip(get("/empty"));
    CHECK(r.status == 204);
    CHECK(r.header("content-length") == nullptr);
    // No body bytes were sent for any of them: the next response starts right away.
    r = c.roundtrip(get("/x"));
    CHECK(r.body == "twelve bytes");
    CHECK(c.buffered().empty());
}

TEST_CASE("http_server: a handler that throws gets 500 and is logged", "[net][http_server]") {
    std::mutex lines_mutex;
    std::vector<std::string> lines;
    rivetkit::set_log_sink([&](rivetkit::log_level level, std::string_view line) {
        if (level >= rivetkit::log_level::error) {
            std::lock_guard lock(lines_mutex);
            lines.emplace_back(line);
        }
    });
    {
        server_fixture f;
        f.handler->on_request = [](const http_request& r) -> reply {
            if (r.path == "/boom") throw std::runtime_error("kaboom");
            return test_handler::echo(r);
        };
        client c(f.port);
        const auto r = c.roundtrip(get("/boom"));
        CHECK(r.status == 500);
        CHECK(r.body == "internal error");
        CHECK(c.roundtrip(get("/fine")).body == "GET /fine");  // the connection survives
    }
    rivetkit::set_log_sink(nullptr);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("kaboom") != std::string::npos);
}

TEST_CASE("http_server: close() lets a request in flight finish and closes idle connections", "[net][http_server]") {
    server_fixture f;
    gate g(f.io);
    f.handler->on_request_async = [&g](http_request r) -> task<reply> {
        if (r.path == "/wait") co_await g.wait();
        co_return test_handler::echo(r);
    };
    client idle(f.port);
    CHECK(idle.roundtrip(get("/first")).status == 200);
    client busy(f.port);
    busy.send(get("/wait"));
    g.await_arrival();
    CHECK(f.server->connection_count() == 2);

    f.server->close();
    f.server->close();  // idempotent
    CHECK(idle.closed_by_peer());
    // Not accepting any more: a new connection is refused or closed without an answer.
    bool refused = false;
    try {
        client late(f.port);
        late.send(get("/late"));
        refused = late.closed_by_peer();
    } catch (const std::system_error&) {
        refused = true;
    }
    CHECK(refused);

    g.open();
    const auto r = busy.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "GET /wait");
    REQUIRE(r.header("connection") != nullptr);
    CHECK(*r.header("connection") == "close");
    CHECK(busy.closed_by_peer());

    std::promise<void> drained;
    f.server->on_drained([&drained] { drained.set_value(); });
    CHECK(drained.get_future().wait_for(guard) == std::future_status::ready);
    CHECK(f.server->connection_count() == 0);
}

TEST_CASE("http_server: listen errors", "[net][http_server]") {
    server_fixture f;
    auto handler = std::make_shared<test_handler>();
    http_server_options o;
    o.host = "127.0.0.1";
    o.port = f.port;  // taken
    rivetkit::net::http_server second(f.io.get_executor(), handler, o);
    try {
        (void)second.listen();
        FAIL("listen on a used port succeeded");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).starts_with("cannot listen on 127.0.0.1:" + std::to_string(f.port) + ": "));
    }
    CHECK(f.server->local_endpoint().port() == f.port);
    CHECK_THROWS_AS(f.server->listen(), std::logic_error);
}

TEST_CASE("http_server: thousands of idle connections", "[net][http_server]") {
    constexpr int n = 2000;
    rlimit lim{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
    if (lim.rlim_cur < 2 * n + 100) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 2 * n + 200);
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &lim) == 0);
    }
    server_fixture f;
    std::atomic<std::size_t> seen_count{0};
    f.handler->on_request = [&](const http_request& r) {
        seen_count = f.server->connection_count();
        return test_handler::echo(r);
    };
    std::vector<std::unique_ptr<client>> idle;
    idle.reserve(n);
    for (int i = 0; i < n; ++i) idle.push_back(std::make_unique<client>(f.port));
    {
        // Accepts happen in order, so this one is served after all the idle ones are open.
        client c(f.port);
        CHECK(c.roundtrip(get("/busy")).body == "GET /busy");
        CHECK(seen_count == n + 1);
    }
    idle.clear();
    client c(f.port);
    CHECK(c.roundtrip(get("/still")).body == "GET /still");
}
