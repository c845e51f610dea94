// Who runs a batch (sqlite_store): in durable and relaxed modes the io thread that queued the
// operation, in fsync mode (or without an io executor) the database thread; a flush its
// io_context drops still gets its operations run; the WAL is checkpointed by the database thread.

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include "fs_test_support.hpp"
#include "sqlite_store.hpp"
#include "thread_names.hpp"

using namespace fs_test;
using rivetkit::drivers::fs::sqlite_store;
using rivetkit::drivers::fs::txn;

namespace {

/// An io_context run by a thread of its own until destroyed.
class io_thread {
public:
    io_thread() : guard_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
    ~io_thread() {
        guard_.reset();
        thread_.join();
    }
    io_thread(const io_thread&) = delete;
    io_thread& operator=(const io_thread&) = delete;

    asio::io_context& context() { return io_; }
    [[nodiscard]] std::thread::id id() const { return thread_.get_id(); }

private:
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    std::thread thread_;
};

/// Queues a write as a caller on `caller` does; returns the thread and the thread name the write
/// ran on, once it is committed.
std::pair<std::thread::id, std::string> write_from(sqlite_store& store, const asio::any_io_executor& caller) {
    auto done = store.submit<std::pair<std::thread::id, std::string>>(
        true, "test write",
        [](txn& t) {
            t.db.exec("CREATE TABLE IF NOT EXISTS probe (n INTEGER)");
            t.db.exec("INSERT INTO probe VALUES (1)");
            return std::pair{std::this_thread::get_id(), test_support::this_thread_name()};
        },
        0, caller);
    std::promise<void> ready;
    done->on_ready([&ready] { ready.set_value(); });
    REQUIRE(ready.get_future().wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    return done->get();
}

}  // namespace

TEST_CASE("file-system store: durable and relaxed writes run on the io thread that queued them", "[file_system]") {
    const auto mode = GENERATE(rivetkit::durability::durable, rivetkit::durability::relaxed);
    temp_dir dir;
    sqlite_store store(dir.data(), mode);
    io_thread io;
    // From the io_context's own executor, and from a strand on it (as an actor queues its writes).
    CHECK(write_from(store, io.context().get_executor()).first == io.id());
    CHECK(write_from(store, asio::make_strand(io.context())).first == io.id());
    CHECK(store.stats().writes == 2);
    CHECK(eventually([&] { return store.stats().pending == 0; }));  // counted down after completing
}

TEST_CASE("file-system store: fsync writes, and writes queued without an executor, run on the database thread",
          "[file_system]") {
    io_thread io;
    {
        temp_dir dir;
        sqlite_store store(dir.data(), rivetkit::durability::fsync);
        const auto [id, name] = write_from(store, io.context().get_executor());
        CHECK(id != io.id());
        CHECK(name == "rivetkit-sqlite");
    }
    {
        temp_dir dir;
        sqlite_store store(dir.data(), rivetkit::durability::durable);
        const auto [id, name] = write_from(store, asio::any_io_executor{});
        CHECK(id != std::this_thread::get_id());
        CHECK(name == "rivetkit-sqlite");
    }
}

TEST_CASE("file-system store: a flush its io_context drops unrun hands the write to the database thread",
          "[file_system]") {
    temp_dir dir;
    sqlite_store store(dir.data(), rivetkit::durability::durable);
    auto io = std::make_unique<asio::io_context>();  // never run: the posted flush never runs
    std::promise<std::string> ran_on;
    auto done = store.submit<void>(
        true, "test write", [&ran_on](txn&) { ran_on.set_value(test_support::this_thread_name()); }, 0,
        io->get_executor());
    CHECK(store.stats().pending == 1);
    io.reset();  // destroys the flush unrun
    auto name = ran_on.get_future();
    REQUIRE(name.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    CHECK(name.get() == "rivetkit-sqlite");
    REQUIRE(eventually([&] { return done->ready(); }));
    CHECK_NOTHROW(done->get());
}

TEST_CASE("file-system store: a flush that outlives the store does nothing (the store ran its write as it closed)",
          "[file_system]") {
    temp_dir dir;
    asio::io_context io;  // run only after the store is gone
    std::shared_ptr<rivetkit::detail::oneshot<void>> done;
    {
        sqlite_store store(dir.data(), rivetkit::durability::durable);
        done = store.submit<void>(
            true, "test write", [](txn& t) { t.db.exec("CREATE TABLE kept (n INTEGER)"); }, 0, io.get_executor());
    }  // closing runs what is queued
    CHECK(done->ready());
    CHECK_NOTHROW(done->get());
    CHECK(io.run() == 1);  // the flush, which finds the store gone
    raw_db db(dir.data() / "rivetkit.sqlite");
    CHECK(db.count("SELECT count(*) FROM sqlite_master WHERE name = 'kept'") == 1);
}

TEST_CASE("file-system store: the database thread checkpoints the WAL that io threads' commits grow",
          "[file_system]") {
    temp_dir dir;
    sqlite_store store(dir.data(), rivetkit::durability::durable);
    io_thread io;
    // 64 KiB a write: 96 writes exceed SQLite's checkpoint threshold (1 000 pages of 4 KiB).
    for (int i = 0; i < 96; ++i) {
        auto done = store.submit<void>(
            true, "test write",
            [i](txn& t) {
                t.db.exec("CREATE TABLE IF NOT EXISTS blobs (n INTEGER PRIMARY KEY, b BLOB)");
                t.db.exec(("INSERT INTO blobs VALUES (" + std::to_string(i) + ", zeroblob(65536))").c_str());
            },
            0, io.context().get_executor());
        std::promise<void> ready;
        done->on_ready([&ready] { ready.set_value(); });
        REQUIRE(ready.get_future().wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    }
    REQUIRE(eventually([&] { return store.stats().checkpoints >= 1; }));
    // The checkpoint moved pages into the database file, which held only the schema before.
    CHECK(std::filesystem::file_size(dir.data() / "rivetkit.sqlite") >= std::uintmax_t{2} << 20);
}
