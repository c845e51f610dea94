#pragma once
// The file-system driver, the default: actors, their state (KV), alarms and scheduled events
// live in one SQLite database (WAL mode) in a data directory, and survive restarts. With the
// default durability mode a change is committed before the reply that reflects it leaves, so
// killing the process at any moment loses no acknowledged change. See docs/file_system.md.
//
//   auto reg = rivetkit::setup({{"counter", counter}});                       // the default
//   auto reg = rivetkit::setup({{"counter", counter}},
//                              {.driver = rivetkit::drivers::file_system({.path = "/var/lib/app"})});

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "rivetkit/driver.hpp"

namespace rivetkit {

class registry_core;

namespace drivers {

struct file_system_options {
    /// The data directory. The RIVETKIT_DATA_PATH environment variable, when set, overrides it;
    /// when both are empty: `$XDG_DATA_HOME` (or `~/.local/share`), then
    /// `rivetkit/<basename of cwd>-<first 8 hex digits of sha256(cwd)>`.
    std::filesystem::path path{};
};

/// The file-system driver. The data directory is opened (created if missing) and locked when
/// the registry is constructed, which throws file_system_error if that fails.
[[nodiscard]] driver_factory file_system(file_system_options options = {});

/// The data directory a file-system driver with these options uses (no file is touched).
[[nodiscard]] std::filesystem::path file_system_data_path(const file_system_options& options = {});

/// A data directory or database that cannot be used: locked by another process, unreadable,
/// read-only, corrupt, or written by a newer version. The message names the file.
class file_system_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Counters of a file-system store, since it was opened.
struct file_system_stats {
    /// Write transactions committed. Writes queued together share one (group commit).
    std::uint64_t transactions = 0;
    /// Write operations committed (a KV put, a record or alarm change, ...).
    std::uint64_t writes = 0;
    /// Operations that failed (the caller got the error).
    std::uint64_t failures = 0;
    /// Operations submitted and not yet completed.
    std::uint64_t pending = 0;
    /// WAL checkpoints run by the database thread (durable and relaxed modes, where commits
    /// run on the io threads and SQLite's automatic checkpoint is off).
    std::uint64_t checkpoints = 0;
};

/// The counters of the file-system store behind `registry`, or nullopt when it uses another
/// driver. (`registry_core` is what `rivetkit::registry::core()` returns.)
[[nodiscard]] std::optional<file_system_stats> file_system_statistics(registry_core& registry);

}  // namespace drivers
}  // namespace rivetkit
