#pragma once
// Structured logging as logfmt lines, compatible with the RivetKit runtime's output:
//
//   [ts=2024-01-02T03:04:05.678Z ]level=WARN [target=actor ]msg="..." <bindings> <fields>
//
// The level comes from LOG_LEVEL (default warn), `ts` is added when LOG_TIMESTAMP is 1/true and
// `target` when LOG_TARGET is 1/true; the environment is read once, on first use.
// set_log_level overrides LOG_LEVEL at run time. Lines go to a process-wide sink (stderr by
// default); it is the only mutable global state of the library, and the library prints nothing
// except through it.

#include <concepts>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace rivetkit {

enum class log_level { trace, debug, info, warn, error, fatal, silent };

/// "trace" ... "silent", case-insensitive; nullopt for anything else.
[[nodiscard]] std::optional<log_level> parse_log_level(std::string_view text) noexcept;

/// "TRACE" ... "FATAL" as printed in `level=`; "SILENT" for silent.
[[nodiscard]] std::string_view log_level_name(log_level level) noexcept;

/// One `key=value` pair. Values are rendered when the field is built, so guard expensive
/// fields on hot paths with logger::enabled().
struct log_field {
    std::string key;
    std::string value;

    log_field(std::string k, std::string_view v) : key(std::move(k)), value(v) {}
    log_field(std::string k, const char* v) : key(std::move(k)), value(v != nullptr ? v : "") {}
    log_field(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
    log_field(std::string k, bool v) : key(std::move(k)), value(v ? "true" : "false") {}
    template <std::integral I>
    log_field(std::string k, I v) : key(std::move(k)), value(std::to_string(v)) {}
    /// Shortest round-trip form; NaN and infinities are spelt as JavaScript prints them.
    log_field(std::string k, double v);
    /// Deleted: a char could mean a number or a one-character string; convert explicitly.
    log_field(std::string k, char v) = delete;
};

/// A handle that stamps a target and bindings on every line. Copies share their (immutable)
/// bindings, so copying is a reference-count increment; with() builds a new logger.
class logger {
public:
    /// No target, no bindings.
    logger() = default;
    explicit logger(std::string target);

    /// A logger with the same target and bindings plus `key=value`, printed after the existing
    /// bindings on every line.
    [[nodiscard]] logger with(std::string key, std::string value) const;

    /// Whether a line at `level` would be written now; false for log_level::silent.
    [[nodiscard]] bool enabled(log_level level) const noexcept;

    /// Writes one line if `level` is enabled. Never throws: logging happens in destructors and
    /// error paths, and a failing sink must not turn into a second error.
    void log(log_level level, std::string_view msg,
             std::initializer_list<log_field> fields = {}) const noexcept;

    void trace(std::string_view msg, std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::trace, msg, fields);
    }
    void debug(std::string_view msg, std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::debug, msg, fields);
    }
    void info(std::string_view msg, std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::info, msg, fields);
    }
    void warn(std::string_view msg, std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::warn, msg, fields);
    }
    void error(std::string_view msg, std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::error, msg, fields);
    }
    void fatal(std::string_view msg, std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::fatal, msg, fields);
    }

    /// Empty when the logger has none.
    [[nodiscard]] std::string_view target() const noexcept;

private:
    struct context;
    explicit logger(std::shared_ptr<const context> ctx) noexcept : context_(std::move(ctx)) {}

    std::shared_ptr<const context> context_;
};

/// Receives each enabled line, without its trailing newline. Calls are serialised (a sink need
/// not be thread-safe) and must not log themselves: a nested line goes straight to stderr.
/// Exceptions thrown by a sink are swallowed.
using log_sink = std::function<void(log_level level, std::string_view line)>;

/// Installs `sink` for every logger; nullptr restores the default (stderr, one write per line).
/// Once it returns, the previous sink is no longer being called and will not be called again.
void set_log_sink(log_sink sink);

/// Overrides LOG_LEVEL; nullopt goes back to the level from the environment.
void set_log_level(std::optional<log_level> level) noexcept;

/// The level in effect: the override if set, else LOG_LEVEL (warn if unset, info if invalid).
[[nodiscard]] log_level current_log_level() noexcept;

}  // namespace rivetkit
