// WebSocket broadcast fan-out: one actor, many subscribed connections.
//
//   ws_fanout [--conns N] [--actions N] [--threads N]
//
// Serves a registry (memory driver) on 127.0.0.1, opens `conns` RivetKit WebSocket connections
// (JSON encoding) to one actor, subscribes each to "tick", then one more connection sends
// `actions` broadcast actions at once. Prints the events delivered per second: from the first
// action sent until every subscriber has read every event. The client end (plain sockets and
// one epoll loop) runs in this process, on the same cores as the server.

#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

#include "net/websocket_frame.hpp"
#include "net/websocket_handshake.hpp"
#include "protocol/client_protocol.hpp"

namespace {

namespace net = rivetkit::net;
namespace protocol = rivetkit::protocol;

const auto fanout = rivetkit::actor<>()
                        .action<"fire">([](auto& c, std::int64_t n) { c.broadcast("tick", n); })
                        .options(rivetkit::actor_options{.no_sleep = true});

struct client {
    int fd = -1;
    net::frame_parser parser{false, 1 << 20};
    std::string buffer;
    std::size_t messages = 0;
};

void write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("send failed");
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string frame(const protocol::to_server& msg) {
    std::string out;
    net::append_ws_frame(out, net::ws_opcode::text, protocol::encode_to_server(protocol::encoding::json, msg), true,
                         net::ws_mask_key{1, 2, 3, 4});
    return out;
}

/// Reads what is there and counts whole messages (blocking read when `block`).
void pump(client& c) {
    char tmp[65536];
    auto n = ::recv(c.fd, tmp, sizeof tmp, 0);
    if (n <= 0) throw std::runtime_error("connection ended");
    c.buffer.append(tmp, static_cast<std::size_t>(n));
    std::span<std::uint8_t> input(reinterpret_cast<std::uint8_t*>(c.buffer.data()), c.buffer.size());
    for (;;) {
        auto ev = c.parser.parse(input);
        if (ev == net::frame_parser::event::need_more) break;
        if (ev == net::frame_parser::event::message) ++c.messages;
        if (ev == net::frame_parser::event::close || ev == net::frame_parser::event::error) {
            throw std::runtime_error("closed by the server");
        }
    }
    c.buffer.erase(0, c.buffer.size() - input.size());
}

client open_client(std::uint16_t port, const std::string& actor_id) {
    client c;
    c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("connect");
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const auto key = net::make_websocket_key();
    std::vector<std::string> protocols{"rivet", "rivet_encoding.json"};
    std::string req = "GET /gateway/" + actor_id + "/connect HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [n, v] : net::websocket_request_headers(key, protocols)) req += n + ": " + v + "\r\n";
    req += "\r\n";
    write_all(c.fd, req);
    std::string head;
    char ch = 0;
    while (head.find("\r\n\r\n") == std::string::npos) {
        if (::recv(c.fd, &ch, 1, 0) != 1) throw std::runtime_error("handshake");
        head.push_back(ch);
    }
    if (head.rfind("HTTP/1.1 101", 0) != 0) throw std::runtime_error("not upgraded: " + head);
    while (c.messages < 1) pump(c);  // Init
    return c;
}

std::size_t arg(int argc, char** argv, std::string_view name, std::size_t fallback) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (name == argv[i]) return std::strtoull(argv[i + 1], nullptr, 10);
    }
    return fallback;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t conns = arg(argc, argv, "--conns", 1000);
    const std::size_t actions = arg(argc, argv, "--actions", 200);
    const std::size_t threads = arg(argc, argv, "--threads", 2);

    rivetkit::registry_config cfg;
    cfg.driver = rivetkit::drivers::memory();
    cfg.threads = threads;
    auto registry = rivetkit::setup({{"fanout", fanout}}, std::move(cfg));
    registry.start();
    rivetkit::server_options so;
    so.host = "127.0.0.1";
    so.port = 0;
    const auto port = registry.listen(so);
    const auto actor_id = registry.client().get_or_create("fanout", {"bench"}).resolve();

    std::vector<client> subs;
    subs.reserve(conns);
    for (std::size_t i = 0; i < conns; ++i) {
        subs.push_back(open_client(port, actor_id));
        write_all(subs.back().fd, frame(protocol::subscription_request{"tick", true}));
    }
    auto caller = open_client(port, actor_id);
    // Subscriptions are handled in order on the actor: one answered action after them on each
    // connection would prove it; a broadcast reaching the last one is enough here.
    write_all(caller.fd, frame(protocol::action_request{0, "fire", {std::int64_t{0}}}));
    for (auto& s : subs) {
        while (s.messages < 2) pump(s);
    }
    while (caller.messages < 2) pump(caller);

    const int ep = ::epoll_create1(0);
    for (std::size_t i = 0; i < subs.size(); ++i) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
    }
    epoll_event cev{};
    cev.events = EPOLLIN;
    cev.data.u64 = subs.size();
    ::epoll_ctl(ep, EPOLL_CTL_ADD, caller.fd, &cev);

    const auto start = std::chrono::steady_clock::now();
    std::string batch;
    for (std::size_t i = 1; i <= actions; ++i) {
        batch += frame(protocol::action_request{i, "fire", {static_cast<std::int64_t>(i)}});
    }
    write_all(caller.fd, batch);
    const std::size_t want_each = 2 + actions;
    std::size_t done = 0;
    std::vector<epoll_event> events(256);
    while (done < subs.size() || caller.messages < want_each) {
        const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 10000);
        if (n <= 0) throw std::runtime_error("stalled");
        for (int k = 0; k < n; ++k) {
            const auto i = events[static_cast<std::size_t>(k)].data.u64;
            client& c = i == subs.size() ? caller : subs[i];
            const bool was_done = c.messages >= want_each;
            pump(c);
            if (i != subs.size() && !was_done && c.messages >= want_each) ++done;
        }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double delivered = static_cast<double>(conns * actions);
    std::printf("conns %zu actions %zu threads %zu: %.0f events in %.3f s = %.0f events/s\n", conns, actions, threads,
                delivered, secs, delivered / secs);
    for (auto& s : subs) ::close(s.fd);
    ::close(caller.fd);
    ::close(ep);
    registry.stop();
    return 0;
}
