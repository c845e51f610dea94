#include "data_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rivetkit/drivers/file_system.hpp"
#include "rivetkit/ids.hpp"

namespace rivetkit::drivers::fs {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::string(v) : std::string();
}

std::filesystem::path home_dir() {
    if (auto h = env("HOME"); !h.empty()) return h;
    if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
    throw file_system_error(
        "rivetkit file-system driver: cannot find a data directory: HOME is not set; set RIVETKIT_DATA_PATH or "
        "file_system_options::path");
}

std::filesystem::path data_home() {
#if defined(__APPLE__)
    return home_dir() / "Library" / "Application Support";
#else
    if (auto xdg = env("XDG_DATA_HOME"); !xdg.empty()) return xdg;
    return home_dir() / ".local" / "share";
#endif
}

std::string errno_text(int e) { return std::system_category().message(e); }

}  // namespace

std::filesystem::path default_data_path() {
    // As Node's path.normalize(process.cwd()): no trailing separator, no "." or ".." segments.
    std::error_code ec;
    auto current = std::filesystem::current_path(ec);
    if (ec) {
        throw file_system_error(fmt::format(
            "rivetkit file-system driver: cannot find the working directory for the default data path: {}; set "
            "RIVETKIT_DATA_PATH or file_system_options::path",
            ec.message()));
    }
    std::string cwd = current.lexically_normal().string();
    while (cwd.size() > 1 && cwd.back() == '/') cwd.pop_back();
    std::string base = std::filesystem::path(cwd).filename().string();
    return data_home() / "rivetkit" / fmt::format("{}-{}", base, sha256_hex(cwd).substr(0, 8));
}

std::filesystem::path resolve_data_path(const std::filesystem::path& option) {
    if (auto p = env("RIVETKIT_DATA_PATH"); !p.empty()) return p;
    if (!option.empty()) return option;
    return default_data_path();
}

directory_lock::directory_lock(const std::filesystem::path& dir) : file_(dir / "rivetkit.lock") {
    fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        int e = errno;
        throw file_system_error(fmt::format("rivetkit file-system driver: cannot open the lock file {}: {}",
                                            file_.string(), errno_text(e)));
    }
    // flock (not fcntl) locks belong to the open file description, so a second registry in this
    // process conflicts too, and a forked child does not silently share the lock.
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        std::string holder = "another process";
        char buf[32] = {};
        ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        ::close(fd_);
        fd_ = -1;
        if (e != EWOULDBLOCK) {
            throw file_system_error(fmt::format("rivetkit file-system driver: cannot lock {}: {}", file_.string(),
                                                errno_text(e)));
        }
        std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        if (!pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos) {
            holder = pid == std::to_string(::getpid()) ? fmt::format("another registry in this process (pid {})", pid)
                                                       : fmt::format("another process (pid {})", pid);
        }
        throw file_system_error(fmt::format(
            "rivetkit file-system driver: the data directory {} is in use by {}; one process at a time may use a "
            "data directory (lock file {})",
            dir.string(), holder, file_.string()));
    }
    // Record the holder for the error message of the next one; best effort.
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) {
        [[maybe_unused]] ssize_t w = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
}

directory_lock::~directory_lock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace rivetkit::drivers::fs
