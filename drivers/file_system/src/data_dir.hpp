#pragma once
// The data directory: where it is (the reference's rule, overridable) and who owns it (an
// exclusive lock file, so one process at a time uses a directory).

#include <filesystem>

namespace rivetkit::drivers::fs {

/// RIVETKIT_DATA_PATH if set, else `option` if not empty, else the default rule.
[[nodiscard]] std::filesystem::path resolve_data_path(const std::filesystem::path& option);

/// `<data home>/rivetkit/<basename(cwd)>-<first 8 hex of sha256(cwd)>`, the data home being
/// `$XDG_DATA_HOME` or `~/.local/share` (`~/Library/Application Support` on macOS).
[[nodiscard]] std::filesystem::path default_data_path();

/// An exclusive flock() on `<dir>/rivetkit.lock`, held for the object's lifetime; the file
/// records the holder's pid. Throws file_system_error when another holder has it (another
/// process, or another registry of this one) or the file cannot be created.
class directory_lock {
public:
    explicit directory_lock(const std::filesystem::path& dir);
    ~directory_lock();
    directory_lock(const directory_lock&) = delete;
    directory_lock& operator=(const directory_lock&) = delete;

    [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

private:
    std::filesystem::path file_;
    int fd_ = -1;
};

}  // namespace rivetkit::drivers::fs
