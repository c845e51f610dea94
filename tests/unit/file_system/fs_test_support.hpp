#pragma once
// Shared helpers of the file-system driver tests: a fresh data directory per test, environment
// guards, a latch that actors signal, log capture, a raw SQLite connection to the store's
// database, and the actors the tests use.

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/drivers/file_system.hpp>
#include <rivetkit/log.hpp>
#include <rivetkit/registry.hpp>

namespace fs_test {

using namespace std::chrono_literals;

/// Sets (or with nullopt unsets) an environment variable for the guard's lifetime.
class env_guard {
public:
    env_guard(std::string name, std::optional<std::string> v) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = old;
        if (v) {
            ::setenv(name_.c_str(), v->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    ~env_guard() {
        if (old_) {
            ::setenv(name_.c_str(), old_->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    env_guard(const env_guard&) = delete;
    env_guard& operator=(const env_guard&) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

/// A fresh directory under /tmp (mode 0755, so a child that dropped privileges can enter it),
/// removed with everything in it afterwards. RIVETKIT_DATA_PATH is unset meanwhile, so the
/// tests' explicit paths apply.
class temp_dir {
public:
    temp_dir() : no_env_("RIVETKIT_DATA_PATH", std::nullopt) {
        char tmpl[] = "/tmp/rivetkit-fs-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path_ = tmpl;
        std::filesystem::permissions(path_, std::filesystem::perms(0755));
    }
    ~temp_dir() {
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_directory(ec)) std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                                                  std::filesystem::perm_options::add, ec);
        }
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    /// The data directory the tests use inside it.
    [[nodiscard]] std::filesystem::path data() const { return path_ / "data"; }
    [[nodiscard]] std::filesystem::path database() const { return data() / "rivetkit.sqlite"; }

private:
    env_guard no_env_;
    std::filesystem::path path_;
};

/// Counts named signals from actors; tests wait for them with a deadline.
class latch {
public:
    void signal(const std::string& tag) {
        {
            std::lock_guard lock(mutex_);
            ++counts_[tag];
        }
        cv_.notify_all();
    }
    /// Waits until `tag` was signalled `n` times in total; false on timeout.
    bool wait(const std::string& tag, int n = 1, std::chrono::milliseconds timeout = 20s) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return counts_[tag] >= n; });
    }
    int count(const std::string& tag) {
        std::lock_guard lock(mutex_);
        return counts_[tag];
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::map<std::string, int> counts_;
};

inline latch& signals() {
    static latch l;
    return l;
}

/// Captures every log line at `level` and above while alive.
class log_capture {
public:
    explicit log_capture(rivetkit::log_level level = rivetkit::log_level::info) {
        rivetkit::set_log_level(level);
        rivetkit::set_log_sink([this](rivetkit::log_level, std::string_view line) {
            std::lock_guard lock(mutex_);
            lines_.emplace_back(line);
        });
    }
    ~log_capture() {
        rivetkit::set_log_sink(nullptr);
        rivetkit::set_log_level(std::nullopt);
    }
    log_capture(const log_capture&) = delete;
    log_capture& operator=(const log_capture&) = delete;

    /// The first line containing every one of `parts`, if any.
    std::optional<std::string> find(std::initializer_list<std::string> parts) {
        std::lock_guard lock(mutex_);
        for (const auto& l : lines_) {
            bool all = true;
            for (const auto& p : parts) all = all && l.find(p) != std::string::npos;
            if (all) return l;
        }
        return std::nullopt;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> lines_;
};

/// A second connection to a store's database, as an operator's sqlite3 shell would open it.
class raw_db {
public:
    explicit raw_db(const std::filesystem::path& file) {
        REQUIRE(sqlite3_open(file.c_str(), &db_) == SQLITE_OK);
        sqlite3_busy_timeout(db_, 10'000);
    }
    ~raw_db() { sqlite3_close(db_); }
    raw_db(const raw_db&) = delete;
    raw_db& operator=(const raw_db&) = delete;

    void exec(const std::string& sql) {
        char* err = nullptr;
        int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
        std::string msg = err != nullptr ? err : "";
        sqlite3_free(err);
        INFO(sql << ": " << msg);
        REQUIRE(rc == SQLITE_OK);
    }
    std::int64_t count(const std::string& sql) {
        sqlite3_stmt* st = nullptr;
        REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
        std::int64_t n = -1;
        if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return n;
    }

private:
    sqlite3* db_ = nullptr;
};

/// Polls `pred` until it holds or `timeout` passes (for conditions no one can notify).
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// ---- actors --------------------------------------------------------------------------------

struct counter_state {
    std::int64_t count = 0;
    std::int64_t wakes = 0;
    std::vector<std::string> ran;
};
RIVETKIT_FIELDS(counter_state, count, wakes, ran)

inline const auto counter =
    rivetkit::actor<counter_state>()
        .on_wake([](auto& c) { ++c.state().wakes; })
        .action<"increment">([](auto& c, std::int64_t by) { return c.state().count += by; })
        .action<"get">([](auto& c) { return std::as_const(c).state().count; })
        .action<"wakes">([](auto& c) { return std::as_const(c).state().wakes; })
        .action<"ran">([](auto& c) { return std::as_const(c).state().ran; })
        .action<"scheduleAt">([](auto& c, std::int64_t ts, std::string tag) {
            c.schedule().at(ts, "record", std::move(tag));
        })
        .action<"record">([](auto& c, std::string tag) {
            c.state().ran.push_back(tag);
            signals().signal(tag);
        })
        .action<"sleep">([](auto& c) { c.sleep(); })
        .action<"sqlAdd">([](auto& c, std::string note) {
            auto& db = c.db();
            db.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
            db.execute("INSERT INTO notes (body) VALUES (?)", note);
            return *db.template query_one<std::int64_t>("SELECT count(*) FROM notes");
        })
        .action<"sqlCount">([](auto& c) {
            auto& db = c.db();
            db.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
            return *db.template query_one<std::int64_t>("SELECT count(*) FROM notes");
        });

struct other_state {
    std::int64_t n = 0;
};
RIVETKIT_FIELDS(other_state, n)

inline const auto other = rivetkit::actor<other_state>().action<"get">(
    [](auto& c) { return std::as_const(c).state().n; });

struct open_options {
    std::shared_ptr<rivetkit::clock> clock{};
    rivetkit::durability mode = rivetkit::durability::durable;
};

/// A started registry with threads, on the file-system driver in `dir`.
inline rivetkit::registry open_registry(const std::filesystem::path& dir, open_options o = {}) {
    rivetkit::registry_config cfg;
    rivetkit::drivers::file_system_options fso;
    fso.path = dir;
    cfg.driver = rivetkit::drivers::file_system(fso);
    cfg.threads = 2;
    cfg.clock = std::move(o.clock);
    cfg.durability_mode = o.mode;
    rivetkit::registry reg({{"counter", counter}, {"other", other}}, std::move(cfg));
    reg.start();
    return reg;
}

/// The store's counters.
inline rivetkit::drivers::file_system_stats stats_of(rivetkit::registry& reg) {
    auto s = rivetkit::drivers::file_system_statistics(reg.core());
    REQUIRE(s.has_value());
    return *s;
}

/// Runs `f` (which must throw) and returns the message of the file_system_error it throws.
template <class F>
std::string file_system_error_of(F&& f) {
    try {
        f();
    } catch (const rivetkit::drivers::file_system_error& e) {
        return e.what();
    }
    FAIL("expected a file_system_error");
    return {};
}

}  // namespace fs_test
