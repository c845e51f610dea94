#include "rivetkit/log.hpp"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <utility>

#include <fmt/format.h>

#include "common/log_format.hpp"

namespace rivetkit {

namespace {

constexpr std::size_t max_value_chars = 512;

char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

bool env_flag(const char* value) noexcept {
    return value != nullptr && (std::string_view(value) == "1" || iequals(value, "true"));
}

// The first `max_value_chars` characters of `v`. Characters are counted as UTF-8 code points
// (the reference counts UTF-16 units; the two agree outside the astral planes) so that a clip
// never splits a multi-byte sequence.
std::string_view clip(std::string_view v) noexcept {
    if (v.size() <= max_value_chars) return v;  // no more bytes than characters allowed
    std::size_t chars = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if ((static_cast<unsigned char>(v[i]) & 0xC0) != 0x80) {
            if (chars == max_value_chars) return v.substr(0, i);
            ++chars;
        }
    }
    return v;
}

// Quoting follows the reference (space, '=', '"', '\' or empty), with one change: any control
// character also forces quotes and is escaped, so that a line stays one line, values from
// clients cannot smuggle terminal escape sequences, and every value can be decoded again.
bool needs_quotes(std::string_view v) noexcept {
    if (v.empty()) return true;
    for (char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == ' ' || c == '=' || c == '"' || c == '\\' || c < 0x20 || c == 0x7f) return true;
    }
    return false;
}

void append_value(std::string& out, std::string_view v) {
    if (!needs_quotes(v)) {
        out += v;
        return;
    }
    out += '"';
    for (char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f)
                    fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
                else
                    out += ch;
        }
    }
    out += '"';
}

const detail::log_env& environment() noexcept {
    // A function-local static: read once, lazily, and thread-safely (magic statics).
    static const detail::log_env env =
        detail::parse_log_env(std::getenv("LOG_LEVEL"), std::getenv("LOG_TIMESTAMP"),
                              std::getenv("LOG_TARGET"));
    return env;
}

// -1 when not overridden; otherwise a log_level. Relaxed: the level is a filter, not a fence.
std::atomic<int> level_override{-1};

// The sink and the mutex that both guards it and serialises calls into it. A mutex rather than
// an atomic shared_ptr because it gives two guarantees an atomic swap cannot: sinks need not be
// thread-safe, and set_log_sink is a barrier (a replaced sink is never called afterwards, so a
// test's capturing sink may reference locals). Formatting happens outside the lock.
struct sink_slot {
    std::mutex mutex;
    log_sink sink;
};

sink_slot& the_sink() noexcept {
    // Built on first use, so static initialisers may log; deliberately never destroyed, so
    // static destructors (and threads still running at exit) may log too.
    static sink_slot& slot = *new sink_slot;
    return slot;
}

// Set while this thread runs a user sink; a line logged from inside it would deadlock on the
// sink mutex, so it goes to stderr instead.
thread_local bool inside_sink = false;

void write_stderr(std::string& line) noexcept {
    line += '\n';
    // One fwrite per line: stdio locks the stream for the call, so lines never interleave.
    std::fwrite(line.data(), 1, line.size(), stderr);
}

void emit(log_level level, std::string& line) noexcept {
    if (inside_sink) {
        write_stderr(line);
        return;
    }
    sink_slot& slot = the_sink();
    std::lock_guard lock(slot.mutex);
    if (!slot.sink) {
        write_stderr(line);
        return;
    }
    struct reentry_guard {
        reentry_guard() noexcept { inside_sink = true; }
        ~reentry_guard() { inside_sink = false; }
        reentry_guard(const reentry_guard&) = delete;
        reentry_guard& operator=(const reentry_guard&) = delete;
    } guard;
    try {
        slot.sink(level, line);
    } catch (...) {
        // A broken sink must not break the code that logged.
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Levels and fields

std::optional<log_level> parse_log_level(std::string_view text) noexcept {
    static constexpr std::pair<std::string_view, log_level> names[] = {
        {"trace", log_level::trace}, {"debug", log_level::debug}, {"info", log_level::info},
        {"warn", log_level::warn},   {"error", log_level::error}, {"fatal", log_level::fatal},
        {"silent", log_level::silent},
    };
    for (const auto& [name, level] : names) {
        if (iequals(text, name)) return level;
    }
    return std::nullopt;
}

std::string_view log_level_name(log_level level) noexcept {
    switch (level) {
        case log_level::trace: return "TRACE";
        case log_level::debug: return "DEBUG";
        case log_level::info: return "INFO";
        case log_level::warn: return "WARN";
        case log_level::error: return "ERROR";
        case log_level::fatal: return "FATAL";
        case log_level::silent: return "SILENT";
    }
    return "UNKNOWN";
}

log_field::log_field(std::string k, double v) : key(std::move(k)) {
    if (std::isnan(v))
        value = "NaN";
    else if (std::isinf(v))
        value = v > 0 ? "Infinity" : "-Infinity";
    else
        value = fmt::format("{}", v);
}

// ---------------------------------------------------------------------------------------------
// Formatting

namespace detail {

log_env parse_log_env(const char* level, const char* timestamp, const char* target) noexcept {
    log_env env;
    if (level != nullptr && *level != '\0') env.level = parse_log_level(level).value_or(log_level::info);
    env.line.timestamp = env_flag(timestamp);
    env.line.target = env_flag(target);
    return env;
}

std::string format_log_timestamp(std::chrono::system_clock::time_point when) {
    using namespace std::chrono;
    const auto ms = floor<milliseconds>(when);
    const auto day = floor<days>(ms);
    const year_month_day ymd{day};
    const hh_mm_ss<milliseconds> time{ms - day};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                       static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                       time.hours().count(), time.minutes().count(), time.seconds().count(),
                       time.subseconds().count());
}

void append_log_pair(std::string& out, std::string_view key, std::string_view value) {
    if (!out.empty()) out += ' ';
    out += key;
    out += '=';
    append_value(out, (key == "msg" || key == "error") ? value : clip(value));
}

std::string format_log_line(const log_line_options& options,
                            std::chrono::system_clock::time_point when, log_level level,
                            std::string_view target, std::string_view bindings,
                            std::string_view msg, std::initializer_list<log_field> fields) {
    std::string line;
    line.reserve(64 + msg.size() + bindings.size() + fields.size() * 24);
    if (options.timestamp) {
        line += "ts=";
        line += format_log_timestamp(when);
        line += ' ';
    }
    line += "level=";
    line += log_level_name(level);
    if (options.target && !target.empty()) append_log_pair(line, "target", target);
    append_log_pair(line, "msg", msg);
    line += bindings;
    for (const log_field& f : fields) append_log_pair(line, f.key, f.value);
    return line;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// logger

struct logger::context {
    std::string target;
    std::string bindings;  // rendered " k=v k2=v2", in the order with() added them
};

logger::logger(std::string target)
    : context_(std::make_shared<const context>(context{std::move(target), {}})) {}

logger logger::with(std::string key, std::string value) const {
    context next = context_ ? *context_ : context{};
    // The leading space is always wanted: bindings follow msg.
    next.bindings += ' ';
    std::string pair;
    detail::append_log_pair(pair, key, value);
    next.bindings += pair;
    return logger(std::make_shared<const context>(std::move(next)));
}

std::string_view logger::target() const noexcept {
    return context_ ? std::string_view(context_->target) : std::string_view();
}

bool logger::enabled(log_level level) const noexcept {
    return level != log_level::silent && level >= current_log_level();
}

void logger::log(log_level level, std::string_view msg,
                 std::initializer_list<log_field> fields) const noexcept {
    if (!enabled(level)) return;  // before any formatting: disabled levels cost one load
    try {
        const detail::log_env& env = environment();
        const auto now = env.line.timestamp ? std::chrono::system_clock::now()
                                            : std::chrono::system_clock::time_point{};
        std::string line =
            detail::format_log_line(env.line, now, level, target(),
                                    context_ ? std::string_view(context_->bindings) : "", msg,
                                    fields);
        emit(level, line);
    } catch (...) {
        // Out of memory while formatting: drop the line rather than fail the caller.
    }
}

// ---------------------------------------------------------------------------------------------
// Global configuration

void set_log_sink(log_sink sink) {
    sink_slot& slot = the_sink();
    log_sink previous;
    {
        std::lock_guard lock(slot.mutex);
        previous = std::exchange(slot.sink, std::move(sink));
    }
    // `previous` is destroyed here, outside the lock, in case its captures log on destruction.
}

void set_log_level(std::optional<log_level> level) noexcept {
    level_override.store(level ? static_cast<int>(*level) : -1, std::memory_order_relaxed);
}

log_level current_log_level() noexcept {
    const int overridden = level_override.load(std::memory_order_relaxed);
    return overridden >= 0 ? static_cast<log_level>(overridden) : environment().level;
}

}  // namespace rivetkit
