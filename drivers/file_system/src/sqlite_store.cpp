#include "sqlite_store.hpp"

#include <algorithm>
#include <array>
#include <future>
#include <optional>
#include <system_error>
#include <typeinfo>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <fmt/format.h>
#include <sqlite3.h>

#include "rivetkit/detail/thread_name.hpp"
#include "rivetkit/error.hpp"
#include "rivetkit/key.hpp"
#include "rivetkit/sql.hpp"

namespace rivetkit::drivers::fs {

namespace {

// Append-only: schema version N is the result of running the first N entries, in order, and
// PRAGMA user_version records N. Never edit an entry; add one.
constexpr std::array migrations{
    // 1: actors (key: serialize_key(key), injective), their KV entries, their alarms.
    R"sql(
CREATE TABLE actors (
    actor_id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    generation INTEGER NOT NULL,
    create_ts INTEGER NOT NULL,
    start_ts INTEGER,
    connectable_ts INTEGER,
    sleep_ts INTEGER,
    destroy_ts INTEGER
) WITHOUT ROWID;
CREATE UNIQUE INDEX actors_by_name_key ON actors (name, key);
CREATE TABLE kv (
    actor_id TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (actor_id, key)
) WITHOUT ROWID;
CREATE TABLE alarms (
    actor_id TEXT NOT NULL PRIMARY KEY,
    timestamp INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
};

// Statements (prepared once per connection; the pointer is the cache key).
constexpr const char* sql_actor_exists = "SELECT 1 FROM actors WHERE actor_id = ?1";
constexpr const char* sql_load_record =
    "SELECT actor_id, name, key, generation, create_ts, start_ts, connectable_ts, sleep_ts, destroy_ts "
    "FROM actors WHERE actor_id = ?1";
constexpr const char* sql_list_records =
    "SELECT actor_id, name, key, generation, create_ts, start_ts, connectable_ts, sleep_ts, destroy_ts "
    "FROM actors WHERE name = ?1";
constexpr const char* sql_insert_record =
    "INSERT INTO actors (actor_id, name, key, generation, create_ts, start_ts, connectable_ts, sleep_ts, destroy_ts) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
constexpr const char* sql_update_record =
    "UPDATE actors SET generation = ?2, create_ts = ?3, start_ts = ?4, connectable_ts = ?5, sleep_ts = ?6, "
    "destroy_ts = ?7 WHERE actor_id = ?1";
constexpr const char* sql_delete_record = "DELETE FROM actors WHERE actor_id = ?1";
constexpr const char* sql_delete_all_kv = "DELETE FROM kv WHERE actor_id = ?1";
constexpr const char* sql_kv_get = "SELECT value FROM kv WHERE actor_id = ?1 AND key = ?2";
constexpr const char* sql_kv_put =
    "INSERT INTO kv (actor_id, key, value) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (actor_id, key) DO UPDATE SET value = excluded.value";
constexpr const char* sql_kv_delete = "DELETE FROM kv WHERE actor_id = ?1 AND key = ?2";
constexpr const char* sql_kv_from = "SELECT key, value FROM kv WHERE actor_id = ?1 AND key >= ?2 ORDER BY key";
constexpr const char* sql_set_alarm =
    "INSERT INTO alarms (actor_id, timestamp) VALUES (?1, ?2) "
    "ON CONFLICT (actor_id) DO UPDATE SET timestamp = excluded.timestamp";
constexpr const char* sql_delete_alarm = "DELETE FROM alarms WHERE actor_id = ?1";
constexpr const char* sql_load_alarms = "SELECT actor_id, timestamp FROM alarms";

/// How long the database thread waits for another connection's write lock.
constexpr int busy_timeout_ms = 10'000;

/// At most this many operations share a transaction, which bounds one batch's latency.
constexpr std::size_t max_batch = 1024;

/// Runs a statement of the batch protocol (BEGIN, SAVEPOINT, RELEASE, COMMIT) from the
/// connection's prepared-statement cache: exec() would compile it again every time, which cost
/// more than the write it wraps.
void run_prepared(connection& db, const char* sql) {
    statement_scope s(db.prepare(sql));
    s->run();
}

actor_record read_record(statement& s) {
    actor_record r;
    r.actor_id = s.text(0);
    r.name = s.text(1);
    r.key = deserialize_key(s.text(2));
    r.generation = static_cast<std::uint64_t>(s.int64(3));
    r.create_ts = s.int64(4);
    r.start_ts = s.optional_int64(5);
    r.connectable_ts = s.optional_int64(6);
    r.sleep_ts = s.optional_int64(7);
    r.destroy_ts = s.optional_int64(8);
    return r;
}

bool actor_exists(connection& db, const std::string& actor_id) {
    statement_scope s(db.prepare(sql_actor_exists));
    s->bind(1, actor_id);
    return s->step();
}

void delete_rows(connection& db, const char* sql, const std::string& actor_id) {
    statement_scope s(db.prepare(sql));
    s->bind(1, actor_id);
    s->run();
}

void put_entries(connection& db, const std::string& actor_id, const std::vector<kv_entry>& entries) {
    for (const auto& [k, v] : entries) {
        statement_scope s(db.prepare(sql_kv_put));
        s->bind(1, actor_id);
        s->bind(2, k);
        s->bind(3, v);
        s->run();
    }
}

bool has_prefix(const bytes& key, const bytes& prefix) {
    return key.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), key.begin());
}

const char* synchronous_pragma(durability mode) {
    switch (mode) {
    case durability::fsync:
        return "PRAGMA synchronous = FULL";  // the WAL is synced at every commit
    case durability::relaxed:
        return "PRAGMA synchronous = OFF";  // the runtime throttles saves; the OS flushes
    case durability::durable:
        break;
    }
    // In WAL mode a commit is in the OS (survives the process) at once, synced at checkpoints.
    return "PRAGMA synchronous = NORMAL";
}

const char* durability_name(durability mode) {
    switch (mode) {
    case durability::fsync:
        return "fsync";
    case durability::relaxed:
        return "relaxed";
    case durability::durable:
        break;
    }
    return "durable";
}

std::string describe(std::exception_ptr e) {
    try {
        std::rethrow_exception(std::move(e));
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "unknown error";
    }
}

}  // namespace

sqlite_store::sqlite_store(std::filesystem::path data_dir, durability mode)
    : data_dir_(std::move(data_dir)), database_file_(data_dir_ / "rivetkit.sqlite"), mode_(mode),
      log_("file-system") {
    std::error_code ec;
    std::filesystem::create_directories(data_dir_, ec);
    if (ec) {
        throw file_system_error(fmt::format("rivetkit file-system driver: cannot create the data directory {}: {}",
                                            data_dir_.string(), ec.message()));
    }
    lock_ = std::make_unique<directory_lock>(data_dir_);
    std::int64_t actors = open_registry_database();
    log_.info("file-system driver started", {{"data", data_dir_.string()},
                                             {"database", database_file_.string()},
                                             {"durability", durability_name(mode_)},
                                             {"actors", actors}});
    inline_batches_ = mode_ != durability::fsync;
    if (inline_batches_) {
        // Replaces the automatic checkpoint: wal_hook asks the database thread for one instead,
        // so no io thread ever syncs the database file.
        sqlite3_wal_hook(db_->handle(), &sqlite_store::wal_hook, this);
    }
    anchor_ = std::make_shared<anchor>();
    anchor_->store = this;
    // Named before the constructor returns (commits need not wait for this thread any more, so
    // nothing else would order its naming before a caller's look at the threads).
    std::promise<void> named;
    auto started = named.get_future();
    thread_ = std::thread([this, &named] {
        detail::name_this_thread("rivetkit-sqlite");
        named.set_value();
        run();
    });
    started.wait();
}

sqlite_store::~sqlite_store() {
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
    }
    wake_.notify_all();
    {
        // Flushes posted from now on do nothing; a running one finishes its batch first.
        std::unique_lock lock(anchor_->mutex);
        anchor_->store = nullptr;
        anchor_->idle.wait(lock, [this] { return anchor_->active == 0; });
    }
    if (thread_.joinable()) thread_.join();
    db_.reset();    // closes (and checkpoints) the database
    lock_.reset();  // only then lets the next owner in
}

std::int64_t sqlite_store::open_registry_database() {
    try {
        db_ = std::make_unique<connection>(database_file_);
        // Another connection (an operator's sqlite3 shell) may hold the write lock briefly.
        sqlite3_busy_timeout(db_->handle(), busy_timeout_ms);
        std::string journal;
        {
            statement_scope s(db_->prepare("PRAGMA journal_mode = WAL"));
            if (s->step()) journal = s->text(0);
        }
        if (journal != "wal") {
            throw sqlite_error(fmt::format("the database cannot use WAL mode (journal mode: {})", journal),
                               SQLITE_ERROR);
        }
        db_->exec(synchronous_pragma(mode_));
        auto version = db_->query_int("PRAGMA user_version");
        if (version < 0 || static_cast<std::size_t>(version) > migrations.size()) {
            throw sqlite_error(fmt::format("the database has schema version {}, newer than this build knows ({}); "
                                           "it was written by a newer rivetkit",
                                           version, migrations.size()),
                               SQLITE_ERROR);
        }
        for (auto v = static_cast<std::size_t>(version); v < migrations.size(); ++v) {
            db_->exec("BEGIN IMMEDIATE");
            try {
                db_->exec(migrations[v]);
                db_->exec(fmt::format("PRAGMA user_version = {}", v + 1).c_str());
                run_prepared(*db_, "COMMIT");
            } catch (...) {
                if (sqlite3_get_autocommit(db_->handle()) == 0) {
                    sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
                }
                throw;
            }
        }
        return db_->query_int("SELECT count(*) FROM actors");
    } catch (const sqlite_error& e) {
        db_.reset();
        throw file_system_error(fmt::format("rivetkit file-system driver: cannot use the database {}: {}",
                                            database_file_.string(), e.what()));
    }
}

std::filesystem::path sqlite_store::actor_database_file(const std::string& actor_id) const {
    // Ids are hex digests; anything else must never reach a path.
    constexpr std::string_view allowed = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
    if (actor_id.empty() || actor_id.find_first_not_of(allowed) != std::string::npos) {
        throw errors::actor_not_found(actor_id);
    }
    return data_dir_ / "databases" / (actor_id + ".sqlite");
}

std::shared_ptr<sql::database> sqlite_store::open_database(const std::string& actor_id) {
    sql::open_options options;
    options.fsync = mode_ == durability::fsync;
    return sql::database::open(actor_database_file(actor_id), options);
}

file_system_stats sqlite_store::stats() const noexcept {
    file_system_stats s;
    s.transactions = transactions_.load();
    s.writes = writes_.load();
    s.failures = failures_.load();
    s.pending = pending_.load();
    s.checkpoints = checkpoints_.load();
    return s;
}

// ---- the queue, the database thread and the io threads' flushes -------------------------

namespace {

/// The io_context executor under `caller` (itself, or a strand's inner executor), if it has one.
/// (any_io_executor::target<T>() of Asio 1.22 does not check the type: compare it first.)
std::optional<asio::io_context::executor_type> io_executor_of(const asio::any_io_executor& caller) {
    using io_executor = asio::io_context::executor_type;
    if (caller.target_type() == typeid(io_executor)) return *caller.target<io_executor>();
    if (caller.target_type() == typeid(asio::strand<io_executor>)) {
        return caller.target<asio::strand<io_executor>>()->get_inner_executor();
    }
    return std::nullopt;
}

}  // namespace

/// A flush posted to an io_context. Movable; a moved-from or run one does nothing when
/// destroyed, one destroyed unrun (its io_context was shut down or destroyed) hands its work to
/// the database thread.
class sqlite_store::flush_handler {
public:
    flush_handler(std::shared_ptr<anchor> a, asio::io_context::executor_type io)
        : anchor_(std::move(a)), io_(std::move(io)) {}
    flush_handler(flush_handler&& o) noexcept = default;
    flush_handler& operator=(flush_handler&&) = delete;
    flush_handler(const flush_handler&) = delete;
    flush_handler& operator=(const flush_handler&) = delete;
    ~flush_handler() {
        if (anchor_) visit(anchor_, false);
    }

    void operator()() {
        auto a = std::move(anchor_);
        visit(a, true);
    }

private:
    /// Calls the store, if it is still open, keeping its destructor waiting meanwhile.
    void visit(const std::shared_ptr<anchor>& a, bool run) {
        sqlite_store* store = nullptr;
        {
            std::lock_guard lock(a->mutex);
            store = a->store;
            if (!store) return;
            ++a->active;
        }
        if (run) {
            store->flush(io_);
        } else {
            store->flush_dropped(&io_.context());
        }
        {
            std::lock_guard lock(a->mutex);
            --a->active;
        }
        a->idle.notify_all();
    }

    std::shared_ptr<anchor> anchor_;
    asio::io_context::executor_type io_;
};

void sqlite_store::enqueue(std::unique_ptr<job> j, const asio::any_io_executor& caller) {
    std::vector<std::unique_ptr<job>> finished;
    asio::execution_context* post_to = nullptr;
    std::optional<asio::io_context::executor_type> io;
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (closing_) {
            throw file_system_error(
                fmt::format("rivetkit file-system driver: the store of {} is closed", data_dir_.string()));
        }
        queue_.push_back(std::move(j));
        ++pending_;
        finished.swap(finished_);
        finished_bytes_ = 0;
        if (inline_batches_ && caller && (io = io_executor_of(caller))) {
            auto* ctx = &io->context();
            if (std::find(flush_posted_.begin(), flush_posted_.end(), ctx) == flush_posted_.end()) {
                flush_posted_.push_back(ctx);
                post_to = ctx;
            }
        } else {
            thread_wanted_ = true;
            wake = true;
        }
    }
    if (wake) wake_.notify_one();
    // To the io_context itself: the caller's executor is usually an actor's strand, which would
    // order the flush behind that actor's handlers only.
    if (post_to) asio::post(*io, flush_handler(anchor_, *io));
    // `finished` goes here, on the thread that (usually) allocated it.
}

void sqlite_store::flush(const asio::io_context::executor_type& io) {
    auto* ctx = &io.context();
    std::vector<std::unique_ptr<job>> batch;
    {
        std::lock_guard lock(mutex_);
        std::erase(flush_posted_, ctx);
        if (closing_ || queue_.empty()) return;  // closing: the database thread drains the queue
        if (busy_ || checkpoint_wanted_.load()) {
            // The running batch's (or the checkpoint's) end posts this context a flush again. A
            // checkpoint asked for goes first: under a steady load the io threads' batches would
            // otherwise keep the database thread from the connection, and the WAL would grow.
            auto same = [ctx](const auto& e) { return &e.context() == ctx; };
            if (std::none_of(flush_skipped_.begin(), flush_skipped_.end(), same)) flush_skipped_.push_back(io);
            return;
        }
        busy_ = true;
        while (!queue_.empty() && batch.size() < max_batch) {
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
    }
    // Another process (an operator's sqlite3 shell) may hold the write lock. An io thread never
    // waits for it: the batch goes back to the front of the queue for the database thread, which
    // waits (with the busy timeout) while the io threads go on.
    const auto begun = try_begin(batch);
    if (begun == begin_result::locked) {
        {
            std::lock_guard lock(mutex_);
            for (auto it = batch.rbegin(); it != batch.rend(); ++it) queue_.push_front(std::move(*it));
            busy_ = false;
            thread_wanted_ = true;
        }
        wake_.notify_one();
        return;
    }
    // A failure other than the lock: run_batch() tries again and reports it to each operation.
    run_batch(batch, begun == begin_result::begun);
    finish(batch);
    std::vector<asio::io_context::executor_type> to;
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        busy_ = false;
        to = hand_on();
        wake = thread_wanted_ || closing_ || checkpoint_wanted_.load();
    }
    if (wake) wake_.notify_one();
    post_flushes(to);
}

sqlite_store::begin_result sqlite_store::try_begin(const std::vector<std::unique_ptr<job>>& batch) {
    const bool writes = std::any_of(batch.begin(), batch.end(), [](const auto& j) { return j->writes(); });
    auto result = begin_result::failed;
    sqlite3_busy_timeout(db_->handle(), 0);
    try {
        begin(writes);
        result = begin_result::begun;
    } catch (const sqlite_error& e) {
        if ((e.code() & 0xff) == SQLITE_BUSY) result = begin_result::locked;
    } catch (...) {
    }
    sqlite3_busy_timeout(db_->handle(), busy_timeout_ms);
    return result;
}

std::vector<asio::io_context::executor_type> sqlite_store::hand_on() {
    std::vector<asio::io_context::executor_type> to;
    if (closing_) {
        thread_wanted_ = true;  // the database thread drains what is left
        flush_skipped_.clear();
        return to;
    }
    for (auto& io : flush_skipped_) {
        auto* ctx = &io.context();
        if (std::find(flush_posted_.begin(), flush_posted_.end(), ctx) != flush_posted_.end()) continue;
        flush_posted_.push_back(ctx);
        to.push_back(std::move(io));
    }
    flush_skipped_.clear();
    if (!queue_.empty() && flush_posted_.empty()) thread_wanted_ = true;
    return to;
}

void sqlite_store::post_flushes(const std::vector<asio::io_context::executor_type>& to) {
    for (const auto& io : to) asio::post(io, flush_handler(anchor_, io));
}

void sqlite_store::flush_dropped(asio::execution_context* ctx) {
    {
        std::lock_guard lock(mutex_);
        std::erase(flush_posted_, ctx);
        if (queue_.empty() || busy_ || !flush_posted_.empty()) return;  // someone else runs it
        thread_wanted_ = true;
    }
    wake_.notify_one();
}

int sqlite_store::wal_hook(void* self, sqlite3* /*db*/, const char* /*name*/, int pages) {
    // SQLite's own automatic checkpoint threshold; the checkpoint itself (which syncs the
    // database file) runs on the database thread, not on the io thread that committed.
    constexpr int checkpoint_pages = 1000;
    if (pages >= checkpoint_pages) static_cast<sqlite_store*>(self)->checkpoint_wanted_.store(true);
    return SQLITE_OK;
}

void sqlite_store::checkpoint() {
    checkpoint_wanted_.store(false);
    int rc = sqlite3_wal_checkpoint_v2(db_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    ++checkpoints_;
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        log_.warn("WAL checkpoint failed", {{"database", database_file_.string()}, {"error", sqlite3_errstr(rc)}});
    }
}

void sqlite_store::finish(std::vector<std::unique_ptr<job>>& batch) {
    // Writes only, kept for the next enqueue() up to a bound, so an idle store holds little: at
    // most max_finished writes and max_finished_bytes of their data. (A read's result stays in
    // its oneshot as long as the oneshot lives, which a kept job would prolong: reads are freed
    // here, with the rest of a batch beyond the bound.)
    constexpr std::size_t max_finished = 1024;
    constexpr std::size_t max_finished_bytes = std::size_t{1} << 20;
    std::size_t count = 0;
    std::size_t bytes = 0;
    for (const auto& j : batch) {
        if (!j->writes()) continue;
        ++count;
        bytes += j->held_bytes;
    }
    if (count == 0) return;
    std::lock_guard lock(mutex_);
    if (closing_ || finished_.size() + count > max_finished || finished_bytes_ + bytes > max_finished_bytes) return;
    for (auto& j : batch) {
        if (j->writes()) finished_.push_back(std::move(j));
    }
    finished_bytes_ += bytes;
}

void sqlite_store::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return !busy_ && (closing_ || thread_wanted_ || checkpoint_wanted_.load()); });
        std::vector<std::unique_ptr<job>> batch;
        const bool checkpoint_now = checkpoint_wanted_.load() && !closing_;
        if (!checkpoint_now) {
            if (queue_.empty()) {
                thread_wanted_ = false;
                if (closing_) return;  // everything queued is done
                continue;
            }
            while (!queue_.empty() && batch.size() < max_batch) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
            thread_wanted_ = false;
        }
        busy_ = true;
        lock.unlock();
        if (checkpoint_now) {
            checkpoint();
        } else {
            run_batch(batch, false);
            finish(batch);
        }
        lock.lock();
        busy_ = false;
        auto to = hand_on();  // may want this thread again
        if (!to.empty()) {
            lock.unlock();
            post_flushes(to);
            lock.lock();
        }
    }
}

void sqlite_store::begin(bool writes) {
    if (sqlite3_get_autocommit(db_->handle()) == 0) {
        sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);  // a failed commit's leftovers
    }
    // IMMEDIATE takes the write lock up front, so a batch never fails half-way on a busy lock.
    run_prepared(*db_, writes ? "BEGIN IMMEDIATE" : "BEGIN");
}

std::exception_ptr sqlite_store::failure(const job& j, const std::string& reason) const {
    return std::make_exception_ptr(file_system_error(fmt::format(
        "rivetkit file-system driver: {} failed ({}): {}", j.what(), database_file_.string(), reason)));
}

void sqlite_store::log_failure(const std::string& operation, const std::string& reason) const {
    log_.error("storage operation failed",
               {{"operation", operation}, {"database", database_file_.string()}, {"error", reason}});
}

void sqlite_store::run_batch(std::vector<std::unique_ptr<job>>& batch, bool begun) {
    const bool writes = std::any_of(batch.begin(), batch.end(), [](const auto& j) { return j->writes(); });
    if (log_.enabled(log_level::trace)) {
        log_.trace("applying a batch", {{"operations", batch.size()}, {"writes", writes}});
    }
    // Operations applied in the open transaction: they are lost with it if it rolls back.
    std::vector<job*> applied;
    auto lose_transaction = [&](const std::string& reason) {
        for (auto* a : applied) {
            log_failure(a->what(), reason);
            a->fail(failure(*a, reason));
        }
        applied.clear();
    };

    bool open = begun;
    for (auto& jp : batch) {
        job& j = *jp;
        if (!open) {
            try {
                begin(writes);
                open = true;
            } catch (...) {
                auto reason = describe(std::current_exception());
                log_failure(j.what(), reason);
                j.fail(failure(j, reason));
                continue;
            }
        }
        txn t{*db_, {}};
        try {
            if (j.writes()) run_prepared(*db_, "SAVEPOINT op");
            j.execute(t);
            if (j.writes()) run_prepared(*db_, "RELEASE op");
            j.remove_after_commit = std::move(t.remove_after_commit);
            applied.push_back(&j);
        } catch (...) {
            auto reason = describe(std::current_exception());
            log_failure(j.what(), reason);
            j.fail(failure(j, reason));
            if (sqlite3_get_autocommit(db_->handle()) != 0) {
                // SQLite rolled the whole transaction back (I/O error, disk full, ...).
                lose_transaction(reason);
                open = false;
            } else if (j.writes()) {
                // Undo this operation only; the others in the batch go on.
                try {
                    db_->exec("ROLLBACK TO op");
                    db_->exec("RELEASE op");
                } catch (...) {
                    sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
                    lose_transaction(reason);
                    open = false;
                }
            }
        }
    }
    if (open) {
        try {
            run_prepared(*db_, "COMMIT");
            if (std::any_of(applied.begin(), applied.end(), [](const job* a) { return a->writes(); })) {
                ++transactions_;
            }
        } catch (...) {
            auto reason = describe(std::current_exception());
            sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
            lose_transaction(reason);
        }
    }

    for (auto* a : applied) {
        if (a->writes()) ++writes_;
        for (const auto& f : a->remove_after_commit) {
            std::error_code ec;
            std::filesystem::remove(f, ec);
            if (ec) log_.warn("cannot delete a file", {{"file", f.string()}, {"error", ec.message()}});
        }
    }
    for (auto& j : batch) {
        if (j->failed()) ++failures_;
        j->publish();
        --pending_;
    }
}

// ---- operations ----------------------------------------------------------------------------
// Each builds its work as a plain function (never a lambda inside a coroutine body: GCC 12
// destroys such temporaries twice), queues it, and awaits the named result.

namespace {

detail::unique_function<std::optional<actor_record>(txn&)> load_record_work(std::string actor_id) {
    return [actor_id = std::move(actor_id)](txn& t) -> std::optional<actor_record> {
        statement_scope s(t.db.prepare(sql_load_record));
        s->bind(1, actor_id);
        if (!s->step()) return std::nullopt;
        return read_record(*s);
    };
}

void remove_actor_database(txn& t, const std::filesystem::path& file) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        auto f = file;
        f += suffix;
        t.remove_after_commit.push_back(std::move(f));
    }
}

}  // namespace

task<std::optional<actor_record>> sqlite_store::load_record(std::string actor_id) {
    auto what = fmt::format("reading actor {}", actor_id);
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<std::optional<actor_record>>(false, std::move(what), load_record_work(std::move(actor_id)), 0,
                                                    caller);
    co_return co_await done->wait();
}

namespace {
detail::unique_function<void(txn&)> create_record_work(actor_record record, std::vector<kv_entry> initial_kv,
                                                       std::filesystem::path actor_db) {
    return [record = std::move(record), kv = std::move(initial_kv), actor_db = std::move(actor_db)](txn& t) {
        // Remains under this id (an earlier generation) go first.
        delete_rows(t.db, sql_delete_all_kv, record.actor_id);
        delete_rows(t.db, sql_delete_alarm, record.actor_id);
        delete_rows(t.db, sql_delete_record, record.actor_id);
        {
            statement_scope s(t.db.prepare(sql_insert_record));
            s->bind(1, record.actor_id);
            s->bind(2, record.name);
            s->bind(3, serialize_key(record.key));
            s->bind(4, static_cast<std::int64_t>(record.generation));
            s->bind(5, record.create_ts);
            s->bind(6, record.start_ts);
            s->bind(7, record.connectable_ts);
            s->bind(8, record.sleep_ts);
            s->bind(9, record.destroy_ts);
            s->run();
        }
        put_entries(t.db, record.actor_id, kv);
        // A SQL database left by an earlier generation (e.g. a crash during its destroy).
        remove_actor_database(t, actor_db);
    };
}
}  // namespace

task<void> sqlite_store::create_record(actor_record record, std::vector<kv_entry> initial_kv) {
    auto what = fmt::format("creating actor {}", record.actor_id);
    auto actor_db = actor_database_file(record.actor_id);
    std::size_t bytes = 0;
    for (const auto& e : initial_kv) bytes += e.first.size() + e.second.size();
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<void>(true, std::move(what),
                             create_record_work(std::move(record), std::move(initial_kv), std::move(actor_db)),
                             bytes, caller);
    co_await done->wait();
}

namespace {
detail::unique_function<void(txn&)> update_record_work(actor_record record) {
    return [record = std::move(record)](txn& t) {
        statement_scope s(t.db.prepare(sql_update_record));
        s->bind(1, record.actor_id);
        s->bind(2, static_cast<std::int64_t>(record.generation));
        s->bind(3, record.create_ts);
        s->bind(4, record.start_ts);
        s->bind(5, record.connectable_ts);
        s->bind(6, record.sleep_ts);
        s->bind(7, record.destroy_ts);
        s->run();
    };
}
}  // namespace

task<void> sqlite_store::update_record(actor_record record) {
    auto what = fmt::format("updating actor {}", record.actor_id);
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<void>(true, std::move(what), update_record_work(std::move(record)), 0, caller);
    co_await done->wait();
}

namespace {
detail::unique_function<void(txn&)> delete_actor_work(std::string actor_id, std::filesystem::path actor_db) {
    return [actor_id = std::move(actor_id), actor_db = std::move(actor_db)](txn& t) {
        delete_rows(t.db, sql_delete_all_kv, actor_id);
        delete_rows(t.db, sql_delete_alarm, actor_id);
        delete_rows(t.db, sql_delete_record, actor_id);
        remove_actor_database(t, actor_db);
    };
}
}  // namespace

task<void> sqlite_store::delete_actor(std::string actor_id) {
    auto what = fmt::format("deleting actor {}", actor_id);
    auto actor_db = actor_database_file(actor_id);
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<void>(true, std::move(what), delete_actor_work(std::move(actor_id), std::move(actor_db)), 0,
                             caller);
    co_await done->wait();
}

namespace {
detail::unique_function<std::vector<actor_record>(txn&)> list_records_work(std::string name) {
    return [name = std::move(name)](txn& t) {
        std::vector<actor_record> out;
        statement_scope s(t.db.prepare(sql_list_records));
        s->bind(1, name);
        while (s->step()) out.push_back(read_record(*s));
        return out;
    };
}
}  // namespace

task<std::vector<actor_record>> sqlite_store::list_records(std::string name) {
    auto what = fmt::format("listing actors named '{}'", name);
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<std::vector<actor_record>>(false, std::move(what), list_records_work(std::move(name)), 0,
                                                  caller);
    co_return co_await done->wait();
}

namespace {
detail::unique_function<std::vector<std::optional<bytes>>(txn&)> kv_get_work(std::string actor_id,
                                                                              std::vector<bytes> keys) {
    return [actor_id = std::move(actor_id), keys = std::move(keys)](txn& t) {
        std::vector<std::optional<bytes>> out(keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i) {
            statement_scope s(t.db.prepare(sql_kv_get));
            s->bind(1, actor_id);
            s->bind(2, keys[i]);
            if (s->step()) out[i] = s->blob(0);
        }
        return out;
    };
}
}  // namespace

task<std::vector<std::optional<bytes>>> sqlite_store::kv_get(std::string actor_id, std::vector<bytes> keys) {
    auto what = fmt::format("reading KV of actor {}", actor_id);
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<std::vector<std::optional<bytes>>>(false, std::move(what),
                                                          kv_get_work(std::move(actor_id), std::move(keys)), 0, caller);
    co_return co_await done->wait();
}

namespace {
detail::unique_function<void(txn&)> kv_put_work(std::string actor_id, std::vector<kv_entry> entries) {
    return [actor_id = std::move(actor_id), entries = std::move(entries)](txn& t) {
        if (!actor_exists(t.db, actor_id)) return;  // destroyed meanwhile: nothing to keep
        put_entries(t.db, actor_id, entries);
    };
}
}  // namespace

task<void> sqlite_store::kv_put(std::string actor_id, std::vector<kv_entry> entries) {
    auto what = fmt::format("writing KV of actor {}", actor_id);
    std::size_t bytes = 0;
    for (const auto& e : entries) bytes += e.first.size() + e.second.size();
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<void>(true, std::move(what), kv_put_work(std::move(actor_id), std::move(entries)), bytes,
                             caller);
    co_await done->wait();
}

namespace {
detail::unique_function<void(txn&)> kv_delete_work(std::string actor_id, std::vector<bytes> keys) {
    return [actor_id = std::move(actor_id), keys = std::move(keys)](txn& t) {
        for (const auto& k : keys) {
            statement_scope s(t.db.prepare(sql_kv_delete));
            s->bind(1, actor_id);
            s->bind(2, k);
            s->run();
        }
    };
}
}  // namespace

task<void> sqlite_store::kv_delete(std::string actor_id, std::vector<bytes> keys) {
    auto what = fmt::format("deleting KV of actor {}", actor_id);
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<void>(true, std::move(what), kv_delete_work(std::move(actor_id), std::move(keys)), 0, caller);
    co_await done->wait();
}

namespace {
detail::unique_function<std::vector<kv_entry>(txn&)> kv_list_prefix_work(std::string actor_id, bytes prefix) {
    return [actor_id = std::move(actor_id), prefix = std::move(prefix)](txn& t) {
        // Keys compare as blobs (memcmp, then length): the keys with the prefix are a run
        // starting at the prefix itself.
        std::vector<kv_entry> out;
        statement_scope s(t.db.prepare(sql_kv_from));
        s->bind(1, actor_id);
        s->bind(2, prefix);
        while (s->step()) {
            bytes key = s->blob(0);
            if (!has_prefix(key, prefix)) break;
            out.emplace_back(std::move(key), s->blob(1));
        }
        return out;
    };
}
}  // namespace

task<std::vector<kv_entry>> sqlite_store::kv_list_prefix(std::string actor_id, bytes prefix) {
    auto what = fmt::format("listing KV of actor {}", actor_id);
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<std::vector<kv_entry>>(false, std::move(what),
                                              kv_list_prefix_work(std::move(actor_id), std::move(prefix)), 0, caller);
    co_return co_await done->wait();
}

namespace {
detail::unique_function<void(txn&)> store_alarm_work(std::string actor_id, std::optional<std::int64_t> ts) {
    return [actor_id = std::move(actor_id), ts](txn& t) {
        if (!ts) {
            delete_rows(t.db, sql_delete_alarm, actor_id);
            return;
        }
        if (!actor_exists(t.db, actor_id)) return;  // destroyed meanwhile
        statement_scope s(t.db.prepare(sql_set_alarm));
        s->bind(1, actor_id);
        s->bind(2, *ts);
        s->run();
    };
}
}  // namespace

task<void> sqlite_store::store_alarm(std::string actor_id, std::optional<std::int64_t> timestamp_ms) {
    auto what = fmt::format("storing the alarm of actor {}", actor_id);
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<void>(true, std::move(what), store_alarm_work(std::move(actor_id), timestamp_ms), 0, caller);
    co_await done->wait();
}

namespace {
detail::unique_function<std::vector<std::pair<std::string, std::int64_t>>(txn&)> load_alarms_work() {
    return [](txn& t) {
        std::vector<std::pair<std::string, std::int64_t>> out;
        statement_scope s(t.db.prepare(sql_load_alarms));
        while (s->step()) out.emplace_back(s->text(0), s->int64(1));
        return out;
    };
}
}  // namespace

task<std::vector<std::pair<std::string, std::int64_t>>> sqlite_store::load_alarms() {
    auto caller = co_await asio::this_coro::executor;
    auto done = submit<std::vector<std::pair<std::string, std::int64_t>>>(false, "loading alarms",
                                                                          load_alarms_work(), 0, caller);
    co_return co_await done->wait();
}

}  // namespace rivetkit::drivers::fs
