// The load generator of the side-by-side benchmarks (bench/run.sh). It drives the same
// workloads against any server that hosts the bench actors (`counter`, `chatRoom`) behind the
// RivetKit HTTP API: bench_server (C++) and bench/reference/server.mjs (TypeScript).
//
//   bench_load <workload> --endpoint http://127.0.0.1:PORT [options]
//
//   http    --action ping --encoding json|bare --conns 32 [--key K] [--path /p]
//           keep-alive connections, one POST /gateway/<id>/action/<action> in flight on each.
//           --path skips actor resolution and POSTs that exact path (the ceiling server).
//   ws      --encoding json|bare --conns C --actors A --inflight K --action ping
//           C WebSocket connections spread over A counter actors (keys ws-0..A-1), each with
//           K ActionRequests in flight.
//   fanout  --conns 1000 --messages 200 --inflight 16 --encoding json|bare
//           C connections subscribe to "message" of one chatRoom; one more connection sends M
//           sendMessage(<CLOCK_MONOTONIC ns>) with at most --inflight in flight; every
//           subscriber measures the delivery latency of every event.
//   create  --count 100000 --conns 32 [--server-pid P]
//           each op creates a fresh counter (PUT /actors) and calls getCount on it.
//   wake    --actors 1000 --conns 8 [--settle 2]
//           creates N counters (increment(1) each), puts them to sleep, waits --settle seconds,
//           then wakes each with one getCount (which must answer 1).
//
// Common options: --warmup S (1) and --duration S (5) for the time-based workloads (http, ws),
// --encoding (json), --timeout S (30): how long a run may go without any progress.
//
// Output: one JSON object on one line on stdout; diagnostics go to stderr. Latencies come
// from a log-linear histogram (0.4% resolution). Every non-2xx answer, protocol error,
// unexpected output, lost event or dropped connection counts in "errors"; a run with errors
// exits 1 (usage errors and failed setups exit 2).
//
// Design: the generator must never be the bottleneck. It is one thread with one epoll loop
// over non-blocking sockets; clients are closed-loop (a new request is sent when an answer
// arrives); request bytes are built once (or into per-connection buffers that keep their
// capacity); answers are recognised by comparing bytes with the shape the protocol module
// produces, and only a message of another shape goes through the full decoder. The setup
// steps that are not measured (resolving actors, WebSocket handshakes) use plain blocking
// sockets.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <llhttp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <rivetkit/value.hpp>

#include "net/http_parser.hpp"
#include "net/websocket_frame.hpp"
#include "net/websocket_handshake.hpp"
#include "protocol/client_protocol.hpp"

namespace {

namespace net = rivetkit::net;
namespace protocol = rivetkit::protocol;
using rivetkit::value;

// ---- time -------------------------------------------------------------------------------------

/// CLOCK_MONOTONIC in nanoseconds (a vDSO call: cheap enough per message).
std::uint64_t now_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

constexpr std::uint64_t seconds_to_ns(double s) { return static_cast<std::uint64_t>(s * 1e9); }
constexpr double ns_to_seconds(std::uint64_t ns) { return static_cast<double>(ns) / 1e9; }

// ---- errors -----------------------------------------------------------------------------------

/// Every error of the run: counted, and the first few described on stderr.
struct error_log {
    std::uint64_t count = 0;
    void add(std::string_view what) {
        ++count;
        if (count <= 10) std::cerr << "bench_load: error: " << what << "\n";
        if (count == 10) std::cerr << "bench_load: (further errors are counted, not shown)\n";
    }
};
error_log errors;

/// A failure that makes the run meaningless (a setup step failed): exit 2.
struct fatal_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Appends `n` in decimal.
void append_decimal(std::string& out, std::uint64_t n) {
    char buf[24];
    const auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
    out.append(buf, end);
}

/// The start of `s` with control and non-ASCII bytes shown as '.', for error messages.
std::string excerpt(std::string_view s, std::size_t n = 200) {
    std::string out(s.substr(0, n));
    for (auto& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '.';
    }
    if (s.size() > n) out += "...";
    return out;
}

// ---- latency histogram ------------------------------------------------------------------------

/// HDR-style log-linear histogram of nanosecond values: exact below 256 ns, then 128 linear
/// sub-buckets per power of two (relative error below 0.4%). Fixed size, no allocation while
/// recording.
class histogram {
public:
    void record(std::uint64_t ns) noexcept {
        ++counts_[index_of(ns)];
        ++total_;
        max_ = std::max(max_, ns);
        sum_ += ns;
    }
    [[nodiscard]] std::uint64_t total() const noexcept { return total_; }

    /// The value at quantile q (0..1), in microseconds: the middle of its bucket.
    [[nodiscard]] double quantile_us(double q) const noexcept {
        if (total_ == 0) return 0;
        auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.999999);
        rank = std::clamp<std::uint64_t>(rank, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) return static_cast<double>(std::min(middle_of(i), max_)) / 1000.0;
        }
        return static_cast<double>(max_) / 1000.0;
    }
    [[nodiscard]] double max_us() const noexcept { return static_cast<double>(max_) / 1000.0; }
    [[nodiscard]] double mean_us() const noexcept {
        return total_ == 0 ? 0 : static_cast<double>(sum_) / static_cast<double>(total_) / 1000.0;
    }

private:
    static constexpr unsigned sub_bits = 8;                   // 256 exact values, then
    static constexpr std::uint64_t half = 1u << (sub_bits - 1);  // 128 sub-buckets per octave
    static constexpr std::size_t octaves = 64 - sub_bits + 1;

    static std::size_t index_of(std::uint64_t v) noexcept {
        if (v < 2 * half) return static_cast<std::size_t>(v);
        const unsigned shift = static_cast<unsigned>(std::bit_width(v)) - sub_bits;  // v >> shift in [128, 256)
        return static_cast<std::size_t>(shift * half + (v >> shift));
    }
    static std::uint64_t middle_of(std::size_t index) noexcept {
        if (index < 2 * half) return index;
        const std::uint64_t shift = index / half - 1;
        const std::uint64_t low = (index - shift * half) << shift;
        return low + (std::uint64_t{1} << shift) / 2;
    }

    std::array<std::uint64_t, 2 * half + octaves * half> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t sum_ = 0;
};

// ---- the result line --------------------------------------------------------------------------

/// Builds the one-line JSON result: keys in insertion order.
class result_line {
public:
    result_line& str(std::string_view key, std::string_view v) {
        field(key);
        out_ += '"';
        for (char c : v) {
            if (c == '"' || c == '\\') out_ += '\\';
            out_ += c;
        }
        out_ += '"';
        return *this;
    }
    result_line& num(std::string_view key, std::uint64_t v) {
        field(key);
        out_ += std::to_string(v);
        return *this;
    }
    result_line& num(std::string_view key, double v, int decimals = 1) {
        field(key);
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
        out_ += buf;
        return *this;
    }
    result_line& latencies(const histogram& h) {
        num("p50_us", h.quantile_us(0.50));
        num("p90_us", h.quantile_us(0.90));
        num("p99_us", h.quantile_us(0.99));
        num("max_us", h.max_us());
        return num("mean_us", h.mean_us());
    }
    void print() const { std::cout << out_ << "}" << std::endl; }

private:
    void field(std::string_view key) {
        out_ += out_.empty() ? "{\"" : ",\"";
        out_ += key;
        out_ += "\":";
    }
    std::string out_;
};

// ---- options ----------------------------------------------------------------------------------

struct options {
    std::string workload;
    std::string endpoint;
    protocol::encoding encoding = protocol::encoding::json;
    std::optional<std::size_t> conns;  // default per workload
    std::size_t actors = 0;            // 0: default per workload
    std::size_t inflight = 0;          // 0: default per workload
    std::string action = "ping";
    std::string key;
    std::string path;
    double warmup = 1;
    double duration = 5;
    std::size_t messages = 200;
    std::size_t count = 100000;
    long server_pid = 0;
    double settle = 2;
    double timeout = 30;
};

[[noreturn]] void usage(std::string_view why) {
    std::cerr << "bench_load: " << why << "\n"
              << "usage: bench_load http|ws|fanout|create|wake --endpoint http://HOST:PORT [--encoding json|bare]\n"
                 "         [--conns N] [--actors N] [--inflight N] [--action NAME] [--key K] [--path /p]\n"
                 "         [--warmup S] [--duration S] [--messages N] [--count N] [--server-pid P]\n"
                 "         [--settle S] [--timeout S]\n";
    std::exit(2);
}

std::size_t parse_size(std::string_view name, std::string_view v) {
    std::size_t out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc{} || p != v.data() + v.size()) usage(std::string(name) + ": not a number: " + std::string(v));
    return out;
}

double parse_seconds(std::string_view name, std::string_view v) {
    char* end = nullptr;
    const std::string s(v);
    const double d = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0' || !(d >= 0)) usage(std::string(name) + ": not a duration: " + s);
    return d;
}

options parse_options(int argc, char** argv) {
    if (argc < 2) usage("no workload");
    options o;
    o.workload = argv[1];
    for (int i = 2; i < argc; i += 2) {
        const std::string_view name = argv[i];
        if (i + 1 >= argc) usage(std::string(name) + " needs a value");
        const std::string_view v = argv[i + 1];
        if (name == "--endpoint") {
            o.endpoint = v;
        } else if (name == "--encoding") {
            auto e = protocol::parse_encoding(v);
            if (!e) usage("unknown encoding " + std::string(v));
            o.encoding = *e;
        } else if (name == "--conns") {
            o.conns = parse_size(name, v);
        } else if (name == "--actors") {
            o.actors = parse_size(name, v);
        } else if (name == "--inflight") {
            o.inflight = parse_size(name, v);
        } else if (name == "--action") {
            o.action = v;
        } else if (name == "--key") {
            o.key = v;
        } else if (name == "--path") {
            o.path = v;
        } else if (name == "--warmup") {
            o.warmup = parse_seconds(name, v);
        } else if (name == "--duration") {
            o.duration = parse_seconds(name, v);
        } else if (name == "--messages") {
            o.messages = parse_size(name, v);
        } else if (name == "--count") {
            o.count = parse_size(name, v);
        } else if (name == "--server-pid") {
            o.server_pid = static_cast<long>(parse_size(name, v));
        } else if (name == "--settle") {
            o.settle = parse_seconds(name, v);
        } else if (name == "--timeout") {
            o.timeout = parse_seconds(name, v);
        } else {
            usage("unknown option " + std::string(name));
        }
    }
    if (o.endpoint.empty()) usage("--endpoint is required");
    if (o.conns && *o.conns == 0) usage("--conns must be at least 1");
    if (o.duration <= 0) usage("--duration must be above 0");
    return o;
}

/// A short id that differs between runs, so created actor keys never collide with old ones.
std::string make_run_id() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    const auto us = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull + static_cast<unsigned long long>(ts.tv_nsec) / 1000;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llx", us);
    return buf;
}

// ---- sockets ----------------------------------------------------------------------------------

struct endpoint {
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    std::string host_header;  // "host:port"
};

endpoint parse_endpoint(std::string_view url) {
    constexpr std::string_view scheme = "http://";
    if (url.substr(0, scheme.size()) != scheme) usage("the endpoint must start with http://");
    url.remove_prefix(scheme.size());
    while (!url.empty() && url.back() == '/') url.remove_suffix(1);
    if (url.find('/') != std::string_view::npos) usage("the endpoint must not have a path");
    const auto colon = url.rfind(':');
    if (colon == std::string_view::npos) usage("the endpoint needs a port");
    std::string host(url.substr(0, colon));
    const std::string port(url.substr(colon + 1));
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
        usage("cannot resolve " + std::string(url));
    }
    endpoint ep;
    std::memcpy(&ep.addr, res->ai_addr, res->ai_addrlen);
    ep.addr_len = res->ai_addrlen;
    ep.host_header = std::string(url);
    ::freeaddrinfo(res);
    return ep;
}

/// A connected TCP socket with TCP_NODELAY; `io_timeout_s` > 0 sets blocking send/recv
/// timeouts (setup calls), 0 makes it non-blocking (the measured loops).
int connect_tcp(const endpoint& ep, int io_timeout_s) {
    const int fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw fatal_error(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.addr_len) != 0) {
        const int e = errno;
        ::close(fd);
        throw fatal_error(std::string("connect to ") + ep.host_header + ": " + std::strerror(e));
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (io_timeout_s > 0) {
        timeval tv{io_timeout_s, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    } else {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    return fd;
}

/// Blocking write of all of `bytes` (setup only).
void write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw fatal_error(std::string("send: ") + std::strerror(errno));
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

/// Many connections need many descriptors: the soft limit goes up to the hard one.
void raise_fd_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

void set_epoll(int epfd, int op, int fd, std::uint64_t index, bool want_write) {
    epoll_event ev{};
    ev.events = EPOLLIN | (want_write ? EPOLLOUT : 0u);
    ev.data.u64 = index;
    if (::epoll_ctl(epfd, op, fd, &ev) != 0) throw fatal_error(std::string("epoll_ctl: ") + std::strerror(errno));
}

/// The one receive buffer: every read is parsed before the next one.
std::array<char, 256 * 1024> read_buffer;

// ---- HTTP requests and responses --------------------------------------------------------------

/// Appends a whole HTTP/1.1 request (keep-alive is the default). The target and the body come
/// in pieces, so per-op requests are written straight into a reused buffer. `encoding` names
/// the x-rivet-encoding header (none when empty).
void append_request(std::string& out, const endpoint& ep, std::string_view method,
                    std::initializer_list<std::string_view> target, std::string_view encoding,
                    std::string_view content_type, std::initializer_list<std::string_view> body) {
    out += method;
    out += ' ';
    for (auto piece : target) out += piece;
    out += " HTTP/1.1\r\nHost: ";
    out += ep.host_header;
    out += "\r\n";
    if (!encoding.empty()) {
        out += "x-rivet-encoding: ";
        out += encoding;
        out += "\r\n";
    }
    out += "Content-Type: ";
    out += content_type;
    out += "\r\nContent-Length: ";
    std::size_t length = 0;
    for (auto piece : body) length += piece.size();
    append_decimal(out, length);
    out += "\r\n\r\n";
    for (auto piece : body) out += piece;
}

/// Appends POST /gateway/<actor>/action/<name> with `body` in `enc`.
void append_action_request(std::string& out, const endpoint& ep, protocol::encoding enc, std::string_view actor_id,
                           std::string_view action, std::string_view body) {
    append_request(out, ep, "POST", {"/gateway/", actor_id, "/action/", action}, protocol::to_string(enc),
                   protocol::content_type(enc), {body});
}

/// Appends PUT /actors (get-or-create `name`[`key`]). The key has one component without '/'
/// or '\\', so its serialised form is itself (client-protocol.md §2.4).
void append_put_actor(std::string& out, const endpoint& ep, std::string_view name, std::string_view key) {
    append_request(out, ep, "PUT", {"/actors?namespace=default"}, "", "application/json",
                   {R"({"name":")", name, R"(","key":")", key,
                    R"(","runner_name_selector":"default","crash_policy":"sleep"})"});
}

/// An incremental HTTP response reader on llhttp that keeps nothing but the status, the body
/// (in a buffer that keeps its capacity) and whether the connection stays open, so reading an
/// answer allocates nothing.
class http_reader {
public:
    http_reader() { reset(); }

    void reset() {
        llhttp_init(&parser_, HTTP_RESPONSE, &settings());
        body.clear();
        completed = 0;
    }
    /// False on a malformed response.
    bool feed(const char* data, std::size_t n) {
        parser_.data = this;
        return llhttp_execute(&parser_, data, n) == HPE_OK;
    }
    /// The peer closed: completes a response delimited by the end of the connection. False
    /// when a response was cut short.
    bool finish() {
        parser_.data = this;
        return llhttp_finish(&parser_) == HPE_OK;
    }

    unsigned completed = 0;  // responses completed since the caller last set this to 0
    int status = 0;          // of the last completed response
    bool keep_alive = true;  // of the last completed response
    std::string body;        // of the last (or current) response

private:
    static http_reader& self(llhttp_t* p) { return *static_cast<http_reader*>(p->data); }
    static const llhttp_settings_t& settings() {
        static const llhttp_settings_t s = [] {
            llhttp_settings_t st;
            llhttp_settings_init(&st);
            st.on_message_begin = [](llhttp_t* p) {
                self(p).body.clear();
                return 0;
            };
            st.on_body = [](llhttp_t* p, const char* at, std::size_t n) {
                self(p).body.append(at, n);
                return 0;
            };
            st.on_message_complete = [](llhttp_t* p) {
                auto& r = self(p);
                ++r.completed;
                r.status = p->status_code;
                r.keep_alive = llhttp_should_keep_alive(p) != 0;
                return 0;
            };
            return st;
        }();
        return s;
    }
    llhttp_t parser_{};
};

struct http_answer {
    int status = 0;
    std::string body;
};

/// One request on a fresh blocking connection (setup only).
http_answer http_call(const endpoint& ep, std::string_view request) {
    const int fd = connect_tcp(ep, 30);
    write_all(fd, request);
    http_reader reader;
    while (reader.completed == 0) {
        const auto n = ::recv(fd, read_buffer.data(), read_buffer.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        const bool ok = n > 0 ? reader.feed(read_buffer.data(), static_cast<std::size_t>(n)) : reader.finish();
        if (!ok || (n <= 0 && reader.completed == 0)) {
            ::close(fd);
            throw fatal_error("no valid HTTP answer from " + ep.host_header);
        }
    }
    ::close(fd);
    return {reader.status, std::move(reader.body)};
}

/// The text after `"field":` in a JSON object, found by a plain scan (manager answers are
/// small, flat enough and their ids plain); empty when missing.
std::string_view json_value_of(std::string_view json, std::string_view field) {
    for (auto pos = json.find(field); pos != std::string_view::npos; pos = json.find(field, pos + 1)) {
        auto p = pos + field.size();
        if (pos == 0 || json[pos - 1] != '"' || p >= json.size() || json[p] != '"') continue;
        ++p;
        while (p < json.size() && json[p] == ' ') ++p;
        if (p >= json.size() || json[p] != ':') continue;
        ++p;
        while (p < json.size() && json[p] == ' ') ++p;
        return json.substr(p);
    }
    return {};
}

/// The string value of `"field": "..."` (without escapes); empty when missing.
std::string_view json_string_field(std::string_view json, std::string_view field) {
    const auto v = json_value_of(json, field);
    if (v.empty() || v[0] != '"') return {};
    const auto end = v.find('"', 1);
    return end == std::string_view::npos ? std::string_view{} : v.substr(1, end - 1);
}

/// The literal (true, false, a number) value of `"field": ...`, as text.
std::string_view json_literal_field(std::string_view json, std::string_view field) {
    const auto v = json_value_of(json, field);
    return v.substr(0, std::min(v.find_first_of(",} "), v.size()));
}

/// Actor ids go into URL paths unencoded: they must be URL-safe.
bool is_url_safe_id(std::string_view id) {
    return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.' || c == '~';
    });
}

/// Resolves (get-or-create) an actor over a blocking connection: its id.
std::string resolve_actor(const endpoint& ep, std::string_view name, std::string_view key) {
    std::string request;
    append_put_actor(request, ep, name, key);
    const auto answer = http_call(ep, request);
    const auto id = json_string_field(answer.body, "actor_id");
    if (answer.status / 100 != 2 || !is_url_safe_id(id)) {
        throw fatal_error("PUT /actors " + std::string(name) + "[" + std::string(key) + "] answered " +
                          std::to_string(answer.status) + ": " + excerpt(answer.body));
    }
    return std::string(id);
}

/// Checks an action answer: `expected_bytes` when the server encodes exactly as the protocol
/// module does (the common case, a memcmp), else the full decoder and a value comparison.
bool output_is(protocol::encoding enc, std::string_view body, std::string_view expected_bytes, const value& expected) {
    if (body == expected_bytes) return true;
    try {
        const value out = protocol::decode_http_action_response(enc, body);
        if (expected.is_numeric()) return out.is_numeric() && out.as_double() == expected.as_double();
        return out == expected;
    } catch (const std::exception&) {
        return false;
    }
}

// ---- the closed-loop HTTP engine -----------------------------------------------------------

/// N keep-alive connections, each with at most one request in flight, driven by one epoll
/// loop. A workload ("load") starts operations and receives their answers:
///
///   void start(std::size_t conn, std::uint64_t now)  may send the first request of a new op;
///                                                     sending nothing retires the connection
///   void on_response(std::size_t conn, std::uint64_t now, int status, std::string_view body)
///        status 0: the connection failed (body says how); may send the op's next request
///
/// A connection the server closes between requests is reopened before the next one; a
/// connection that breaks during a request fails that request (status 0).
class http_pool {
public:
    http_pool(const endpoint& ep, std::size_t n, double stall_timeout_s)
        : ep_(ep), epfd_(::epoll_create1(EPOLL_CLOEXEC)), conns_(n), stall_ns_(seconds_to_ns(stall_timeout_s)) {
        for (std::size_t i = 0; i < n; ++i) open(i);
    }
    ~http_pool() {
        for (std::size_t i = 0; i < conns_.size(); ++i) close_conn(i);
        ::close(epfd_);
    }
    http_pool(const http_pool&) = delete;
    http_pool& operator=(const http_pool&) = delete;

    [[nodiscard]] std::size_t size() const noexcept { return conns_.size(); }

    /// Set when the run gives up (a stalled or vanished server); loads start no more ops.
    bool aborted = false;

    /// Sends `request` on connection `i` (reopened first if the server closed it). The bytes
    /// are copied only when the socket does not take them all at once.
    void send(std::size_t i, std::string_view request) {
        conn& c = conns_[i];
        if (c.fd < 0) {
            // Reopening failed: the server is gone. The op is dropped (an error) and no more
            // start, so the run ends and reports what it has.
            try {
                open(i);
            } catch (const fatal_error& e) {
                errors.add(e.what());
                aborted = true;
                return;
            }
        }
        c.reader.completed = 0;
        c.in_flight = true;
        ++busy_;
        auto n = ::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(request.size())) return;
        if (n < 0) n = 0;  // a broken connection shows up as EPOLLERR/EOF on the read side
        c.pending.assign(request.substr(static_cast<std::size_t>(n)));
        c.pending_off = 0;
        set_epoll(epfd_, EPOLL_CTL_MOD, c.fd, i, true);
    }

    template <class Load>
    void run(Load& load) {
        std::uint64_t now = now_ns();
        for (std::size_t i = 0; i < conns_.size(); ++i) load.start(i, now);
        std::uint64_t last_progress = now;
        std::array<epoll_event, 256> events{};
        while (busy_ > 0) {
            const int n = ::epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), 100);
            now = now_ns();
            if (n < 0 && errno != EINTR) throw fatal_error(std::string("epoll_wait: ") + std::strerror(errno));
            for (int k = 0; k < n; ++k) {
                const std::size_t i = events[static_cast<std::size_t>(k)].data.u64;
                const auto what = events[static_cast<std::size_t>(k)].events;
                if ((what & EPOLLOUT) != 0) flush(i);
                if ((what & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && on_readable(load, i, now)) last_progress = now;
            }
            if (now - last_progress > stall_ns_) fail_all_in_flight(load, now);
        }
    }

private:
    struct conn {
        int fd = -1;
        http_reader reader;
        std::string pending;  // request bytes the socket did not take yet
        std::size_t pending_off = 0;
        bool in_flight = false;
    };

    void open(std::size_t i) {
        conn& c = conns_[i];
        c.fd = connect_tcp(ep_, 0);
        c.reader.reset();
        c.pending.clear();
        set_epoll(epfd_, EPOLL_CTL_ADD, c.fd, i, false);
    }
    void close_conn(std::size_t i) {
        conn& c = conns_[i];
        if (c.fd >= 0) ::close(c.fd);
        c.fd = -1;
    }
    void flush(std::size_t i) {
        conn& c = conns_[i];
        if (c.fd < 0) return;
        while (c.pending_off < c.pending.size()) {
            const auto n = ::send(c.fd, c.pending.data() + c.pending_off, c.pending.size() - c.pending_off, MSG_NOSIGNAL);
            if (n <= 0) return;  // full again (EPOLLOUT stays armed), or broken (seen on read)
            c.pending_off += static_cast<std::size_t>(n);
        }
        c.pending.clear();
        c.pending_off = 0;
        set_epoll(epfd_, EPOLL_CTL_MOD, c.fd, i, false);
    }

    /// Ends connection i's request (in flight) with an answer and lets the load go on.
    template <class Load>
    void complete(Load& load, std::size_t i, std::uint64_t now, int status, std::string_view body) {
        conns_[i].in_flight = false;
        --busy_;
        load.on_response(i, now, status, body);
        if (!conns_[i].in_flight) load.start(i, now);
    }

    /// Reads what connection i has; true when a request completed.
    template <class Load>
    bool on_readable(Load& load, std::size_t i, std::uint64_t now) {
        conn& c = conns_[i];
        if (c.fd < 0) return false;
        const auto n = ::recv(c.fd, read_buffer.data(), read_buffer.size(), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
        const bool eof = n <= 0;
        const bool ok = eof ? c.reader.finish() : c.reader.feed(read_buffer.data(), static_cast<std::size_t>(n));
        if (!c.in_flight) {
            // Idle: the server closed a keep-alive connection (fine, reopened when needed), or
            // sent bytes nobody asked for.
            if (!eof) errors.add("unsolicited bytes on an idle HTTP connection: " + excerpt({read_buffer.data(), static_cast<std::size_t>(n)}));
            close_conn(i);
            return false;
        }
        if (!ok || c.reader.completed > 1) {
            close_conn(i);
            complete(load, i, now, 0, "malformed HTTP response");
            return true;
        }
        if (c.reader.completed == 1) {
            // The body moves to a scratch buffer (a swap: both keep their capacity) so that the
            // load may send the next request, even on a reopened connection, while reading it.
            scratch_.swap(c.reader.body);
            if (eof || !c.reader.keep_alive) close_conn(i);
            complete(load, i, now, c.reader.status, scratch_);
            return true;
        }
        if (eof) {
            close_conn(i);
            complete(load, i, now, 0, "connection closed during a request");
            return true;
        }
        return false;
    }

    template <class Load>
    void fail_all_in_flight(Load& load, std::uint64_t now) {
        std::cerr << "bench_load: no answer for " << ns_to_seconds(stall_ns_) << " s; giving up on " << busy_
                  << " requests\n";
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            if (!conns_[i].in_flight) continue;
            close_conn(i);
            conns_[i].in_flight = false;
            --busy_;
            load.on_response(i, now, 0, "timed out");
        }
        aborted = true;
    }

    const endpoint& ep_;
    int epfd_;
    std::vector<conn> conns_;
    std::uint64_t stall_ns_;
    std::size_t busy_ = 0;
    std::string scratch_;
};

/// Checks an HTTP answer: a 2xx status; counts and describes the error otherwise.
bool check_status(int status, std::string_view body, std::string_view what) {
    if (status / 100 == 2) return true;
    if (status == 0) {
        errors.add(std::string(what) + ": " + std::string(body));
    } else {
        errors.add(std::string(what) + ": HTTP " + std::to_string(status) + ": " + excerpt(body));
    }
    return false;
}

// ---- message shapes ---------------------------------------------------------------------------

/// How an integer is written inside a message: decimal digits (JSON ids, and the timestamps in
/// event text in every encoding) or a BARE uint (unsigned LEB128).
enum class int_form { decimal, leb128 };

void append_int(std::string& out, std::uint64_t n, int_form form) {
    if (form == int_form::decimal) return append_decimal(out, n);
    do {
        auto byte = static_cast<char>(n & 0x7f);
        n >>= 7;
        if (n != 0) byte = static_cast<char>(byte | 0x80);
        out += byte;
    } while (n != 0);
}

std::optional<std::uint64_t> parse_int(std::string_view s, int_form form) {
    if (s.empty()) return std::nullopt;
    std::uint64_t n = 0;
    if (form == int_form::decimal) {
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
        return n;
    }
    if (s.size() > 10) return std::nullopt;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto b = static_cast<std::uint8_t>(s[i]);
        n |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) return i + 1 == s.size() ? std::optional(n) : std::nullopt;
    }
    return std::nullopt;
}

/// The bytes of one message with one variable integer: a prefix and a suffix around it. Built
/// by encoding a sample message with a sentinel integer through the protocol module, so it is
/// exactly what that module writes. Used both ways: to write requests without the encoder
/// (write) and to recognise answers without the decoder (match); a message of any other shape
/// goes through the full decoder instead.
struct message_shape {
    std::string prefix;
    std::string suffix;
    int_form form = int_form::decimal;
    bool usable = false;

    static constexpr std::uint64_t sentinel_id = 0x1234567890ABCull;

    static message_shape of(std::string encoded, std::uint64_t sentinel, int_form form) {
        message_shape s;
        s.form = form;
        std::string needle;
        append_int(needle, sentinel, form);
        const auto pos = encoded.find(needle);
        if (pos == std::string::npos || encoded.find(needle, pos + 1) != std::string::npos) return s;
        s.prefix = encoded.substr(0, pos);
        s.suffix = encoded.substr(pos + needle.size());
        s.usable = true;
        return s;
    }

    void write(std::string& out, std::uint64_t n) const {
        out += prefix;
        append_int(out, n, form);
        out += suffix;
    }
    [[nodiscard]] std::size_t size_for(std::uint64_t n) const {
        std::size_t digits = 0;
        if (form == int_form::decimal) {
            do {
                ++digits;
                n /= 10;
            } while (n != 0);
        } else {
            do {
                ++digits;
                n >>= 7;
            } while (n != 0);
        }
        return prefix.size() + digits + suffix.size();
    }
    [[nodiscard]] std::optional<std::uint64_t> match(std::string_view msg) const {
        if (!usable || msg.size() <= prefix.size() + suffix.size()) return std::nullopt;
        if (msg.substr(0, prefix.size()) != prefix || msg.substr(msg.size() - suffix.size()) != suffix) {
            return std::nullopt;
        }
        return parse_int(msg.substr(prefix.size(), msg.size() - prefix.size() - suffix.size()), form);
    }
};

/// An ActionRequest {id, name, args} in `enc`, with the id left variable.
message_shape action_request_shape(protocol::encoding enc, const std::string& name, rivetkit::array args) {
    const auto form = enc == protocol::encoding::bare ? int_form::leb128 : int_form::decimal;
    auto shape = message_shape::of(
        protocol::encode_to_server(enc, protocol::action_request{message_shape::sentinel_id, name, std::move(args)}),
        message_shape::sentinel_id, form);
    if (!shape.usable) throw fatal_error("cannot build the ActionRequest template");
    return shape;
}

/// An ActionResponse {id, output} in `enc`, with the id left variable.
message_shape action_response_shape(protocol::encoding enc, value output) {
    const auto form = enc == protocol::encoding::bare ? int_form::leb128 : int_form::decimal;
    return message_shape::of(
        protocol::encode_to_client(enc, protocol::action_response{message_shape::sentinel_id, std::move(output)}),
        message_shape::sentinel_id, form);
}

// ---- WebSocket connections --------------------------------------------------------------------

/// Client frames are masked (RFC 6455 §5.3); a cheap xorshift gives each frame its own key.
net::ws_mask_key next_mask() noexcept {
    static std::uint64_t state = 0x9E3779B97F4A7C15ull ^ now_ns();
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return {static_cast<std::uint8_t>(state), static_cast<std::uint8_t>(state >> 8),
            static_cast<std::uint8_t>(state >> 16), static_cast<std::uint8_t>(state >> 24)};
}

/// One RivetKit WebSocket connection (/gateway/<id>/connect).
struct ws_conn {
    int fd = -1;
    net::frame_parser parser{false, 64u << 20};
    std::string out;  // frames not sent yet
    std::size_t out_off = 0;
    bool out_armed = false;  // EPOLLOUT registered
};

/// Appends one masked frame whose payload `write(out)` appends (`size` bytes), so requests are
/// written straight into the output buffer.
template <class Write>
void queue_frame(ws_conn& c, net::ws_opcode op, std::size_t size, Write&& write) {
    const auto mask = next_mask();
    std::uint8_t header[net::ws_max_frame_header];
    const auto header_size = net::write_ws_frame_header(header, op, true, size, mask);
    c.out.append(reinterpret_cast<const char*>(header), header_size);
    const std::size_t start = c.out.size();
    write(c.out);
    net::apply_ws_mask({reinterpret_cast<std::uint8_t*>(c.out.data() + start), size}, mask);
}

void queue_frame(ws_conn& c, net::ws_opcode op, std::string_view payload) {
    queue_frame(c, op, payload.size(), [&](std::string& out) { out += payload; });
}

net::ws_opcode data_opcode(protocol::encoding enc) {
    return protocol::uses_text_frames(enc) ? net::ws_opcode::text : net::ws_opcode::binary;
}

/// Opens a connection with a blocking handshake and reads the server's Init; the socket is
/// then non-blocking and registered in `epfd` under `index`.
void ws_open(ws_conn& c, const endpoint& ep, std::string_view actor_id, protocol::encoding enc, int epfd,
             std::size_t index) {
    c.fd = connect_tcp(ep, 30);
    const auto key = net::make_websocket_key();
    const std::vector<std::string> protocols{"rivet", "rivet_encoding." + std::string(protocol::to_string(enc))};
    std::string request = "GET /gateway/" + std::string(actor_id) + "/connect HTTP/1.1\r\nHost: " + ep.host_header + "\r\n";
    for (const auto& [name, v] : net::websocket_request_headers(key, protocols)) request += name + ": " + v + "\r\n";
    request += "\r\n";
    write_all(c.fd, request);

    net::http_parser head(net::http_parser::kind::response);
    bool upgraded = false;
    bool have_init = false;
    while (!have_init) {
        const auto n = ::recv(c.fd, read_buffer.data(), read_buffer.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw fatal_error("WebSocket handshake: connection closed or timed out");
        std::size_t used = 0;  // bytes of this read that belong to the HTTP head
        if (!upgraded) {
            bool head_done = false;
            while (used < static_cast<std::size_t>(n) && !head_done) {
                const auto r = head.feed({read_buffer.data() + used, static_cast<std::size_t>(n) - used});
                used += r.consumed;
                if (r.what == net::http_parser::event::error) throw fatal_error("WebSocket handshake: bad HTTP answer");
                head_done = r.what == net::http_parser::event::message_complete;
            }
            if (!head_done) continue;
            if (head.status() != 101 || !head.upgrade()) {
                throw fatal_error("WebSocket handshake answered " + std::to_string(head.status()) + ": " +
                                  excerpt(head.body()));
            }
            if (auto why = net::check_websocket_accept(head.status(), head.headers(), key, protocols)) {
                throw fatal_error("WebSocket handshake refused: " + *why);
            }
            upgraded = true;
        }
        // Frames after the head: the first message must be Init.
        std::span<std::uint8_t> input(reinterpret_cast<std::uint8_t*>(read_buffer.data()) + used,
                                      static_cast<std::size_t>(n) - used);
        for (;;) {
            const auto ev = c.parser.parse(input);
            if (ev == net::frame_parser::event::need_more) break;
            if (ev != net::frame_parser::event::message) throw fatal_error("WebSocket: closed before Init");
            if (have_init) {
                errors.add("WebSocket: a message right after Init, before any request");
                continue;
            }
            const auto msg = protocol::decode_to_client(enc, c.parser.message());
            if (!std::holds_alternative<protocol::init_message>(msg)) throw fatal_error("WebSocket: the first message is not Init");
            have_init = true;
        }
    }
    timeval none{0, 0};
    ::setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    ::setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
    ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    set_epoll(epfd, EPOLL_CTL_ADD, c.fd, index, false);
}

/// Sends what connection i has queued; arms EPOLLOUT for the rest.
void ws_flush(int epfd, ws_conn& c, std::size_t index) {
    if (c.fd < 0) return;
    while (c.out_off < c.out.size()) {
        const auto n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n <= 0) break;  // full (wait for EPOLLOUT) or broken (seen on the read side)
        c.out_off += static_cast<std::size_t>(n);
    }
    const bool rest = c.out_off < c.out.size();
    if (!rest) {
        c.out.clear();
        c.out_off = 0;
    }
    if (rest != c.out_armed) {
        set_epoll(epfd, EPOLL_CTL_MOD, c.fd, index, rest);
        c.out_armed = rest;
    }
}

/// The WebSocket event loop over `conns`, until `h.done(now)`. The handler:
///   void on_message(std::size_t conn, std::uint64_t now, std::string& payload)  may queue
///        frames on that same connection; they are sent when its input is processed
///   void on_closed(std::size_t conn)    the connection is gone (already counted as an error)
///   bool done(std::uint64_t now)
/// Gives up (an error) after `stall_s` without any message.
template <class Handler>
void ws_loop(int epfd, std::vector<ws_conn>& conns, Handler& h, double stall_s) {
    const auto stall_ns = seconds_to_ns(stall_s);
    std::uint64_t now = now_ns();
    std::uint64_t last_progress = now;
    std::array<epoll_event, 256> events{};
    auto drop = [&](std::size_t i, std::string_view why) {
        errors.add(why);
        ::close(conns[i].fd);
        conns[i].fd = -1;
        h.on_closed(i);
    };
    while (!h.done(now)) {
        const int n = ::epoll_wait(epfd, events.data(), static_cast<int>(events.size()), 20);
        now = now_ns();
        if (n < 0 && errno != EINTR) throw fatal_error(std::string("epoll_wait: ") + std::strerror(errno));
        if (now - last_progress > stall_ns) {
            errors.add("no message for " + std::to_string(static_cast<long>(stall_s)) + " s: giving up");
            return;
        }
        for (int k = 0; k < n; ++k) {
            const std::size_t i = events[static_cast<std::size_t>(k)].data.u64;
            ws_conn& c = conns[i];
            if (c.fd < 0) continue;
            const auto what = events[static_cast<std::size_t>(k)].events;
            if ((what & EPOLLOUT) != 0) ws_flush(epfd, c, i);
            if ((what & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0) continue;
            const auto got = ::recv(c.fd, read_buffer.data(), read_buffer.size(), 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0) {
                drop(i, "WebSocket connection closed by the server");
                continue;
            }
            std::span<std::uint8_t> input(reinterpret_cast<std::uint8_t*>(read_buffer.data()), static_cast<std::size_t>(got));
            bool open = true;
            while (open) {
                switch (c.parser.parse(input)) {
                    case net::frame_parser::event::need_more: open = false; break;
                    case net::frame_parser::event::message:
                        last_progress = now;
                        h.on_message(i, now, c.parser.message());
                        break;
                    case net::frame_parser::event::ping: queue_frame(c, net::ws_opcode::pong, c.parser.control_payload()); break;
                    case net::frame_parser::event::pong: break;
                    case net::frame_parser::event::close:
                        drop(i, "WebSocket closed by the server: " + std::to_string(c.parser.close_code()) + " " +
                                    std::string(c.parser.close_reason()));
                        open = false;
                        break;
                    case net::frame_parser::event::error:
                        drop(i, "bad WebSocket frame: " + std::string(c.parser.error_reason()));
                        open = false;
                        break;
                }
            }
            if (c.fd >= 0) ws_flush(epfd, c, i);
        }
    }
}

/// What the full decoder made of a server message, with the error counted when it failed.
std::optional<protocol::to_client> decode_or_count(protocol::encoding enc, std::string_view payload) {
    try {
        return protocol::decode_to_client(enc, payload);
    } catch (const std::exception& e) {
        errors.add(std::string("undecodable WebSocket message: ") + e.what());
        return std::nullopt;
    }
}

/// Everything a WebSocket workload needs: an epoll set and its connections.
struct ws_set {
    int epfd = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<ws_conn> conns;
    explicit ws_set(std::size_t n) : conns(n) {}
    ~ws_set() {
        close_all();
        ::close(epfd);
    }

    /// The teardown, after the measurement: a close frame (1000) on every connection, then up
    /// to 2 s for the server to close its side, so that servers see (and log) normal closes.
    void close_all() {
        const std::string payload = net::make_ws_close_payload(net::ws_close::normal, "");
        std::size_t open = 0;
        for (std::size_t i = 0; i < conns.size(); ++i) {
            ws_conn& c = conns[i];
            if (c.fd < 0) continue;
            c.out.clear();
            c.out_off = 0;
            queue_frame(c, net::ws_opcode::close, payload);
            if (::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(c.out.size())) {
                ::close(c.fd);
                c.fd = -1;
                continue;
            }
            ++open;
        }
        const std::uint64_t deadline = now_ns() + seconds_to_ns(2);
        std::array<epoll_event, 256> events{};
        while (open > 0 && now_ns() < deadline) {
            const int n = ::epoll_wait(epfd, events.data(), static_cast<int>(events.size()), 50);
            for (int k = 0; k < n; ++k) {
                ws_conn& c = conns[events[static_cast<std::size_t>(k)].data.u64];
                if (c.fd < 0) continue;
                const auto got = ::recv(c.fd, read_buffer.data(), read_buffer.size(), 0);  // discarded
                if (got > 0 || (got < 0 && (errno == EAGAIN || errno == EINTR))) continue;
                ::close(c.fd);
                c.fd = -1;
                --open;
            }
        }
        for (auto& c : conns) {
            if (c.fd >= 0) ::close(c.fd);
            c.fd = -1;
        }
    }
    ws_set(const ws_set&) = delete;
    ws_set& operator=(const ws_set&) = delete;
};

// ---- workload: http ---------------------------------------------------------------------------

/// A time-based measurement window: ops that start after the warmup and complete before the
/// end are counted; none start after the end.
struct window {
    std::uint64_t measure_from;
    std::uint64_t end;
    window(double warmup, double duration) {
        measure_from = now_ns() + seconds_to_ns(warmup);
        end = measure_from + seconds_to_ns(duration);
    }
    [[nodiscard]] bool counts(std::uint64_t started, std::uint64_t finished) const {
        return started >= measure_from && finished <= end;
    }
};

int run_http(const options& o, const endpoint& ep) {
    const std::size_t conns = o.conns.value_or(32);
    const bool ceiling = !o.path.empty();
    std::string target = o.path;
    if (!ceiling) {
        const std::string key = o.key.empty() ? "http" : o.key;
        target = "/gateway/" + resolve_actor(ep, "counter", key) + "/action/" + o.action;
    }
    const auto enc = ceiling ? protocol::encoding::json : o.encoding;
    std::string request;
    append_request(request, ep, "POST", {target}, protocol::to_string(enc), protocol::content_type(enc),
                   {protocol::encode_http_action_request(enc, {})});
    http_pool pool(ep, conns, o.timeout);

    // The closed loop: each connection sends the same request bytes again as soon as it has
    // the answer to the last one.
    struct load_t {
        http_pool& pool;
        std::string request;
        protocol::encoding enc;
        bool check_pong;  // ping answers "pong"; other actions and --path are not checked
        std::string pong_bytes = protocol::encode_http_action_response(enc, value("pong"));
        std::vector<std::uint64_t> started = std::vector<std::uint64_t>(pool.size());
        histogram hist{};
        window w;

        void start(std::size_t i, std::uint64_t now) {
            if (now >= w.end || pool.aborted) return;
            started[i] = now;
            pool.send(i, request);
        }
        void on_response(std::size_t i, std::uint64_t now, int status, std::string_view body) {
            if (!check_status(status, body, "POST action")) return;
            if (check_pong && !output_is(enc, body, pong_bytes, value("pong"))) {
                return errors.add("unexpected action output: " + excerpt(body));
            }
            if (w.counts(started[i], now)) hist.record(now - started[i]);
        }
    } load{.pool = pool,
           .request = std::move(request),
           .enc = enc,
           .check_pong = !ceiling && o.action == "ping",
           .w = window(o.warmup, o.duration)};
    pool.run(load);

    const double secs = o.duration;
    result_line r;
    r.str("workload", "http").str("encoding", protocol::to_string(enc));
    if (ceiling) {
        r.str("path", o.path);
    } else {
        r.str("action", o.action);
    }
    r.num("conns", std::uint64_t{conns})
        .num("ops", load.hist.total())
        .num("seconds", secs, 3)
        .num("ops_per_s", static_cast<double>(load.hist.total()) / secs)
        .latencies(load.hist)
        .num("errors", errors.count);
    r.print();
    return errors.count == 0 ? 0 : 1;
}

// ---- workload: ws -----------------------------------------------------------------------------

int run_ws(const options& o, const endpoint& ep) {
    const std::size_t conns = o.conns.value_or(1);
    const std::size_t actors = o.actors == 0 ? 1 : o.actors;
    const std::size_t inflight = o.inflight == 0 ? 1 : o.inflight;
    const auto enc = o.encoding;

    std::vector<std::string> actor_ids;
    for (std::size_t a = 0; a < actors; ++a) actor_ids.push_back(resolve_actor(ep, "counter", "ws-" + std::to_string(a)));
    ws_set set(conns);
    for (std::size_t i = 0; i < conns; ++i) ws_open(set.conns[i], ep, actor_ids[i % actors], enc, set.epfd, i);

    // Each connection keeps K requests in flight, in K slots: slot s of connection i is index
    // i*K+s and sends the ids s, s+K, s+2K, ..., so an answer's id names its slot even when
    // answers come out of order.
    struct handler_t {
        ws_set& set;
        protocol::encoding enc;
        std::size_t inflight;
        std::string action;
        window w;
        bool check_pong = action == "ping";  // ping answers "pong"; other actions are not checked
        message_shape request = action_request_shape(enc, action, {});
        message_shape pong_shape = action_response_shape(enc, value("pong"));
        net::ws_opcode opcode = data_opcode(enc);
        std::size_t slots = set.conns.size() * inflight;
        std::vector<std::uint64_t> slot_id = std::vector<std::uint64_t>(slots);
        std::vector<std::uint64_t> slot_sent = std::vector<std::uint64_t>(slots);
        std::vector<bool> slot_busy = std::vector<bool>(slots);
        std::size_t in_flight = 0;
        std::uint64_t fallback_decodes = 0;
        histogram hist{};

        void send(std::size_t i, std::size_t s, std::uint64_t now) {
            const std::size_t slot = i * inflight + s;
            slot_sent[slot] = now;
            slot_busy[slot] = true;
            ++in_flight;
            const auto id = slot_id[slot];
            queue_frame(set.conns[i], opcode, request.size_for(id), [&](std::string& out) { request.write(out, id); });
        }
        void start(std::uint64_t now) {
            for (std::size_t i = 0; i < set.conns.size(); ++i) {
                for (std::size_t s = 0; s < inflight; ++s) {
                    slot_id[i * inflight + s] = s;
                    send(i, s, now);
                }
                ws_flush(set.epfd, set.conns[i], i);
            }
        }
        /// The answer to request `id` on connection i (ok: an ActionResponse as expected).
        void answer(std::size_t i, std::uint64_t now, std::uint64_t id, bool ok) {
            const auto s = static_cast<std::size_t>(id % inflight);
            const std::size_t slot = i * inflight + s;
            if (!slot_busy[slot] || slot_id[slot] != id) return errors.add("an answer to an unknown request id");
            slot_busy[slot] = false;
            --in_flight;
            if (ok && w.counts(slot_sent[slot], now)) hist.record(now - slot_sent[slot]);
            slot_id[slot] = id + inflight;
            if (now < w.end) send(i, s, now);
        }
        void on_message(std::size_t i, std::uint64_t now, std::string& payload) {
            if (check_pong) {
                if (auto id = pong_shape.match(payload)) return answer(i, now, *id, true);
            }
            ++fallback_decodes;
            auto msg = decode_or_count(enc, payload);
            if (!msg) return;
            if (auto* r = std::get_if<protocol::action_response>(&*msg)) {
                const bool ok = !check_pong || r->output == value("pong");
                if (!ok) errors.add("unexpected action output: " + r->output.to_debug_string());
                answer(i, now, r->id, ok);
            } else if (auto* e = std::get_if<protocol::error_message>(&*msg)) {
                errors.add("Error message: " + e->group + "/" + e->code + ": " + e->message);
                if (e->action_id) answer(i, now, *e->action_id, false);
            }
            // Init and events are not expected here, and harmless.
        }
        void on_closed(std::size_t i) {
            for (std::size_t slot = i * inflight; slot < (i + 1) * inflight; ++slot) {
                if (slot_busy[slot]) --in_flight;
                slot_busy[slot] = false;
            }
        }
        [[nodiscard]] bool done(std::uint64_t now) const { return now >= w.end && in_flight == 0; }
    } h{.set = set, .enc = enc, .inflight = inflight, .action = o.action, .w = window(o.warmup, o.duration)};
    h.start(now_ns());
    ws_loop(set.epfd, set.conns, h, o.timeout);
    if (h.fallback_decodes > 0) std::cerr << "bench_load: " << h.fallback_decodes << " messages needed the full decoder\n";

    const double secs = o.duration;
    result_line r;
    r.str("workload", "ws")
        .str("encoding", protocol::to_string(enc))
        .str("action", o.action)
        .num("conns", std::uint64_t{conns})
        .num("actors", std::uint64_t{actors})
        .num("inflight", std::uint64_t{inflight})
        .num("ops", h.hist.total())
        .num("seconds", secs, 3)
        .num("ops_per_s", static_cast<double>(h.hist.total()) / secs)
        .latencies(h.hist)
        .num("errors", errors.count);
    r.print();
    return errors.count == 0 ? 0 : 1;
}

// ---- workload: fanout -------------------------------------------------------------------------

int run_fanout(const options& o, const endpoint& ep) {
    const std::size_t subs = o.conns.value_or(1000);
    const std::size_t messages = o.messages;
    const std::size_t inflight = o.inflight == 0 ? 16 : o.inflight;
    const auto enc = o.encoding;
    const auto opcode = data_opcode(enc);
    const std::string key = o.key.empty() ? "fanout-" + make_run_id() : o.key;
    const std::string actor_id = resolve_actor(ep, "chatRoom", key);

    // Connections 0..subs-1 subscribe to "message"; connection `subs` sends.
    ws_set set(subs + 1);
    const std::string subscribe = protocol::encode_to_server(enc, protocol::subscription_request{"message", true});
    for (std::size_t i = 0; i <= subs; ++i) {
        ws_open(set.conns[i], ep, actor_id, enc, set.epfd, i);
        if (i != subs) {
            queue_frame(set.conns[i], opcode, subscribe);
            ws_flush(set.epfd, set.conns[i], i);
        }
    }
    std::cerr << "bench_load: " << subs << " subscribers connected\n";

    struct handler_t {
        ws_set& set;
        std::size_t subs, messages, inflight;
        protocol::encoding enc;
        net::ws_opcode opcode = data_opcode(enc);

        // Measured events carry {text: "<send time, CLOCK_MONOTONIC ns>"}. Their shape is built
        // with a timestamp of today's digit count, so it matches every event of the run;
        // anything else (probes, errors) goes through the full decoder.
        std::uint64_t stamp_sample = now_ns();
        message_shape event_shape = message_shape::of(
            protocol::encode_to_client(
                enc, protocol::event_message{"message", {rivetkit::object{{"text", value(std::to_string(stamp_sample))}}}}),
            stamp_sample, int_form::decimal);

        // Phase 1, probing: the sender sends sendMessage("probe-<n>") until every subscriber
        // has seen the latest probe. Subscriptions are not acknowledged in the protocol; a
        // subscriber that got a broadcast sent after its subscription is known to be
        // subscribed, and one that saw the latest probe has also drained everything before it.
        bool measuring = false;
        std::uint64_t probes = 0, probe_sent_at = 0;
        std::size_t subs_at_probe = 0;
        std::vector<std::uint64_t> last_probe = std::vector<std::uint64_t>(subs, 0);

        // Phase 2: M messages, at most `inflight` unanswered at a time.
        std::size_t sent = 0, answered = 0;
        std::uint64_t first_message_id = 0;
        std::uint64_t first_send = 0, last_delivery = 0, received = 0, fallback_decodes = 0;
        bool sender_gone = false;
        histogram hist{};

        // The sender sends few messages (M, not conns x M): it uses the encoder for each.
        std::uint64_t next_id = 0;
        void send_action(std::string text) {
            const auto msg =
                protocol::encode_to_server(enc, protocol::action_request{next_id++, "sendMessage", {value(std::move(text))}});
            queue_frame(set.conns[subs], opcode, msg);
        }
        void flush_sender() { ws_flush(set.epfd, set.conns[subs], subs); }

        void probe(std::uint64_t now) {
            ++probes;
            probe_sent_at = now;
            subs_at_probe = 0;
            send_action("probe-" + std::to_string(probes));
            flush_sender();
        }
        void send_message(std::uint64_t now) {
            ++sent;
            send_action(std::to_string(now));
        }
        void delivered(std::uint64_t now, std::uint64_t stamp) {
            hist.record(now > stamp ? now - stamp : 0);
            ++received;
            last_delivery = now;
        }
        void on_subscriber_message(std::size_t i, std::uint64_t now, std::string_view payload) {
            if (auto stamp = event_shape.match(payload)) return delivered(now, *stamp);
            auto msg = decode_or_count(enc, payload);
            if (!msg) return;
            if (auto* e = std::get_if<protocol::error_message>(&*msg)) {
                return errors.add("Error message to a subscriber: " + e->group + "/" + e->code + ": " + e->message);
            }
            auto* ev = std::get_if<protocol::event_message>(&*msg);
            if (ev == nullptr || ev->name != "message") return;
            const value text = ev->args.empty() ? value() : ev->args[0]["text"];
            if (!text.is_string()) return errors.add("a message event without text: " + value(ev->args).to_debug_string());
            const std::string_view t = text.as_string();
            if (auto stamp = parse_int(t, int_form::decimal)) {
                ++fallback_decodes;  // a measured event of another shape than ours
                return delivered(now, *stamp);
            }
            if (t.substr(0, 6) == "probe-") {
                const auto n = parse_int(t.substr(6), int_form::decimal).value_or(0);
                if (n == probes && last_probe[i] != n) ++subs_at_probe;
                last_probe[i] = n;
            }
        }
        void on_sender_message(std::uint64_t now, std::string_view payload) {
            auto msg = decode_or_count(enc, payload);
            if (!msg) return;
            std::optional<std::uint64_t> id;
            if (auto* r = std::get_if<protocol::action_response>(&*msg)) {
                id = r->id;
            } else if (auto* e = std::get_if<protocol::error_message>(&*msg)) {
                errors.add("sendMessage failed: " + e->group + "/" + e->code + ": " + e->message);
                id = e->action_id;
            }
            // A probe's answer may come after the switch to measuring: ids tell them apart.
            if (!id || !measuring || *id < first_message_id) return;
            ++answered;
            if (sent < messages) send_message(now);
        }
        void on_message(std::size_t i, std::uint64_t now, std::string& payload) {
            if (i == subs) return on_sender_message(now, payload);
            on_subscriber_message(i, now, payload);
        }
        void on_closed(std::size_t i) {
            if (i == subs) sender_gone = true;
        }
        bool done(std::uint64_t now) {
            if (sender_gone) return true;
            if (!measuring) {
                if (probes > 0 && subs_at_probe == subs) {
                    measuring = true;
                    first_send = now;
                    first_message_id = next_id;
                    while (sent < std::min(inflight, messages)) send_message(now);
                    flush_sender();
                } else if (probes == 0 || now - probe_sent_at > 500'000'000u) {
                    if (probes == 60) throw fatal_error("subscribers still miss probes after 30 s");
                    probe(now);
                }
                return false;
            }
            return answered == messages && received >= subs * messages;
        }
    } h{.set = set, .subs = subs, .messages = messages, .inflight = inflight, .enc = enc};

    ws_loop(set.epfd, set.conns, h, o.timeout);
    if (h.fallback_decodes > 0) std::cerr << "bench_load: " << h.fallback_decodes << " events needed the full decoder\n";
    std::cerr << "bench_load: subscriptions confirmed after " << h.probes << " probe(s)\n";
    const std::uint64_t expected = subs * messages;
    if (h.received != expected) {
        errors.add("events: expected " + std::to_string(expected) + ", received " + std::to_string(h.received));
    }

    const double secs = h.last_delivery > h.first_send ? ns_to_seconds(h.last_delivery - h.first_send) : 0;
    const double rate = secs > 0 ? static_cast<double>(h.received) / secs : 0;
    result_line r;
    r.str("workload", "fanout")
        .str("encoding", protocol::to_string(enc))
        .num("conns", std::uint64_t{subs})
        .num("messages", std::uint64_t{messages})
        .num("inflight", std::uint64_t{inflight})
        .num("events_expected", expected)
        .num("events_received", h.received)
        .num("ops", h.received)
        .num("seconds", secs, 3)
        .num("ops_per_s", rate)
        .num("events_per_s", rate)
        .latencies(h.hist)
        .num("errors", errors.count);
    r.print();
    return errors.count == 0 ? 0 : 1;
}

// ---- workloads: create and wake ---------------------------------------------------------------

/// VmRSS of a process in KiB (0 when unreadable).
std::uint64_t rss_kib(long pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
    }
    return 0;
}

/// Reads a PUT /actors answer: the actor id, or empty (and an error counted).
std::string_view created_actor_id(int status, std::string_view body, bool must_be_new) {
    if (!check_status(status, body, "PUT /actors")) return {};
    const auto id = json_string_field(body, "actor_id");
    if (!is_url_safe_id(id)) {
        errors.add("PUT /actors answered no usable actor_id: " + excerpt(body));
        return {};
    }
    if (must_be_new && json_literal_field(body, "created") != "true") {
        errors.add("PUT /actors found an existing actor for a fresh key: " + excerpt(body));
    }
    return id;
}

int run_create(const options& o, const endpoint& ep) {
    const std::size_t conns = o.conns.value_or(32);
    http_pool pool(ep, conns, o.timeout);

    // Each op: PUT /actors with a fresh key, then getCount on the new actor (which must answer
    // 0) on the same connection. Requests are written into per-connection buffers.
    struct load_t {
        http_pool& pool;
        const endpoint& ep;
        protocol::encoding enc;
        std::size_t count;
        std::string run_id = make_run_id();
        std::string no_args = protocol::encode_http_action_request(enc, {});
        std::string zero_bytes = protocol::encode_http_action_response(enc, value(0));
        struct worker {
            std::string request;
            std::string key;
            std::uint64_t started = 0;
            bool put_done = false;
        };
        std::vector<worker> workers = std::vector<worker>(pool.size());
        std::size_t next = 0, created = 0;
        std::uint64_t t_first = now_ns(), t_last = t_first;
        histogram hist{};

        void start(std::size_t i, std::uint64_t now) {
            if (next >= count || pool.aborted) return;
            worker& w = workers[i];
            w.key.clear();
            w.key += "c-";
            w.key += run_id;
            w.key += '-';
            append_decimal(w.key, next++);
            w.started = now;
            w.put_done = false;
            w.request.clear();
            append_put_actor(w.request, ep, "counter", w.key);
            pool.send(i, w.request);
        }
        void on_response(std::size_t i, std::uint64_t now, int status, std::string_view body) {
            worker& w = workers[i];
            if (!w.put_done) {
                const auto id = created_actor_id(status, body, true);
                if (id.empty()) return;
                w.put_done = true;
                w.request.clear();
                append_action_request(w.request, ep, enc, id, "getCount", no_args);
                return pool.send(i, w.request);
            }
            if (!check_status(status, body, "getCount")) return;
            if (!output_is(enc, body, zero_bytes, value(0))) return errors.add("getCount of a new actor: " + excerpt(body));
            ++created;
            hist.record(now - w.started);
            t_last = now;
        }
    } load{.pool = pool, .ep = ep, .enc = o.encoding, .count = o.count};

    const std::uint64_t rss_before = o.server_pid > 0 ? rss_kib(o.server_pid) : 0;
    load.t_first = load.t_last = now_ns();
    pool.run(load);
    const std::uint64_t rss_after = o.server_pid > 0 ? rss_kib(o.server_pid) : 0;

    const double secs = ns_to_seconds(load.t_last - load.t_first);
    const double rate = secs > 0 ? static_cast<double>(load.created) / secs : 0;
    result_line r;
    r.str("workload", "create")
        .str("encoding", protocol::to_string(o.encoding))
        .num("count", std::uint64_t{o.count})
        .num("conns", std::uint64_t{conns})
        .num("ops", std::uint64_t{load.created})
        .num("seconds", secs, 3)
        .num("ops_per_s", rate)
        .num("actors_per_s", rate)
        .latencies(load.hist);
    if (o.server_pid > 0) {
        const double delta_bytes = (static_cast<double>(rss_after) - static_cast<double>(rss_before)) * 1024.0;
        r.num("rss_before_kib", rss_before)
            .num("rss_after_kib", rss_after)
            .num("rss_per_actor_bytes", o.count == 0 ? 0.0 : delta_bytes / static_cast<double>(o.count), 0);
    }
    r.num("errors", errors.count);
    r.print();
    return errors.count == 0 ? 0 : 1;
}

/// A sanity check of the setup, not a measurement: asks the manager API about up to 32 of the
/// actors (spread over all) and tells on stderr how many report a sleep_ts, i.e. whether the
/// settle delay was long enough. Servers that do not fill sleep_ts just show 0.
void report_sleep_state(const endpoint& ep, const std::vector<std::string>& ids) {
    std::string list;
    std::size_t sampled = 0;
    const std::size_t step = std::max<std::size_t>(1, ids.size() / 32);
    for (std::size_t i = 0; i < ids.size() && sampled < 32; i += step) {
        if (ids[i].empty()) continue;
        if (!list.empty()) list += ',';
        list += ids[i];
        ++sampled;
    }
    if (sampled == 0) return;
    std::string request = "GET /actors?actor_ids=" + list + "&namespace=default HTTP/1.1\r\nHost: " + ep.host_header + "\r\n\r\n";
    try {
        const auto answer = http_call(ep, request);
        std::size_t asleep = 0;
        std::string_view rest = answer.body;
        for (auto v = json_value_of(rest, "sleep_ts"); !v.empty(); v = json_value_of(rest, "sleep_ts")) {
            if (v[0] >= '0' && v[0] <= '9') ++asleep;
            rest = v;
        }
        std::cerr << "bench_load: " << asleep << " of " << sampled << " sampled actors report a sleep_ts\n";
    } catch (const std::exception& e) {
        std::cerr << "bench_load: could not check the sleep state: " << e.what() << "\n";
    }
}

/// Setup of wake: for each actor, PUT /actors, increment(1) (which must answer 1), goToSleep.
/// Not measured; fills `ids` (an id stays empty when its setup failed, an error counted).
void create_sleeping_actors(const endpoint& ep, protocol::encoding enc, std::vector<std::string>& ids, double timeout) {
    constexpr std::size_t setup_conns = 32;  // as fast as the server goes
    http_pool pool(ep, std::clamp<std::size_t>(ids.size(), 1, setup_conns), timeout);
    struct load_t {
        http_pool& pool;
        const endpoint& ep;
        protocol::encoding enc;
        std::vector<std::string>& ids;
        std::string run_id = make_run_id();
        std::string no_args = protocol::encode_http_action_request(enc, {});
        std::string one_arg = protocol::encode_http_action_request(enc, {value(1)});
        std::string one_bytes = protocol::encode_http_action_response(enc, value(1));
        struct worker {
            std::string request;
            std::size_t item = 0;
            int step = 0;
        };
        std::vector<worker> workers = std::vector<worker>(pool.size());
        std::size_t next = 0;

        void start(std::size_t i, std::uint64_t) {
            if (next >= ids.size() || pool.aborted) return;
            worker& w = workers[i];
            w.item = next++;
            w.step = 0;
            w.request.clear();
            append_put_actor(w.request, ep, "counter", "w-" + run_id + "-" + std::to_string(w.item));
            pool.send(i, w.request);
        }
        void on_response(std::size_t i, std::uint64_t, int status, std::string_view body) {
            worker& w = workers[i];
            std::string& id = ids[w.item];
            w.request.clear();
            switch (w.step++) {
                case 0:  // PUT /actors
                    id = created_actor_id(status, body, true);
                    if (id.empty()) return;
                    append_action_request(w.request, ep, enc, id, "increment", one_arg);
                    return pool.send(i, w.request);
                case 1:  // increment(1)
                    if (!check_status(status, body, "increment") || !output_is(enc, body, one_bytes, value(1))) {
                        if (status / 100 == 2) errors.add("increment(1) of a new actor answered " + excerpt(body));
                        id.clear();
                        return;
                    }
                    append_action_request(w.request, ep, enc, id, "goToSleep", no_args);
                    return pool.send(i, w.request);
                default:  // goToSleep
                    if (!check_status(status, body, "goToSleep")) id.clear();
            }
        }
    } load{.pool = pool, .ep = ep, .enc = enc, .ids = ids};
    pool.run(load);
}

int run_wake(const options& o, const endpoint& ep) {
    const std::size_t conns = o.conns.value_or(8);
    std::vector<std::string> ids(o.actors == 0 ? 1000 : o.actors);

    const auto t = now_ns();
    create_sleeping_actors(ep, o.encoding, ids, o.timeout);
    std::cerr << "bench_load: created " << ids.size() << " actors and put them to sleep in " << ns_to_seconds(now_ns() - t)
              << " s; settling " << o.settle << " s\n";
    // The documented settle delay of the setup: goToSleep answers before the actor has stopped.
    if (o.settle > 0) {
        const auto ns = seconds_to_ns(o.settle);
        timespec ts{static_cast<time_t>(ns / 1'000'000'000u), static_cast<long>(ns % 1'000'000'000u)};
        while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    report_sleep_state(ep, ids);

    // Measured: one getCount per actor (which must still answer 1: the state survived the
    // sleep), `conns` at a time, on fresh connections.
    http_pool pool(ep, conns, o.timeout);
    struct load_t {
        http_pool& pool;
        const endpoint& ep;
        protocol::encoding enc;
        const std::vector<std::string>& ids;
        std::string no_args = protocol::encode_http_action_request(enc, {});
        std::string one_bytes = protocol::encode_http_action_response(enc, value(1));
        struct worker {
            std::string request;
            std::uint64_t started = 0;
        };
        std::vector<worker> workers = std::vector<worker>(pool.size());
        std::size_t next = 0, woken = 0;
        std::uint64_t t_first = now_ns(), t_last = t_first;
        histogram hist{};

        void start(std::size_t i, std::uint64_t now) {
            while (next < ids.size() && ids[next].empty()) ++next;  // its setup failed (counted)
            if (next >= ids.size() || pool.aborted) return;
            worker& w = workers[i];
            w.request.clear();
            append_action_request(w.request, ep, enc, ids[next++], "getCount", no_args);
            w.started = now;
            pool.send(i, w.request);
        }
        void on_response(std::size_t i, std::uint64_t now, int status, std::string_view body) {
            if (!check_status(status, body, "getCount (wake)")) return;
            if (!output_is(enc, body, one_bytes, value(1))) return errors.add("a woken actor lost its state: " + excerpt(body));
            ++woken;
            hist.record(now - workers[i].started);
            t_last = now;
        }
    } load{.pool = pool, .ep = ep, .enc = o.encoding, .ids = ids};
    load.t_first = load.t_last = now_ns();
    pool.run(load);

    const double secs = ns_to_seconds(load.t_last - load.t_first);
    const double rate = secs > 0 ? static_cast<double>(load.woken) / secs : 0;
    result_line r;
    r.str("workload", "wake")
        .str("encoding", protocol::to_string(o.encoding))
        .num("actors", std::uint64_t{ids.size()})
        .num("conns", std::uint64_t{conns})
        .num("settle_s", o.settle, 1)
        .num("ops", std::uint64_t{load.woken})
        .num("seconds", secs, 3)
        .num("ops_per_s", rate)
        .num("wakes_per_s", rate)
        .latencies(load.hist)
        .num("errors", errors.count);
    r.print();
    return errors.count == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_options(argc, argv);
    const endpoint ep = parse_endpoint(o.endpoint);
    std::signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    try {
        if (o.workload == "http") return run_http(o, ep);
        if (o.workload == "ws") return run_ws(o, ep);
        if (o.workload == "fanout") return run_fanout(o, ep);
        if (o.workload == "create") return run_create(o, ep);
        if (o.workload == "wake") return run_wake(o, ep);
        usage("unknown workload " + o.workload);
    } catch (const std::exception& e) {
        std::cerr << "bench_load: " << o.workload << ": " << e.what() << "\n";
        return 2;
    }
}
