#pragma once
// The file-system driver's local_store: one SQLite database in WAL mode. Callers queue
// operations; a batch takes everything queued, applies it in one transaction (group commit: one
// commit, one sync, for many actors' writes) and then completes each caller on its own executor.
// One queue keeps every actor's operations in call order, and one batch runs at a time.
//
// Who runs a batch depends on the durability mode. In `fsync` mode (a commit waits for the disk)
// it is always the database thread. In `durable` and `relaxed` modes (a commit is a write to the
// WAL, no sync) an operation queued from an io thread is run by that io thread: the first one
// queued in a turn of its event loop posts a flush, which runs after the handlers already queued
// there (the other actions of the turn) and commits them together, so a write needs no hand-off
// to another thread and back. The database thread then runs only what no io thread will: an
// operation queued without an io_context executor, a flush its io_context dropped unrun, a batch
// that found another connection's write lock (an io thread never waits for it), the queue at
// close, and the WAL's checkpoints (which sync the database file; automatic checkpoints are off
// in these modes).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>

#include "data_dir.hpp"
#include "rivetkit/detail/oneshot.hpp"
#include "rivetkit/detail/unique_function.hpp"
#include "rivetkit/drivers/file_system.hpp"
#include "rivetkit/local_host.hpp"
#include "rivetkit/log.hpp"
#include "rivetkit/options.hpp"
#include "sqlite.hpp"

namespace rivetkit::drivers::fs {

/// What one operation sees in its batch: the connection, inside the batch's
/// transaction, and files to delete once that transaction has committed.
struct txn {
    connection& db;
    std::vector<std::filesystem::path> remove_after_commit;
};

class sqlite_store final : public local_store {
public:
    /// Opens (creating as needed) and locks `data_dir`, opens and migrates the database and
    /// starts the database thread. Throws file_system_error naming the file that failed.
    sqlite_store(std::filesystem::path data_dir, durability mode);
    /// Completes every queued operation, then closes the database and releases the lock.
    ~sqlite_store() override;
    sqlite_store(const sqlite_store&) = delete;
    sqlite_store& operator=(const sqlite_store&) = delete;

    [[nodiscard]] std::string display_name() const override { return "File System"; }
    task<std::optional<actor_record>> load_record(std::string actor_id) override;
    task<void> create_record(actor_record record, std::vector<kv_entry> initial_kv) override;
    task<void> update_record(actor_record record) override;
    task<void> delete_actor(std::string actor_id) override;
    task<std::vector<actor_record>> list_records(std::string name) override;
    task<std::vector<std::optional<bytes>>> kv_get(std::string actor_id, std::vector<bytes> keys) override;
    task<void> kv_put(std::string actor_id, std::vector<kv_entry> entries) override;
    task<void> kv_delete(std::string actor_id, std::vector<bytes> keys) override;
    task<std::vector<kv_entry>> kv_list_prefix(std::string actor_id, bytes prefix) override;
    task<void> store_alarm(std::string actor_id, std::optional<std::int64_t> timestamp_ms) override;
    task<std::vector<std::pair<std::string, std::int64_t>>> load_alarms() override;
    /// Opens (creating on first use) `<data>/databases/<actor_id>.sqlite`, on the caller's
    /// thread: the SQL API is synchronous by design (rivetkit/sql.hpp).
    [[nodiscard]] std::shared_ptr<sql::database> open_database(const std::string& actor_id) override;

    [[nodiscard]] file_system_stats stats() const noexcept;
    [[nodiscard]] const std::filesystem::path& data_dir() const noexcept { return data_dir_; }
    [[nodiscard]] const std::filesystem::path& database_file() const noexcept { return database_file_; }
    /// `<data>/databases/<actor_id>.sqlite`: the actor's own SQL database (c.db()).
    [[nodiscard]] std::filesystem::path actor_database_file(const std::string& actor_id) const;

    /// One queued operation. Runs in a batch (on an io thread or the database thread); its waiter
    /// is completed after the batch's commit (so a completed write is committed).
    class job {
    public:
        job(bool writes, std::string what) : writes_(writes), what_(std::move(what)) {}
        virtual ~job() = default;
        job(const job&) = delete;
        job& operator=(const job&) = delete;
        /// Applies the operation; throws on failure.
        virtual void execute(txn& t) = 0;
        /// Records the error the waiter will get.
        virtual void fail(std::exception_ptr e) = 0;
        [[nodiscard]] virtual bool failed() const noexcept = 0;
        /// Completes the waiter (it resumes on its own executor).
        virtual void publish() = 0;

        [[nodiscard]] bool writes() const noexcept { return writes_; }
        /// "writing KV of actor ...", for errors and logs.
        [[nodiscard]] const std::string& what() const noexcept { return what_; }
        std::vector<std::filesystem::path> remove_after_commit;
        /// The bytes a write holds (its keys and values), for finished_'s bound.
        std::size_t held_bytes = 0;

    private:
        bool writes_;
        std::string what_;
    };

    template <class T>
    class typed_job;

    /// Queues `fn` and returns what its caller awaits. Throws when the store is closed. `caller`
    /// is the executor of the coroutine that will await it; an io thread's flush runs the batch
    /// there when the mode allows (see the top of this file), else (or with no executor) the
    /// database thread does.
    template <class T>
    std::shared_ptr<detail::oneshot<T>> submit(bool writes, std::string what,
                                               detail::unique_function<T(txn&)> fn, std::size_t held_bytes = 0,
                                               const asio::any_io_executor& caller = {});

private:
    /// What a flush posted to an io_context finds the store through: such a handler may run, or
    /// be destroyed unrun, after the store is gone.
    struct anchor {
        std::mutex mutex;
        std::condition_variable idle;
        sqlite_store* store = nullptr;  // null once the store is closing
        int active = 0;                 // flushes running now
    };
    /// A flush posted to an io_context (defined in the .cpp).
    class flush_handler;

    /// Opens, configures and migrates the database; returns the number of stored actors.
    std::int64_t open_registry_database();
    void enqueue(std::unique_ptr<job> j, const asio::any_io_executor& caller);
    void run();
    /// A flush on an io thread: runs a batch unless one is running (that one's end looks at the
    /// queue again) or the store is closing (the database thread drains it).
    void flush(const asio::io_context::executor_type& io);
    /// A flush destroyed unrun (its io_context shut down): the database thread takes over.
    void flush_dropped(asio::execution_context* ctx);
    /// At the end of a batch or checkpoint (mutex_ held, busy_ just cleared): keeps the invariant
    /// stated at busy_. Returns the flushes to post (after unlocking); may want the database thread.
    [[nodiscard]] std::vector<asio::io_context::executor_type> hand_on();
    /// Posts a flush to each of `to` (mutex_ not held).
    void post_flushes(const std::vector<asio::io_context::executor_type>& to);
    /// A passive WAL checkpoint, on the database thread, when the WAL has grown (inline modes).
    void checkpoint();
    static int wal_hook(void* self, sqlite3* db, const char* name, int pages);
    /// Applies `batch` in one transaction (already open if `begun`) and completes its operations.
    void run_batch(std::vector<std::unique_ptr<job>>& batch, bool begun);
    enum class begin_result { begun, locked, failed };
    /// Opens the batch's transaction without waiting for another connection's write lock:
    /// `locked` if it is held, `failed` on any other error (nothing is open in either case).
    begin_result try_begin(const std::vector<std::unique_ptr<job>>& batch);
    /// Hands a completed batch's writes to finished_; frees the rest (and, beyond the bound, all)
    /// as the batch goes.
    void finish(std::vector<std::unique_ptr<job>>& batch);
    void begin(bool writes);
    [[nodiscard]] std::exception_ptr failure(const job& j, const std::string& reason) const;
    void log_failure(const std::string& operation, const std::string& reason) const;

    std::filesystem::path data_dir_;
    std::filesystem::path database_file_;
    durability mode_;
    logger log_;
    std::unique_ptr<directory_lock> lock_;
    std::unique_ptr<connection> db_;

    /// io threads run batches (durable and relaxed modes).
    bool inline_batches_ = false;
    std::shared_ptr<anchor> anchor_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::unique_ptr<job>> queue_;
    // Who runs what is queued. Invariant (under mutex_): while the queue is not empty, a batch is
    // running (busy_; its end hands on), or a flush is posted, or the database thread is wanted.
    /// A batch (or a checkpoint) is running: the connection is in use.
    bool busy_ = false;
    /// The database thread is to run a batch (nothing else would run what is queued).
    bool thread_wanted_ = false;
    /// The io_contexts with a flush posted and not yet run (one each at most).
    std::vector<asio::execution_context*> flush_posted_;
    /// The io_contexts whose flush ran while a batch was running: the end of that batch posts
    /// them a flush again.
    std::vector<asio::io_context::executor_type> flush_skipped_;
    /// The WAL has grown past the checkpoint threshold (set by wal_hook, in a commit).
    std::atomic<bool> checkpoint_wanted_{false};
    /// Completed writes whose memory (allocated by the thread that queued them) the next
    /// enqueue() frees on its own thread: freeing it on the thread that ran the batch would hand
    /// every block to another thread's allocator arena, under that arena's lock. Bounded
    /// (finish()).
    std::vector<std::unique_ptr<job>> finished_;
    std::size_t finished_bytes_ = 0;
    bool closing_ = false;
    std::thread thread_;

    std::atomic<std::uint64_t> transactions_{0};
    std::atomic<std::uint64_t> writes_{0};
    std::atomic<std::uint64_t> failures_{0};
    std::atomic<std::uint64_t> pending_{0};
    std::atomic<std::uint64_t> checkpoints_{0};
};

template <class T>
class sqlite_store::typed_job final : public sqlite_store::job {
    using stored = std::conditional_t<std::is_void_v<T>, detail::empty, T>;

public:
    typed_job(bool writes, std::string what, detail::unique_function<T(txn&)> fn,
              std::shared_ptr<detail::oneshot<T>> done)
        : job(writes, std::move(what)), fn_(std::move(fn)), done_(std::move(done)) {}

    void execute(txn& t) override {
        if constexpr (std::is_void_v<T>) {
            fn_(t);
            result_.emplace();
        } else {
            result_.emplace(fn_(t));
        }
    }
    void fail(std::exception_ptr e) override {
        result_.reset();
        if (!error_) error_ = std::move(e);
    }
    [[nodiscard]] bool failed() const noexcept override { return error_ != nullptr; }
    void publish() override {
        if (error_ || !result_) {
            done_->set_exception(error_ ? error_ : std::make_exception_ptr(file_system_error("operation not run")));
        } else if constexpr (std::is_void_v<T>) {
            done_->set_value();
        } else {
            done_->set_value(std::move(*result_));
        }
    }

private:
    detail::unique_function<T(txn&)> fn_;
    std::shared_ptr<detail::oneshot<T>> done_;
    std::optional<stored> result_;
    std::exception_ptr error_;
};

template <class T>
std::shared_ptr<detail::oneshot<T>> sqlite_store::submit(bool writes, std::string what,
                                                         detail::unique_function<T(txn&)> fn, std::size_t held_bytes,
                                                         const asio::any_io_executor& caller) {
    auto done = detail::oneshot<T>::make();
    auto j = std::make_unique<typed_job<T>>(writes, std::move(what), std::move(fn), done);
    j->held_bytes = held_bytes;
    enqueue(std::move(j), caller);
    return done;
}

}  // namespace rivetkit::drivers::fs
