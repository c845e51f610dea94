// Storage errors are clear: a data directory in use (by another process or another registry),
// a corrupt or too-new database, a read-only directory fail at registry construction with a
// message naming the file; a failing write fails the operation that needed it, is logged with
// SQLite's message, and other actors keep working.

#include <catch2/catch.hpp>

#include <fstream>

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rivetkit/error.hpp>
#include <rivetkit/ids.hpp>

#include "file_system/fs_test_support.hpp"

using namespace fs_test;

namespace {

/// A forked child: `run` executes in it once the parent calls go(); it reports a message
/// through a pipe and its exit status.
class child_process {
public:
    explicit child_process(const std::function<int(std::string&)>& run) {
        REQUIRE(::pipe(go_) == 0);
        REQUIRE(::pipe(report_) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::close(go_[1]);
            ::close(report_[0]);
            char c = 0;
            int status = 100;
            std::string message;
            if (::read(go_[0], &c, 1) == 1) {
                try {
                    status = run(message);
                } catch (const std::exception& e) {
                    message = e.what();
                    status = 101;
                }
            }
            [[maybe_unused]] auto n = ::write(report_[1], message.data(), message.size());
            ::_exit(status);  // no destructors, no exit handlers: this is a copy of the test
        }
        ::close(go_[0]);
        ::close(report_[1]);
    }
    ~child_process() {
        if (pid_ > 0 && !waited_) {
            ::close(go_[1]);
            int st = 0;
            ::waitpid(pid_, &st, 0);
        }
        ::close(report_[0]);
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    /// Lets the child run, waits for it and returns its exit status and message.
    std::pair<int, std::string> go() {
        char c = 1;
        REQUIRE(::write(go_[1], &c, 1) == 1);
        ::close(go_[1]);
        std::string message;
        char buf[512];
        for (;;) {
            auto n = ::read(report_[0], buf, sizeof buf);
            if (n <= 0) break;
            message.append(buf, static_cast<std::size_t>(n));
        }
        int st = 0;
        REQUIRE(::waitpid(pid_, &st, 0) == pid_);
        waited_ = true;
        REQUIRE(WIFEXITED(st));
        return {WEXITSTATUS(st), message};
    }

private:
    int go_[2]{};
    int report_[2]{};
    pid_t pid_ = -1;
    bool waited_ = false;
};

/// Constructs (and drops) a registry on `dir`; 0 if that worked, 1 and the message if it threw
/// file_system_error.
int try_open(const std::filesystem::path& dir, std::string& message) {
    try {
        rivetkit::registry_config cfg;
        cfg.driver = rivetkit::drivers::file_system({.path = dir});
        cfg.threads = 1;
        rivetkit::registry reg({{"counter", counter}}, std::move(cfg));
        return 0;
    } catch (const rivetkit::drivers::file_system_error& e) {
        message = e.what();
        return 1;
    }
}

}  // namespace

TEST_CASE("a second registry on the same data directory in this process fails clearly", "[file_system][lock]") {
    temp_dir dir;
    {
        auto reg = open_registry(dir.data());
        auto msg = file_system_error_of([&] { (void)open_registry(dir.data()); });
        CHECK_THAT(msg, Catch::Contains(dir.data().string()));
        CHECK_THAT(msg, Catch::Contains("in use"));
        CHECK_THAT(msg, Catch::Contains("pid " + std::to_string(::getpid())));
        // The first registry is unaffected.
        CHECK(reg.client().get_or_create(counter, "counter", {"x"}).call<"increment">(1) == 1);
    }
    // Released with the registry.
    auto reg = open_registry(dir.data());
    CHECK(reg.client().get(counter, "counter", {"x"}).call<"get">() == 1);
}

TEST_CASE("another process cannot open a data directory in use", "[file_system][lock]") {
    temp_dir dir;
    // Forked before this process starts any thread; it tries once the registry holds the lock.
    child_process child([&](std::string& message) { return try_open(dir.data(), message); });
    auto reg = open_registry(dir.data());
    auto [status, message] = child.go();
    INFO(message);
    CHECK(status == 1);
    CHECK_THAT(message, Catch::Contains(dir.data().string()));
    CHECK_THAT(message, Catch::Contains("another process (pid " + std::to_string(::getpid()) + ")"));
}

TEST_CASE("a corrupt database fails registry construction with a message naming the file",
          "[file_system][errors]") {
    temp_dir dir;
    std::filesystem::create_directories(dir.data());
    {
        std::ofstream out(dir.database(), std::ios::binary);
        for (int i = 0; i < 256; ++i) out << "this is not a database, it is a test's garbage\n";
    }
    for (int attempt = 0; attempt < 2; ++attempt) {  // the failed attempt released the lock
        auto msg = file_system_error_of([&] { (void)open_registry(dir.data()); });
        CHECK_THAT(msg, Catch::Contains(dir.database().string()));
        CHECK_THAT(msg, Catch::Contains("not a database"));
    }
}

TEST_CASE("a database written by a newer version is refused", "[file_system][errors]") {
    temp_dir dir;
    std::filesystem::create_directories(dir.data());
    {
        raw_db db(dir.database());
        db.exec("PRAGMA user_version = 999");
    }
    auto msg = file_system_error_of([&] { (void)open_registry(dir.data()); });
    CHECK_THAT(msg, Catch::Contains(dir.database().string()));
    CHECK_THAT(msg, Catch::Contains("newer"));
}

TEST_CASE("a read-only data directory fails registry construction clearly", "[file_system][errors]") {
    temp_dir dir;
    std::filesystem::create_directories(dir.data());
    std::filesystem::permissions(dir.data(), std::filesystem::perms(0555));
    // In a child, which drops root's right to write anywhere first.
    child_process child([&](std::string& message) {
        if (::geteuid() == 0) {
            gid_t nogroup = 65534;
            if (::setgroups(1, &nogroup) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
                message = "cannot drop privileges";
                return 102;
            }
        }
        return try_open(dir.data(), message);
    });
    auto [status, message] = child.go();
    INFO(message);
    CHECK(status == 1);
    CHECK_THAT(message, Catch::Contains(dir.data().string()));
    CHECK_THAT(message, Catch::Contains("Permission denied"));
}

TEST_CASE("a failing write fails the action that needed it, other actors keep working",
          "[file_system][errors]") {
    temp_dir dir;
    log_capture logs(rivetkit::log_level::error);
    auto reg = open_registry(dir.data());
    auto client = reg.client();
    auto victim = client.get_or_create(counter, "counter", {"victim"});
    auto bystander = client.get_or_create(counter, "counter", {"bystander"});
    CHECK(victim.call<"increment">(1) == 1);
    CHECK(bystander.call<"increment">(1) == 1);

    // Every KV write of the victim now fails inside SQLite, deterministically.
    const auto id = rivetkit::file_system_actor_id("counter", {"victim"});
    raw_db db(dir.database());
    db.exec("CREATE TRIGGER fail_victim BEFORE INSERT ON kv WHEN NEW.actor_id = '" + id +
            "' BEGIN SELECT RAISE(ABORT, 'injected write failure'); END");

    try {
        victim.call<"increment">(1);
        FAIL("the action succeeded although its state could not be written");
    } catch (const rivetkit::error& e) {
        CHECK(e.code() == "internal_error");
    }
    CHECK(bystander.call<"increment">(1) == 2);
    CHECK(bystander.call<"increment">(1) == 3);
    auto line = logs.find({"injected write failure", id});
    REQUIRE(line);
    CHECK_THAT(*line, Catch::Contains(dir.database().string()));
    CHECK(stats_of(reg).failures >= 1);

    // Once writes work again, so does the victim; its last committed state is what survives.
    db.exec("DROP TRIGGER fail_victim");
    auto n = victim.call<"increment">(1);
    CHECK(n >= 2);
    reg.stop();
    {
        auto dropped = std::move(reg);
    }
    auto again = open_registry(dir.data());
    CHECK(again.client().get(counter, "counter", {"victim"}).call<"get">() == n);
    CHECK(again.client().get(counter, "counter", {"bystander"}).call<"get">() == 3);
}
