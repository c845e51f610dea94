#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "net/http_parser.hpp"

using rivetkit::net::http_parse_error;
using rivetkit::net::http_parser;
using ev = http_parser::event;

namespace {

// Feeds `input` in pieces of `step` bytes until an event other than need_more, as a reader
// would; returns the event and advances `input` past the consumed bytes.
ev feed_until_event(http_parser& p, std::string_view& input, std::size_t step = 1 << 20) {
    for (;;) {
        const auto piece = input.substr(0, step);
        const auto r = p.feed(piece);
        input.remove_prefix(r.consumed);
        if (r.what != ev::need_more) return r.what;
        if (input.empty()) return ev::need_more;
    }
}

}  // namespace

TEST_CASE("http_parser: a GET is reported head first, then complete without more input", "[net][http_parser]") {
    http_parser p(http_parser::kind::request);
    std::string_view in = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example\r\nX-Empty:\r\nX-Pad:  v  \r\n\r\n";
    REQUIRE(feed_until_event(p, in) == ev::headers_complete);
    CHECK(in.empty());
    CHECK(p.method() == "GET");
    CHECK(p.target() == "/a/b?x=1&y=2");
    CHECK_FALSE(p.has_body());
    // The message completes from the parser's state alone.
    REQUIRE(feed_until_event(p, in) == ev::message_complete);
    CHECK(p.keep_alive());
    auto req = p.take_request();
    CHECK(req.method == "GET");
    CHECK(req.path == "/a/b");
    CHECK(req.query == "x=1&y=2");
    REQUIRE(req.headers.size() == 3);
    CHECK(req.headers[0].first == "Host");
    CHECK(req.headers[0].second == "example");
    CHECK(req.headers[1].first == "X-Empty");
    CHECK(req.headers[1].second.empty());
    CHECK(req.headers[2].second == "v");
}

TEST_CASE("http_parser: byte-by-byte input gives the same message", "[net][http_parser]") {
    http_parser p(http_parser::kind::request);
    std::string_view in = "POST /p HTTP/1.1\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
    REQUIRE(feed_until_event(p, in, 1) == ev::headers_complete);
    CHECK(p.content_length() == 5U);
    REQUIRE(feed_until_event(p, in, 1) == ev::message_complete);
    CHECK(in.empty());
    CHECK(p.body() == "hello");
}

TEST_CASE("http_parser: pipelined messages stop at each message's end", "[net][http_parser]") {
    http_parser p(http_parser::kind::request);
    const std::string all = "POST /1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\n\r\n";
    std::string_view in = all;
    REQUIRE(feed_until_event(p, in) == ev::headers_complete);
    REQUIRE(feed_until_event(p, in) == ev::message_complete);
    CHECK(p.take_request().body == "abc");
    CHECK(in == "GET /2 HTTP/1.1\r\n\r\n");
    REQUIRE(feed_until_event(p, in) == ev::headers_complete);
    CHECK(p.target() == "/2");
    CHECK(p.body().empty());
    REQUIRE(feed_until_event(p, in) == ev::message_complete);
    CHECK(in.empty());
}

TEST_CASE("http_parser: chunked bodies are decoded and limited", "[net][http_parser]") {
    SECTION("decoded") {
        http_parser p(http_parser::kind::request);
        std::string_view in = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
        REQUIRE(feed_until_event(p, in, 3) == ev::headers_complete);
        CHECK(p.chunked());
        CHECK_FALSE(p.content_length());
        CHECK(p.has_body());
        REQUIRE(feed_until_event(p, in, 3) == ev::message_complete);
        CHECK(p.body() == "abcde");
    }
    SECTION("over the limit while streaming") {
        http_parser p(http_parser::kind::request, {.max_header_bytes = 1024, .max_body_bytes = 4, .collect_body = true});
        std::string_view in = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        REQUIRE(feed_until_event(p, in) == ev::headers_complete);
        REQUIRE(feed_until_event(p, in) == ev::error);
        CHECK(p.error() == http_parse_error::body_too_large);
    }
}

TEST_CASE("http_parser: limits", "[net][http_parser]") {
    SECTION("declared body too large is refused at the head") {
        http_parser p(http_parser::kind::request, {.max_header_bytes = 1024, .max_body_bytes = 10, .collect_body = true});
        std::string_view in = "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
        REQUIRE(feed_until_event(p, in) == ev::error);
        CHECK(p.error() == http_parse_error::body_too_large);
    }
    SECTION("head too large, in one piece or byte by byte") {
        const std::size_t step = GENERATE(1U, 7U, 100000U);
        http_parser p(http_parser::kind::request, {.max_header_bytes = 64, .max_body_bytes = 10, .collect_body = true});
        const std::string head = "GET / HTTP/1.1\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n";
        std::string_view in = head;
        REQUIRE(feed_until_event(p, in, step) == ev::error);
        CHECK(p.error() == http_parse_error::header_too_large);
    }
    SECTION("a head of exactly the limit passes") {
        const std::string head = "GET / HTTP/1.1\r\nX: y\r\n\r\n";
        http_parser p(http_parser::kind::request,
                      {.max_header_bytes = head.size(), .max_body_bytes = 10, .collect_body = true});
        std::string_view in = head;
        REQUIRE(feed_until_event(p, in) == ev::headers_complete);
        CHECK(p.header_bytes() == head.size());
    }
}

TEST_CASE("http_parser: malformed input is an error that sticks", "[net][http_parser]") {
    http_parser p(http_parser::kind::request);
    std::string_view in = "GARBAGE\r\n\r\n";
    REQUIRE(feed_until_event(p, in) == ev::error);
    CHECK(p.error() == http_parse_error::malformed);
    CHECK_FALSE(p.error_reason().empty());
    CHECK(p.feed("GET / HTTP/1.1\r\n\r\n").what == ev::error);
    p.reset();
    std::string_view good = "GET / HTTP/1.1\r\n\r\n";
    CHECK(feed_until_event(p, good) == ev::headers_complete);
}

TEST_CASE("http_parser: keep-alive rules", "[net][http_parser]") {
    auto keep_alive_of = [](std::string_view in) {
        http_parser p(http_parser::kind::request);
        REQUIRE(feed_until_event(p, in) == ev::headers_complete);
        REQUIRE(feed_until_event(p, in) == ev::message_complete);
        return p.keep_alive();
    };
    CHECK(keep_alive_of("GET / HTTP/1.1\r\n\r\n"));
    CHECK_FALSE(keep_alive_of("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    CHECK_FALSE(keep_alive_of("GET / HTTP/1.0\r\n\r\n"));
    CHECK(keep_alive_of("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
}

TEST_CASE("http_parser: an upgrade request leaves the following bytes unconsumed", "[net][http_parser]") {
    http_parser p(http_parser::kind::request);
    const std::string all =
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello";
    std::string_view in = all;
    REQUIRE(feed_until_event(p, in) == ev::headers_complete);
    REQUIRE(feed_until_event(p, in) == ev::message_complete);
    CHECK(p.upgrade());
    CHECK(in == "\x81\x05hello");

    SECTION("and HTTP can go on after a refused upgrade") {
        std::string_view next = "GET /next HTTP/1.1\r\n\r\n";
        REQUIRE(feed_until_event(p, next) == ev::headers_complete);
        CHECK(p.target() == "/next");
        CHECK_FALSE(p.upgrade());
        REQUIRE(feed_until_event(p, next) == ev::message_complete);
    }
}

TEST_CASE("http_parser: responses", "[net][http_parser]") {
    SECTION("with a length") {
        http_parser p(http_parser::kind::response);
        std::string_view in = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nnoHTTP/1.1 204 No Content\r\n\r\n";
        REQUIRE(feed_until_event(p, in) == ev::headers_complete);
        CHECK(p.status() == 404);
        CHECK(p.reason() == "Not Found");
        REQUIRE(feed_until_event(p, in) == ev::message_complete);
        CHECK(p.body() == "no");
        REQUIRE(feed_until_event(p, in) == ev::headers_complete);
        CHECK(p.status() == 204);
        REQUIRE(feed_until_event(p, in) == ev::message_complete);
        CHECK(in.empty());
    }
    SECTION("to a HEAD request") {
        http_parser p(http_parser::kind::response);
        p.skip_body_of_next_message();
        std::string_view in = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        REQUIRE(feed_until_event(p, in) == ev::headers_complete);
        CHECK_FALSE(p.has_body());
        REQUIRE(feed_until_event(p, in) == ev::message_complete);
        CHECK(p.body().empty());
    }
    SECTION("delimited by the end of the connection, streamed") {
        http_parser p(http_parser::kind::response, {.max_header_bytes = 1024, .max_body_bytes = 4, .collect_body = false});
        std::string_view in = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n";
        REQUIRE(feed_until_event(p, in) == ev::headers_complete);
        CHECK(p.has_body());
        REQUIRE(feed_until_event(p, in) == ev::need_more);
        CHECK(p.body() == "data: 1\n\n");  // beyond max_body_bytes: not collected, not limited
        p.body().clear();
        CHECK(p.finish().what == ev::message_complete);
    }
    SECTION("truncated") {
        http_parser p(http_parser::kind::response);
        std::string_view in = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        REQUIRE(feed_until_event(p, in) == ev::headers_complete);
        REQUIRE(feed_until_event(p, in) == ev::need_more);
        CHECK(p.finish().what == ev::error);
    }
}

TEST_CASE("split_request_target", "[net][http_parser]") {
    std::string path;
    std::string query;
    rivetkit::net::split_request_target("/a%20b?q=%20", path, query);
    CHECK(path == "/a%20b");
    CHECK(query == "q=%20");
    rivetkit::net::split_request_target("http://host:80/x/y?z", path, query);
    CHECK(path == "/x/y");
    CHECK(query == "z");
    rivetkit::net::split_request_target("http://host", path, query);
    CHECK(path == "/");
    CHECK(query.empty());
    rivetkit::net::split_request_target("*", path, query);
    CHECK(path == "*");
    rivetkit::net::split_request_target("/?", path, query);
    CHECK(path == "/");
    CHECK(query.empty());
}
