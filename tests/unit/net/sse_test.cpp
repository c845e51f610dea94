#include <catch2/catch.hpp>

#include <future>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "http_test_support.hpp"
#include "net/sse.hpp"

using namespace http_test;
using rivetkit::net::append_sse_comment;
using rivetkit::net::append_sse_event;
using rivetkit::net::sse_sink;
using rivetkit::net::sse_writer;

namespace {

std::string event_text(std::string_view data, std::string_view event = {}, std::string_view id = {}) {
    std::string out;
    append_sse_event(out, data, event, id);
    return out;
}

/// Records writes; each write suspends once (a post) so overlapping sends really overlap.
class memory_sink final : public sse_sink {
public:
    explicit memory_sink(asio::io_context& io) : io_(io) {}
    task<bool> write(std::string_view bytes) override {
        if (closed_) co_return false;
        writes.emplace_back(bytes);
        co_await asio::post(io_, asio::use_awaitable);
        co_return !closed_;
    }
    [[nodiscard]] bool closed() const noexcept override { return closed_; }
    task<void> wait_closed() override { co_return; }
    void close() { closed_ = true; }

    std::vector<std::string> writes;

private:
    asio::io_context& io_;
    bool closed_ = false;
};

}  // namespace

TEST_CASE("sse: event framing", "[net][sse]") {
    CHECK(event_text("hello") == "data: hello\n\n");
    CHECK(event_text("a\nb\r\nc\rd", "update", "7") == "event: update\nid: 7\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
    CHECK(event_text("") == "data: \n\n");
    // A final line break gives a final empty data line: the receiver gets "x\n" back.
    CHECK(event_text("x\n") == "data: x\ndata: \n\n");
    // event and id cannot break the framing.
    CHECK(event_text("d", "ev\r\nil", "1\n2") == "event: evil\nid: 12\ndata: d\n\n");
    std::string c;
    append_sse_comment(c, "keep-alive");
    CHECK(c == ": keep-alive\n");
}

TEST_CASE("sse: overlapping sends go out in call order, a closed sink fails them", "[net][sse]") {
    asio::io_context io;
    memory_sink sink(io);
    sse_writer writer(sink);
    std::vector<bool> results;
    auto sender = [&](std::string data) -> task<void> {
        const bool ok = co_await writer.send(data);
        results.push_back(ok);
    };
    asio::co_spawn(io, sender("1"), asio::detached);
    asio::co_spawn(io, sender("2"), asio::detached);
    asio::co_spawn(io, sender("3"), asio::detached);
    io.run();
    CHECK(results == std::vector<bool>{true, true, true});
    // The first write carried event 1; 2 and 3 queued behind it and went out together.
    REQUIRE(sink.writes.size() == 2);
    CHECK(sink.writes[0] == "data: 1\n\n");
    CHECK(sink.writes[1] == "data: 2\n\ndata: 3\n\n");

    sink.close();
    CHECK(writer.closed());
    io.restart();
    asio::co_spawn(io, sender("4"), asio::detached);
    io.run();
    CHECK(results.back() == false);
    CHECK(sink.writes.size() == 2);
}

TEST_CASE("sse: events stream from the server, framed", "[net][sse][http_server]") {
    server_fixture f;
    f.handler->on_request = [](const http_request&) {
        reply r;
        r.response.headers = {{"X-Stream", "1"}};
        r.response.body = "ignored";
        r.stream = [](sse_writer& w) -> task<void> {
            co_await w.comment("hi");
            co_await w.send("first");
            co_await w.send("line 1\nline 2", "multi", "42");
        };
        return r;
    };
    client c(f.port);
    c.send(get("/events"));
    const auto r = c.read_response();  // no Content-Length: the body runs to the close
    CHECK(r.status == 200);
    CHECK(*r.header("content-type") == "text/event-stream");
    CHECK(*r.header("cache-control") == "no-cache");
    CHECK(*r.header("x-stream") == "1");
    CHECK(*r.header("connection") == "close");
    CHECK(r.header("content-length") == nullptr);
    CHECK(r.body == ": hi\ndata: first\n\nevent: multi\nid: 42\ndata: line 1\ndata: line 2\n\n");
}

TEST_CASE("sse: the writer notices the client leaving", "[net][sse][http_server]") {
    server_fixture f;
    std::promise<std::pair<bool, bool>> outcome;  // closed() after the wait, and a later send
    f.handler->on_request = [&outcome](const http_request&) {
        reply r;
        r.stream = [&outcome](sse_writer& w) -> task<void> {
            co_await w.send("ready");
            co_await w.wait_closed();
            const bool closed = w.closed();
            const bool sent = co_await w.send("too late");
            outcome.set_value({closed, sent});
        };
        return r;
    };
    client c(f.port);
    c.send(get("/events"));
    c.read_until("\r\n\r\n");
    CHECK(c.read_until("\n\n") == "data: ready\n\n");
    c.close();
    auto done = outcome.get_future();
    REQUIRE(done.wait_for(guard) == std::future_status::ready);
    const auto [closed, sent] = done.get();
    CHECK(closed);
    CHECK_FALSE(sent);
}

TEST_CASE("sse: close() of the server ends event streams", "[net][sse][http_server]") {
    server_fixture f;
    std::promise<void> streaming;
    f.handler->on_request = [&streaming](const http_request&) {
        reply r;
        r.stream = [&streaming](sse_writer& w) -> task<void> {
            co_await w.send("open");
            streaming.set_value();
            co_await w.wait_closed();
        };
        return r;
    };
    client c(f.port);
    c.send(get("/events"));
    REQUIRE(streaming.get_future().wait_for(guard) == std::future_status::ready);
    f.server->close();
    const std::string all = c.read_to_end();
    CHECK(all.ends_with("data: open\n\n"));
}
