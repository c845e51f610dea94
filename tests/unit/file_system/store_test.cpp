// The database thread's queue (sqlite_store): where a completed operation's memory is freed.

#include <future>
#include <memory>
#include <thread>
#include <utility>

#include "fs_test_support.hpp"
#include "sqlite_store.hpp"

using namespace fs_test;
using rivetkit::drivers::fs::sqlite_store;
using rivetkit::drivers::fs::txn;

namespace {

/// Captured by an operation: records the thread its capture is destroyed on.
class freed_on {
public:
    explicit freed_on(std::shared_ptr<std::promise<std::thread::id>> p) : p_(std::move(p)) {}
    freed_on(freed_on&& o) noexcept : p_(std::move(o.p_)) {}
    freed_on& operator=(freed_on&&) = delete;
    ~freed_on() {
        if (p_) p_->set_value(std::this_thread::get_id());
    }

private:
    std::shared_ptr<std::promise<std::thread::id>> p_;
};

/// Waits until `done` is set (on_ready runs its callback inline when it already is).
template <class T>
void wait_for(const std::shared_ptr<rivetkit::detail::oneshot<T>>& done) {
    std::promise<void> completed;
    done->on_ready([&completed] { completed.set_value(); });
    completed.get_future().get();
}

/// Queues a write that does nothing but hold `tracer` (and claims `held_bytes`), and waits
/// until it has been committed; returns the thread that ran it (the database thread: no executor
/// is given). The operation reports its thread itself: the thread on_ready's callback runs on
/// is the caller's when the write completed before on_ready was called.
std::thread::id run_write(sqlite_store& store, freed_on tracer, std::size_t held_bytes) {
    auto done = store.submit<std::thread::id>(
        true, "test write",
        [t = std::move(tracer)](txn&) {
            (void)t;
            return std::this_thread::get_id();
        },
        held_bytes);
    wait_for(done);
    return done->get();
}

std::thread::id run_plain_write(sqlite_store& store) {
    return run_write(store, freed_on(nullptr), 0);
}

}  // namespace

TEST_CASE("file-system store: a completed write's memory is freed by the next caller's thread", "[file_system]") {
    temp_dir dir;
    sqlite_store store(dir.data(), rivetkit::durability::durable);
    auto first = std::make_shared<std::promise<std::thread::id>>();
    auto freed = first->get_future();
    const auto db_thread = run_write(store, freed_on(first), 64);
    CHECK(db_thread != std::this_thread::get_id());
    // The first write is handed back once its batch is done, which is before the database
    // thread takes the second; the enqueue after that one finds it at the latest.
    run_plain_write(store);
    run_plain_write(store);
    REQUIRE(freed.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    CHECK(freed.get() == std::this_thread::get_id());
}

TEST_CASE("file-system store: a write holding more than the bound is freed on the database thread", "[file_system]") {
    temp_dir dir;
    sqlite_store store(dir.data(), rivetkit::durability::durable);
    auto big = std::make_shared<std::promise<std::thread::id>>();
    auto freed = big->get_future();
    // 2 MiB of data: beyond what an idle store keeps for the next caller (1 MiB).
    const auto db_thread = run_write(store, freed_on(big), std::size_t{2} << 20);
    run_plain_write(store);  // the database thread let the first batch go before taking this one
    REQUIRE(freed.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    CHECK(freed.get() == db_thread);
}

TEST_CASE("file-system store: a read is freed on the database thread (its result is not kept)", "[file_system]") {
    temp_dir dir;
    sqlite_store store(dir.data(), rivetkit::durability::durable);
    auto read = std::make_shared<std::promise<std::thread::id>>();
    auto freed = read->get_future();
    auto done = store.submit<std::pair<int, std::thread::id>>(false, "test read", [t = freed_on(read)](txn&) {
        (void)t;
        return std::pair{7, std::this_thread::get_id()};
    });
    wait_for(done);
    const auto [result, db_thread] = done->get();
    CHECK(result == 7);
    CHECK(db_thread != std::this_thread::get_id());
    run_plain_write(store);  // the database thread let the read's batch go before taking this one
    REQUIRE(freed.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    CHECK(freed.get() == db_thread);
}
