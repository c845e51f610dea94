#pragma once
// The pure part of logging - environment parsing and line formatting - kept apart from the
// global sink and level so that tests can check every option without touching the process
// environment, which log.cpp reads only once.

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>

#include "rivetkit/log.hpp"

namespace rivetkit::detail {

struct log_line_options {
    bool timestamp = false;  // LOG_TIMESTAMP
    bool target = false;     // LOG_TARGET
};

struct log_env {
    log_level level = log_level::warn;
    log_line_options line;
};

/// Values of LOG_LEVEL, LOG_TIMESTAMP and LOG_TARGET (nullptr when unset). An unset or empty
/// level means warn, an unknown one info; a flag is on when it is "1" or "true" (any case).
[[nodiscard]] log_env parse_log_env(const char* level, const char* timestamp,
                                    const char* target) noexcept;

/// ISO-8601 UTC with milliseconds, as JS Date.prototype.toISOString: 2024-01-02T03:04:05.678Z.
[[nodiscard]] std::string format_log_timestamp(std::chrono::system_clock::time_point when);

/// Appends " key=value" (no leading space when `out` is empty), quoting and escaping the value
/// and clipping it to 512 characters unless the key is "msg" or "error".
void append_log_pair(std::string& out, std::string_view key, std::string_view value);

/// One complete line without the trailing newline. `bindings` is already rendered by
/// append_log_pair (so it starts with a space when not empty); `when` is used only when
/// `options.timestamp` is set.
[[nodiscard]] std::string format_log_line(const log_line_options& options,
                                          std::chrono::system_clock::time_point when,
                                          log_level level, std::string_view target,
                                          std::string_view bindings, std::string_view msg,
                                          std::initializer_list<log_field> fields);

}  // namespace rivetkit::detail
