#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "common/log_format.hpp"
#include "rivetkit/log.hpp"

using rivetkit::log_level;
using rivetkit::logger;

namespace {

// Drops "ts=... " so that exact-line checks hold whether or not LOG_TIMESTAMP is set for the
// test run (the environment is read once per process and cannot be changed by a test).
std::string without_timestamp(std::string line) {
    if (line.rfind("ts=", 0) == 0) line.erase(0, line.find(' ') + 1);
    return line;
}

// Puts the default sink and level back however a test ends.
struct restore_log_defaults {
    restore_log_defaults() = default;
    ~restore_log_defaults() {
        rivetkit::set_log_sink(nullptr);
        rivetkit::set_log_level(std::nullopt);
    }
    restore_log_defaults(const restore_log_defaults&) = delete;
    restore_log_defaults& operator=(const restore_log_defaults&) = delete;
};

// Captures every line while alive, at the given level; restores the defaults afterwards.
struct capture {
    std::vector<std::pair<log_level, std::string>> entries;

    explicit capture(log_level level = log_level::trace) {
        rivetkit::set_log_level(level);
        rivetkit::set_log_sink([this](log_level l, std::string_view line) {
            entries.emplace_back(l, without_timestamp(std::string(line)));
        });
    }
    ~capture() {
        rivetkit::set_log_sink(nullptr);
        rivetkit::set_log_level(std::nullopt);
    }
    capture(const capture&) = delete;
    capture& operator=(const capture&) = delete;

    [[nodiscard]] std::vector<std::string> lines() const {
        std::vector<std::string> out;
        for (const auto& e : entries) out.push_back(e.second);
        return out;
    }
    [[nodiscard]] const std::string& last() const { return entries.back().second; }
};

// Points fd 2 at a temporary file while alive; contents() reads what was written so far.
class stderr_redirect {
public:
    stderr_redirect() {
        file_fd_ = ::mkstemp(path_);
        std::fflush(stderr);
        saved_fd_ = ::dup(STDERR_FILENO);
        ok_ = file_fd_ >= 0 && saved_fd_ >= 0 && ::dup2(file_fd_, STDERR_FILENO) >= 0;
    }
    ~stderr_redirect() {
        restore();
        std::remove(path_);
    }
    stderr_redirect(const stderr_redirect&) = delete;
    stderr_redirect& operator=(const stderr_redirect&) = delete;

    [[nodiscard]] bool ok() const { return ok_; }

    // Restores fd 2 and returns every line written meanwhile.
    std::vector<std::string> finish() {
        restore();
        std::vector<std::string> lines;
        std::ifstream in(path_);
        for (std::string line; std::getline(in, line);) lines.push_back(without_timestamp(line));
        return lines;
    }

private:
    void restore() {
        if (saved_fd_ >= 0) {
            std::fflush(stderr);
            ::dup2(saved_fd_, STDERR_FILENO);
            ::close(saved_fd_);
            saved_fd_ = -1;
        }
        if (file_fd_ >= 0) {
            ::close(file_fd_);
            file_fd_ = -1;
        }
    }

    char path_[32] = "/tmp/rivetkit_log_test_XXXXXX";
    int file_fd_ = -1;
    int saved_fd_ = -1;
    bool ok_ = false;
};

// A fixed instant: 2024-01-02T03:04:05.678901Z.
std::chrono::system_clock::time_point sample_instant() {
    using namespace std::chrono;
    return sys_days{year{2024} / January / 2} + hours{3} + minutes{4} + seconds{5} +
           microseconds{678901};
}

}  // namespace

TEST_CASE("parse_log_level is case-insensitive and strict", "[log]") {
    using rivetkit::parse_log_level;
    CHECK(parse_log_level("trace") == log_level::trace);
    CHECK(parse_log_level("debug") == log_level::debug);
    CHECK(parse_log_level("info") == log_level::info);
    CHECK(parse_log_level("warn") == log_level::warn);
    CHECK(parse_log_level("error") == log_level::error);
    CHECK(parse_log_level("fatal") == log_level::fatal);
    CHECK(parse_log_level("silent") == log_level::silent);
    CHECK(parse_log_level("WaRn") == log_level::warn);
    CHECK(parse_log_level("DEBUG") == log_level::debug);
    CHECK_FALSE(parse_log_level(""));
    CHECK_FALSE(parse_log_level("warning"));
    CHECK_FALSE(parse_log_level(" warn"));
    CHECK_FALSE(parse_log_level("verbose"));
}

TEST_CASE("log_level_name", "[log]") {
    using rivetkit::log_level_name;
    CHECK(log_level_name(log_level::trace) == "TRACE");
    CHECK(log_level_name(log_level::debug) == "DEBUG");
    CHECK(log_level_name(log_level::info) == "INFO");
    CHECK(log_level_name(log_level::warn) == "WARN");
    CHECK(log_level_name(log_level::error) == "ERROR");
    CHECK(log_level_name(log_level::fatal) == "FATAL");
}

TEST_CASE("parse_log_env: LOG_LEVEL, LOG_TIMESTAMP, LOG_TARGET", "[log]") {
    using rivetkit::detail::parse_log_env;
    const auto unset = parse_log_env(nullptr, nullptr, nullptr);
    CHECK(unset.level == log_level::warn);  // the default
    CHECK_FALSE(unset.line.timestamp);
    CHECK_FALSE(unset.line.target);

    CHECK(parse_log_env("", nullptr, nullptr).level == log_level::warn);
    CHECK(parse_log_env("Debug", nullptr, nullptr).level == log_level::debug);
    CHECK(parse_log_env("silent", nullptr, nullptr).level == log_level::silent);
    CHECK(parse_log_env("loud", nullptr, nullptr).level == log_level::info);  // invalid -> info

    for (const char* on : {"1", "true", "TRUE", "True"}) {
        CHECK(parse_log_env(nullptr, on, on).line.timestamp);
        CHECK(parse_log_env(nullptr, on, on).line.target);
    }
    for (const char* off : {"", "0", "false", "yes", "on", "2", " 1"}) {
        CHECK_FALSE(parse_log_env(nullptr, off, off).line.timestamp);
        CHECK_FALSE(parse_log_env(nullptr, off, off).line.target);
    }
}

TEST_CASE("current_log_level follows the environment unless overridden", "[log]") {
    const auto from_env = rivetkit::detail::parse_log_env(
        std::getenv("LOG_LEVEL"), std::getenv("LOG_TIMESTAMP"), std::getenv("LOG_TARGET"));
    rivetkit::set_log_level(std::nullopt);
    CHECK(rivetkit::current_log_level() == from_env.level);
    rivetkit::set_log_level(log_level::error);
    CHECK(rivetkit::current_log_level() == log_level::error);
    rivetkit::set_log_level(std::nullopt);
    CHECK(rivetkit::current_log_level() == from_env.level);
}

TEST_CASE("format_log_timestamp is ISO-8601 UTC with milliseconds", "[log]") {
    using rivetkit::detail::format_log_timestamp;
    CHECK(format_log_timestamp(sample_instant()) == "2024-01-02T03:04:05.678Z");  // truncated
    CHECK(format_log_timestamp(std::chrono::system_clock::time_point{}) ==
          "1970-01-01T00:00:00.000Z");
    using namespace std::chrono;
    CHECK(format_log_timestamp(sys_days{year{1999} / December / 31} + hours{23} + minutes{59} +
                               seconds{59} + milliseconds{999}) == "1999-12-31T23:59:59.999Z");
}

TEST_CASE("format_log_line places ts, level, target, msg, bindings, fields", "[log]") {
    using rivetkit::detail::format_log_line;
    const auto when = sample_instant();
    const std::string bindings = " actor=counter key=default";

    CHECK(format_log_line({true, true}, when, log_level::info, "actor", bindings, "hello",
                          {{"n", 1}}) ==
          "ts=2024-01-02T03:04:05.678Z level=INFO target=actor msg=hello actor=counter "
          "key=default n=1");
    CHECK(format_log_line({false, true}, when, log_level::warn, "actor", "", "hi there", {}) ==
          "level=WARN target=actor msg=\"hi there\"");
    CHECK(format_log_line({true, false}, when, log_level::debug, "actor", "", "x", {}) ==
          "ts=2024-01-02T03:04:05.678Z level=DEBUG msg=x");
    // No target on the logger: nothing to show even when LOG_TARGET is on.
    CHECK(format_log_line({false, true}, when, log_level::error, "", "", "x", {}) ==
          "level=ERROR msg=x");
    CHECK(format_log_line({}, when, log_level::fatal, "router", bindings, "", {{"a", "b"}}) ==
          "level=FATAL msg=\"\" actor=counter key=default a=b");
}

TEST_CASE("logger writes exact lines with typed fields", "[log]") {
    capture cap;
    const logger log;  // no target: lines are the same whatever LOG_TARGET says

    log.info("hello");
    CHECK(cap.last() == "level=INFO msg=hello");

    const std::string owned = "owned";
    const std::string_view view = "view";
    log.warn("typed", {{"cstr", "lit"},
                       {"str", owned},
                       {"sv", view},
                       {"yes", true},
                       {"no", false},
                       {"int", -42},
                       {"u8", std::uint8_t{200}},
                       {"i64", std::numeric_limits<std::int64_t>::min()},
                       {"u64", std::numeric_limits<std::uint64_t>::max()},
                       {"size", std::size_t{7}}});
    CHECK(cap.last() ==
          "level=WARN msg=typed cstr=lit str=owned sv=view yes=true no=false int=-42 u8=200 "
          "i64=-9223372036854775808 u64=18446744073709551615 size=7");

    log.error("doubles", {{"half", 0.5},
                          {"one", 1.0},
                          {"big", 1e21},
                          {"neg", -2.25},
                          {"nan", std::numeric_limits<double>::quiet_NaN()},
                          {"inf", std::numeric_limits<double>::infinity()},
                          {"ninf", -std::numeric_limits<double>::infinity()},
                          {"flt", 1.5f}});
    CHECK(cap.last() ==
          "level=ERROR msg=doubles half=0.5 one=1 big=1e+21 neg=-2.25 nan=NaN inf=Infinity "
          "ninf=-Infinity flt=1.5");

    REQUIRE(cap.entries.size() == 3);
    CHECK(cap.entries[0].first == log_level::info);
    CHECK(cap.entries[1].first == log_level::warn);
    CHECK(cap.entries[2].first == log_level::error);
}

TEST_CASE("logfmt quoting and escaping", "[log]") {
    capture cap;
    const logger log;
    auto line_for = [&](std::string_view value) {
        log.info("m", {{"v", value}});
        return cap.last();
    };

    CHECK(line_for("plain") == "level=INFO msg=m v=plain");
    CHECK(line_for("") == "level=INFO msg=m v=\"\"");
    CHECK(line_for("two words") == "level=INFO msg=m v=\"two words\"");
    CHECK(line_for("a=b") == "level=INFO msg=m v=\"a=b\"");
    CHECK(line_for("say \"hi\"") == "level=INFO msg=m v=\"say \\\"hi\\\"\"");
    CHECK(line_for("C:\\dir") == "level=INFO msg=m v=\"C:\\\\dir\"");
    CHECK(line_for("line1\nline2") == "level=INFO msg=m v=\"line1\\nline2\"");
    CHECK(line_for("cr\r tab\t") == "level=INFO msg=m v=\"cr\\r tab\\t\"");
    CHECK(line_for("\x1b[31mred") == "level=INFO msg=m v=\"\\u001b[31mred\"");
    CHECK(line_for("del\x7f") == "level=INFO msg=m v=\"del\\u007f\"");
    CHECK(line_for("ünïcødé/日本") == "level=INFO msg=m v=ünïcødé/日本");
    CHECK(line_for("a/b:c,d") == "level=INFO msg=m v=a/b:c,d");

    log.info("multi\nline \"msg\"");
    CHECK(cap.last() == "level=INFO msg=\"multi\\nline \\\"msg\\\"\"");
    log.info("");
    CHECK(cap.last() == "level=INFO msg=\"\"");

    // Nothing a value holds can break the line apart.
    for (const auto& [level, line] : cap.entries) CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("values are clipped to 512 characters except msg and error", "[log]") {
    capture cap;
    const std::string long_value(600, 'x');
    const std::string clipped(512, 'x');

    const logger log = logger().with("binding", long_value);
    log.info(long_value, {{"field", long_value}, {"error", long_value}});
    CHECK(cap.last() == "level=INFO msg=" + long_value + " binding=" + clipped +
                            " field=" + clipped + " error=" + long_value);

    // Exactly 512 stays whole.
    logger().info("m", {{"v", clipped}});
    CHECK(cap.last() == "level=INFO msg=m v=" + clipped);

    // Characters, not bytes: a multi-byte sequence is never split.
    std::string accents;
    for (int i = 0; i < 600; ++i) accents += "é";
    std::string accents_512;
    for (int i = 0; i < 512; ++i) accents_512 += "é";
    logger().info("m", {{"v", accents}});
    CHECK(cap.last() == "level=INFO msg=m v=" + accents_512);

    // Clipped before quoting: the escapes do not count, and a clipped value is still quoted.
    const std::string quoted = std::string(510, 'q') + "\" tail";
    logger().info("m", {{"v", quoted}});
    CHECK(cap.last() == "level=INFO msg=m v=\"" + std::string(510, 'q') + "\\\" \"");
}

TEST_CASE("bindings keep their order and loggers are immutable", "[log]") {
    capture cap;
    const logger base("actor");
    const logger bound = base.with("actor", "counter").with("key", "a/b").with("actorId", "abc123");
    CHECK(base.target() == "actor");
    CHECK(bound.target() == "actor");
    CHECK(logger().target().empty());

    // Strip the target so the line is exact whatever LOG_TARGET says.
    auto without_target = [](std::string line) {
        const std::string t = " target=actor";
        if (const auto at = line.find(t); at != std::string::npos) line.erase(at, t.size());
        return line;
    };

    bound.info("started", {{"n", 1}, {"ok", true}});
    CHECK(without_target(cap.last()) ==
          "level=INFO msg=started actor=counter key=a/b actorId=abc123 n=1 ok=true");

    base.info("plain");
    CHECK(without_target(cap.last()) == "level=INFO msg=plain");

    const logger copy = bound;  // copies share bindings
    const logger more = copy.with("conn", "c1");
    copy.info("x");
    CHECK(without_target(cap.last()) == "level=INFO msg=x actor=counter key=a/b actorId=abc123");
    more.info("y");
    CHECK(without_target(cap.last()) ==
          "level=INFO msg=y actor=counter key=a/b actorId=abc123 conn=c1");

    // Binding values are escaped like any other value.
    logger().with("who", "two words").info("z");
    CHECK(cap.last() == "level=INFO msg=z who=\"two words\"");
}

TEST_CASE("level filtering", "[log]") {
    capture cap(log_level::warn);
    const logger log;

    CHECK_FALSE(log.enabled(log_level::trace));
    CHECK_FALSE(log.enabled(log_level::debug));
    CHECK_FALSE(log.enabled(log_level::info));
    CHECK(log.enabled(log_level::warn));
    CHECK(log.enabled(log_level::error));
    CHECK(log.enabled(log_level::fatal));
    CHECK_FALSE(log.enabled(log_level::silent));

    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    log.fatal("f");
    log.log(log_level::silent, "s");
    CHECK(cap.lines() == std::vector<std::string>{"level=WARN msg=w", "level=ERROR msg=e",
                                                  "level=FATAL msg=f"});

    cap.entries.clear();
    rivetkit::set_log_level(log_level::silent);
    CHECK_FALSE(log.enabled(log_level::fatal));
    log.fatal("f");
    CHECK(cap.entries.empty());

    rivetkit::set_log_level(log_level::trace);
    CHECK(log.enabled(log_level::trace));
    log.trace("t");
    CHECK(cap.lines() == std::vector<std::string>{"level=TRACE msg=t"});
}

TEST_CASE("a throwing sink is contained and a logging sink does not deadlock", "[log]") {
    const restore_log_defaults restore;
    rivetkit::set_log_level(log_level::info);
    rivetkit::set_log_sink([](log_level, std::string_view) { throw std::runtime_error("sink"); });
    CHECK_NOTHROW(logger().info("dropped"));

    int calls = 0;
    rivetkit::set_log_sink([&calls](log_level, std::string_view line) {
        ++calls;
        // Goes to stderr, not back into this sink (it would deadlock or recurse).
        if (line.find("outer") != std::string_view::npos) logger().info("nested line from a sink");
    });
    stderr_redirect err;
    REQUIRE(err.ok());
    logger().info("outer");
    CHECK(err.finish() == std::vector<std::string>{"level=INFO msg=\"nested line from a sink\""});
    CHECK(calls == 1);
}

TEST_CASE("logging from many threads keeps every line intact (capturing sink)", "[log][threads]") {
    capture cap(log_level::info);
    constexpr int thread_count = 4;
    constexpr int per_thread = 1000;

    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
        threads.emplace_back([t] {
            // Each thread builds its own bound logger to exercise with() concurrently too.
            const logger log = logger("test").with("thread", std::to_string(t));
            for (int i = 0; i < per_thread; ++i) log.info("line from thread", {{"i", i}});
        });
    }
    for (auto& th : threads) th.join();

    REQUIRE(cap.entries.size() == thread_count * per_thread);
    std::set<std::string> expected;
    for (int t = 0; t < thread_count; ++t) {
        for (int i = 0; i < per_thread; ++i) {
            expected.insert("level=INFO msg=\"line from thread\" thread=" + std::to_string(t) +
                            " i=" + std::to_string(i));
        }
    }
    std::set<std::string> got;
    for (std::string line : cap.lines()) {
        const std::string t = " target=test";
        if (const auto at = line.find(t); at != std::string::npos) line.erase(at, t.size());
        got.insert(std::move(line));
    }
    CHECK(got == expected);
}

TEST_CASE("the default stderr sink writes whole lines from many threads", "[log][threads]") {
    const restore_log_defaults restore;
    stderr_redirect err;
    REQUIRE(err.ok());
    rivetkit::set_log_sink(nullptr);
    rivetkit::set_log_level(log_level::info);
    constexpr int thread_count = 4;
    constexpr int per_thread = 1000;
    {
        std::vector<std::thread> threads;
        for (int t = 0; t < thread_count; ++t) {
            threads.emplace_back([t] {
                const logger log = logger().with("thread", std::to_string(t));
                for (int i = 0; i < per_thread; ++i) {
                    log.info("stderr line with some padding to make writes longer",
                             {{"i", i}, {"pad", std::string(200, 'p')}});
                }
            });
        }
        for (auto& th : threads) th.join();
    }
    const std::vector<std::string> lines = err.finish();
    const std::set<std::string> got(lines.begin(), lines.end());
    const std::size_t count = lines.size();

    CHECK(count == thread_count * per_thread);
    std::set<std::string> expected;
    for (int t = 0; t < thread_count; ++t) {
        for (int i = 0; i < per_thread; ++i) {
            expected.insert(
                "level=INFO msg=\"stderr line with some padding to make writes longer\" thread=" +
                std::to_string(t) + " i=" + std::to_string(i) + " pad=" + std::string(200, 'p'));
        }
    }
    CHECK(got == expected);
}
