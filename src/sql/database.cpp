// rivetkit::sql over the SQLite C API: connections, statements, transactions, errors.
//
// A database tracks its live statements and transaction objects so that close() (called when
// the actor stops) and its destructor can finalize and end them: the user's objects then hold
// nothing that dangles, and fail cleanly if used.

#include "rivetkit/sql.hpp"

#include <algorithm>
#include <climits>
#include <new>

#include <fmt/format.h>
#include <sqlite3.h>

#include "rivetkit/driver.hpp"
#include "rivetkit/log.hpp"

namespace rivetkit::sql {

namespace {

// Long SQL is cut in messages: logs should point at the statement, not repeat a script.
constexpr std::size_t max_sql_in_message = 200;

std::string error_message(std::string_view sqlite_message, std::string_view sql) {
    if (sql.empty()) return std::string(sqlite_message);
    if (sql.size() > max_sql_in_message) {
        return fmt::format("{} (in: {}...)", sqlite_message, sql.substr(0, max_sql_in_message));
    }
    return fmt::format("{} (in: {})", sqlite_message, sql);
}

/// The error of the last failed call on `db`, with result code `rc`.
error last_error(sqlite3* db, int rc, std::string_view sql = {}) {
    const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return error(rc, msg != nullptr ? msg : sqlite3_errstr(rc), sql);
}

error misuse(std::string message, std::string_view sql = {}) {
    return error(SQLITE_MISUSE, std::move(message), sql);
}

bool only_space(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r'); });
}

std::string_view type_name(column_type t) {
    switch (t) {
        case column_type::integer: return "INTEGER";
        case column_type::real: return "REAL";
        case column_type::text: return "TEXT";
        case column_type::blob: return "BLOB";
        case column_type::null: return "NULL";
    }
    return "?";
}

int checked_length(std::size_t n, std::string_view what) {
    if (n > static_cast<std::size_t>(INT_MAX)) throw misuse(fmt::format("{} is too long ({} bytes)", what, n));
    return static_cast<int>(n);
}

}  // namespace

// ---- errors --------------------------------------------------------------------------------

error::error(int result_code, std::string message, std::string_view sql)
    : rivetkit::error("database", "sql_error", error_message(message, sql), {}, false),
      code_(result_code),
      sqlite_message_(std::move(message)),
      sql_(sql) {}

bool error::is_constraint_violation() const noexcept { return primary_code() == SQLITE_CONSTRAINT; }
bool error::is_busy() const noexcept { return primary_code() == SQLITE_BUSY || primary_code() == SQLITE_LOCKED; }
bool error::is_full() const noexcept { return primary_code() == SQLITE_FULL; }

rivetkit::error not_enabled_error() {
    return rivetkit::error("database", "not_enabled",
                           "Database not enabled: this actor's driver does not provide SQL databases", {},
                           false);
}

// ---- statement -----------------------------------------------------------------------------

statement::statement(database& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {
    try {
        db.statements_.push_back(this);
    } catch (...) {
        sqlite3_finalize(stmt);
        throw;
    }
}

statement::statement(statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      has_row_(std::exchange(other.has_row_, false)) {
    if (db_ != nullptr) std::replace(db_->statements_.begin(), db_->statements_.end(), &other, this);
}

statement& statement::operator=(statement&& other) noexcept {
    if (this == &other) return *this;
    release();
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    has_row_ = std::exchange(other.has_row_, false);
    if (db_ != nullptr) std::replace(db_->statements_.begin(), db_->statements_.end(), &other, this);
    return *this;
}

statement::~statement() { release(); }

void statement::release() noexcept {
    if (db_ != nullptr) std::erase(db_->statements_, this);
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    db_ = nullptr;
    stmt_ = nullptr;
    has_row_ = false;
}

std::string_view statement::sql() const noexcept {
    if (stmt_ == nullptr) return {};
    const char* s = sqlite3_sql(stmt_);
    return s != nullptr ? std::string_view(s) : std::string_view();
}

void statement::check_valid() const {
    if (stmt_ == nullptr) {
        throw misuse("the statement is not prepared (empty, moved from, or finalized when the actor stopped)");
    }
}

int statement::parameter_count() const {
    check_valid();
    return sqlite3_bind_parameter_count(stmt_);
}

int statement::parameter_index(std::string_view name) const {
    check_valid();
    if (name.empty()) throw error(SQLITE_RANGE, "empty parameter name", sql());
    const char first = name.front();
    if (first == ':' || first == '@' || first == '$' || first == '?') {
        const std::string n(name);
        if (int i = sqlite3_bind_parameter_index(stmt_, n.c_str()); i > 0) return i;
    } else {
        for (const char* prefix : {":", "@", "$"}) {
            const std::string n = prefix + std::string(name);
            if (int i = sqlite3_bind_parameter_index(stmt_, n.c_str()); i > 0) return i;
        }
    }
    throw error(SQLITE_RANGE, fmt::format("no parameter named '{}'", name), sql());
}

void statement::check_bind(int rc, int index) {
    if (rc == SQLITE_OK) return;
    if (rc == SQLITE_RANGE) {
        throw error(rc,
                    fmt::format("parameter index {} out of range (the statement has {} parameters)", index,
                                sqlite3_bind_parameter_count(stmt_)),
                    sql());
    }
    throw last_error(db_->db_, rc, sql());
}

statement& statement::bind_null(int index) {
    check_valid();
    check_bind(sqlite3_bind_null(stmt_, index), index);
    return *this;
}

statement& statement::bind_int64(int index, std::int64_t v) {
    check_valid();
    check_bind(sqlite3_bind_int64(stmt_, index, v), index);
    return *this;
}

statement& statement::bind_double(int index, double v) {
    check_valid();
    check_bind(sqlite3_bind_double(stmt_, index, v), index);
    return *this;
}

statement& statement::bind_text(int index, std::string_view v) {
    check_valid();
    // A null pointer would bind NULL: an empty string must stay an empty TEXT.
    const char* data = v.data() != nullptr ? v.data() : "";
    check_bind(sqlite3_bind_text64(stmt_, index, data, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8), index);
    return *this;
}

statement& statement::bind_blob(int index, std::span<const std::uint8_t> v) {
    check_valid();
    // Likewise, an empty blob is bound as a zero-length blob, not as NULL.
    const int rc = v.empty() ? sqlite3_bind_zeroblob(stmt_, index, 0)
                             : sqlite3_bind_blob64(stmt_, index, v.data(), v.size(), SQLITE_TRANSIENT);
    check_bind(rc, index);
    return *this;
}

statement& statement::bind_value(int index, const rivetkit::value& v) {
    switch (v.kind()) {
        case value_kind::undefined:
        case value_kind::null: return bind_null(index);
        case value_kind::boolean: return bind_int64(index, v.as_bool() ? 1 : 0);
        case value_kind::integer:
        case value_kind::bigint: return bind_int64(index, v.as_int());
        case value_kind::number: return bind_double(index, v.as_double());
        case value_kind::string: return bind_text(index, v.as_string());
        case value_kind::binary: return bind_blob(index, v.as_binary());
        case value_kind::array:
        case value_kind::object: break;
    }
    throw error(SQLITE_MISMATCH,
                fmt::format("parameter {}: an {} cannot be bound; serialise it first (for example to JSON text)",
                            index, kind_name(v.kind())),
                sql());
}

statement& statement::clear_bindings() {
    check_valid();
    sqlite3_clear_bindings(stmt_);
    return *this;
}

bool statement::step() {
    check_valid();
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
        has_row_ = true;
        return true;
    }
    has_row_ = false;
    if (rc == SQLITE_DONE) return false;
    error e = last_error(db_->db_, rc, sql());
    sqlite3_reset(stmt_);
    throw e;
}

std::size_t statement::execute() {
    check_valid();
    reset();
    const sqlite3_int64 before = sqlite3_total_changes64(db_->db_);
    while (step()) {
    }
    const sqlite3_int64 after = sqlite3_total_changes64(db_->db_);
    reset();
    // sqlite3_changes64 keeps its value across statements that change nothing (DDL, SELECT):
    // only trust it when this statement did change rows. It excludes trigger and foreign-key
    // action changes, which the total includes.
    if (after == before) return 0;
    return static_cast<std::size_t>(sqlite3_changes64(db_->db_));
}

void statement::reset() {
    check_valid();
    has_row_ = false;
    // The code returned repeats the last step()'s error, which was already reported.
    (void)sqlite3_reset(stmt_);
}

int statement::column_count() const {
    check_valid();
    return sqlite3_column_count(stmt_);
}

std::string_view statement::column_name(int i) const {
    check_valid();
    if (i < 0 || i >= sqlite3_column_count(stmt_)) {
        throw error(SQLITE_RANGE, fmt::format("column {} out of range", i), sql());
    }
    const char* n = sqlite3_column_name(stmt_, i);
    return n != nullptr ? std::string_view(n) : std::string_view();
}

void statement::check_column(int i) const {
    check_valid();
    if (!has_row_) throw misuse("no current row: call step() and check that it returned true", sql());
    if (i < 0 || i >= sqlite3_column_count(stmt_)) {
        throw error(SQLITE_RANGE,
                    fmt::format("column {} out of range (the row has {} columns)", i, sqlite3_column_count(stmt_)),
                    sql());
    }
}

column_type statement::type(int i) const {
    check_column(i);
    switch (sqlite3_column_type(stmt_, i)) {
        case SQLITE_INTEGER: return column_type::integer;
        case SQLITE_FLOAT: return column_type::real;
        case SQLITE_TEXT: return column_type::text;
        case SQLITE_BLOB: return column_type::blob;
        default: return column_type::null;
    }
}

bool statement::is_null(int i) const { return type(i) == column_type::null; }

std::int64_t statement::column_int(int i) const {
    check_column(i);
    return sqlite3_column_int64(stmt_, i);
}

double statement::column_double(int i) const {
    check_column(i);
    return sqlite3_column_double(stmt_, i);
}

std::string_view statement::column_text_view(int i) const {
    check_column(i);
    // Text first, then its length (SQLite's documented order).
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    const int n = sqlite3_column_bytes(stmt_, i);
    if (p == nullptr) return {};
    return {p, static_cast<std::size_t>(n)};
}

std::string statement::column_text(int i) const { return std::string(column_text_view(i)); }

std::span<const std::uint8_t> statement::column_blob_view(int i) const {
    check_column(i);
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, i));
    const int n = sqlite3_column_bytes(stmt_, i);
    if (p == nullptr) return {};
    return {p, static_cast<std::size_t>(n)};
}

rivetkit::bytes statement::column_blob(int i) const {
    auto v = column_blob_view(i);
    return rivetkit::bytes(v.begin(), v.end());
}

rivetkit::value statement::column_value(int i) const {
    switch (type(i)) {
        case column_type::integer: return value(column_int(i));
        case column_type::real: return value(column_double(i));
        case column_type::text: return value(column_text(i));
        case column_type::blob: return value(column_blob(i));
        case column_type::null: break;
    }
    return value(nullptr);
}

void statement::expect_type(int i, column_type want, std::string_view cpp_type) const {
    const column_type got = type(i);
    if (got == want || (want == column_type::real && got == column_type::integer)) return;
    const std::string_view name = column_name(i);
    if (got == column_type::null) {
        throw error(SQLITE_MISMATCH,
                    fmt::format("column {} (\"{}\") is NULL; read it as std::optional of {}", i, name, cpp_type),
                    sql());
    }
    throw error(SQLITE_MISMATCH,
                fmt::format("column {} (\"{}\") holds {}, which does not read as {}", i, name, type_name(got), cpp_type),
                sql());
}

void statement::throw_out_of_range(int i, std::int64_t v, std::string_view cpp_type) const {
    throw error(SQLITE_MISMATCH,
                fmt::format("column {} (\"{}\") holds {}, out of the range of {}", i, column_name(i), v, cpp_type),
                sql());
}

void statement::throw_column_count(std::size_t wanted) const {
    throw error(SQLITE_MISMATCH,
                fmt::format("the query returns {} columns but {} types were given", column_count(), wanted), sql());
}

// ---- transaction ---------------------------------------------------------------------------

transaction::transaction(database& db, std::size_t depth) : db_(&db), depth_(depth) {
    db.transactions_.push_back(this);
}

transaction::transaction(transaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), depth_(other.depth_) {
    if (db_ != nullptr) std::replace(db_->transactions_.begin(), db_->transactions_.end(), &other, this);
}

transaction::~transaction() {
    if (db_ == nullptr) return;
    try {
        rollback();
    } catch (const std::exception& e) {
        logger("sql").warn("rolling back a transaction failed", {{"error", e.what()}});
    }
}

void transaction::commit() {
    if (db_ == nullptr) {
        throw misuse("the transaction is not active (already committed or rolled back, or ended when the actor stopped)");
    }
    database& db = *db_;
    if (db.transactions_.empty() || db.transactions_.back() != this) {
        throw misuse("a nested transaction is still open: commit or roll it back first");
    }
    if (sqlite3_get_autocommit(db.db_) != 0) {
        // SQLite rolled everything back after an error (SQLITE_FULL, SQLITE_IOERR, ...).
        db.abandon_transactions();
        throw error(SQLITE_ABORT, "the transaction was already rolled back by SQLite after an error");
    }
    if (depth_ == 0) {
        db.run("COMMIT");  // on failure (a deferred constraint) the transaction stays open
    } else {
        const std::string release = fmt::format("RELEASE rivetkit_{}", depth_);
        db.run(release.c_str());
    }
    db.transactions_.pop_back();
    db_ = nullptr;
}

void transaction::rollback() {
    if (db_ == nullptr) {
        throw misuse("the transaction is not active (already committed or rolled back, or ended when the actor stopped)");
    }
    database& db = *db_;
    // Inner transactions end with this one.
    while (!db.transactions_.empty() && db.transactions_.back() != this) {
        db.transactions_.back()->db_ = nullptr;
        db.transactions_.pop_back();
    }
    if (!db.transactions_.empty()) db.transactions_.pop_back();
    db_ = nullptr;
    if (sqlite3_get_autocommit(db.db_) != 0) {
        // Already rolled back by SQLite: the enclosing transactions are gone as well.
        db.abandon_transactions();
        return;
    }
    if (depth_ == 0) {
        db.run("ROLLBACK");
    } else {
        const std::string undo = fmt::format("ROLLBACK TO rivetkit_{0}; RELEASE rivetkit_{0}", depth_);
        db.run(undo.c_str());
    }
}

// ---- database ------------------------------------------------------------------------------

database::database(private_tag, sqlite3* handle, std::filesystem::path path) noexcept
    : db_(handle), path_(std::move(path)) {}

database::~database() { close(); }

std::shared_ptr<database> database::open(const std::filesystem::path& file, const open_options& options) {
    if (file.empty()) throw error(SQLITE_CANTOPEN, "no database file name given");
    if (file.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(file.parent_path(), ec);
        if (ec) {
            throw error(SQLITE_CANTOPEN,
                        fmt::format("cannot create the directory {}: {}", file.parent_path().string(), ec.message()));
        }
    }
    return open_impl(file.string(), 0, file, options);
}

std::shared_ptr<database> database::open_in_memory(const open_options& options) {
    return open_impl(":memory:", 0, {}, options);
}

std::shared_ptr<database> database::open_named_in_memory(std::string_view name, const open_options& options) {
    const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
               ch == '_' || ch == '-';
    });
    if (!plain) throw misuse(fmt::format("'{}' is not a valid in-memory database name", name));
    // memdb names starting with '/' are shared by every connection of the process.
    return open_impl(fmt::format("file:/{}?vfs=memdb", name), SQLITE_OPEN_URI, {}, options);
}

std::shared_ptr<database> database::open_impl(const std::string& name, int flags, std::filesystem::path path,
                                              const open_options& options) {
    sqlite3* handle = nullptr;
    const int rc =
        sqlite3_open_v2(name.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
        sqlite3_close_v2(handle);
        throw error(rc, fmt::format("cannot open {}: {}", name, msg));
    }
    // Owned from here, so a failure below closes it.
    auto db = std::make_shared<database>(private_tag{}, handle, std::move(path));
    db->configure(options);
    return db;
}

void database::configure(const open_options& options) {
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, static_cast<int>(std::clamp<std::int64_t>(options.busy_timeout.count(), 0, INT_MAX)));
    // Defensive mode: SQL cannot corrupt the file (writable_schema and the like).
    sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, static_cast<int*>(nullptr));
    // An actor's database is its own: no ATTACH of other files (which destroy would not delete).
    sqlite3_limit(db_, SQLITE_LIMIT_ATTACHED, 0);
    run(options.foreign_keys ? "PRAGMA foreign_keys = ON" : "PRAGMA foreign_keys = OFF");
    if (!path_.empty()) {
        if (options.wal) {
            auto mode = query_one<std::string>("PRAGMA journal_mode = WAL");
            if (!mode || *mode != "wal") {
                logger("sql").warn("WAL journal mode not available; using the rollback journal",
                                   {{"file", path_.string()}, {"mode", mode.value_or("")}});
            }
        }
        run(options.fsync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    }
    if (options.max_size_bytes > 0) {
        const auto page_size = query_one<std::int64_t>("PRAGMA page_size").value_or(4096);
        const auto pages = std::max<std::uint64_t>(1, options.max_size_bytes / static_cast<std::uint64_t>(page_size));
        const std::string limit = fmt::format("PRAGMA max_page_count = {}", pages);
        run(limit.c_str());
    }
}

void database::check_open() const {
    if (db_ == nullptr) throw misuse("the database is closed (its actor stopped)");
}

void database::run(const char* sql) {
    char* msg = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
    if (rc == SQLITE_OK) return;
    std::string text = msg != nullptr ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    throw error(rc, std::move(text), sql);
}

statement database::prepare(std::string_view sql) {
    check_open();
    if (only_space(sql)) throw misuse("no SQL statement to prepare");
    const int length = checked_length(sql.size(), "the SQL");
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), length, 0, &stmt, &tail);
    if (rc != SQLITE_OK) throw last_error(db_, rc, sql);
    if (stmt == nullptr) throw misuse("no SQL statement to prepare (only comments)", sql);
    statement st(*this, stmt);
    // A second statement would be silently ignored by SQLite: refuse it instead.
    const std::string_view rest = sql.substr(static_cast<std::size_t>(tail - sql.data()));
    if (!only_space(rest)) {
        sqlite3_stmt* next = nullptr;
        rc = sqlite3_prepare_v3(db_, rest.data(), static_cast<int>(rest.size()), 0, &next, nullptr);
        sqlite3_finalize(next);
        if (rc != SQLITE_OK || next != nullptr) {
            throw misuse("prepare() takes one statement; use exec() to run several", sql);
        }
    }
    return st;
}

void database::exec(std::string_view sql) {
    check_open();
    const std::string text(sql);  // sqlite3_exec wants a terminated string
    run(text.c_str());
}

transaction database::begin() {
    check_open();
    const std::size_t depth = transactions_.size();
    if (depth == 0) {
        if (sqlite3_get_autocommit(db_) == 0) {
            throw misuse("a transaction begun with SQL (BEGIN) is open; finish it before begin()");
        }
        run("BEGIN");
    } else {
        if (sqlite3_get_autocommit(db_) != 0) {
            abandon_transactions();
            throw error(SQLITE_ABORT, "the enclosing transaction was already rolled back by SQLite after an error");
        }
        const std::string savepoint = fmt::format("SAVEPOINT rivetkit_{}", depth);
        run(savepoint.c_str());
    }
    return transaction(*this, depth);
}

std::int64_t database::last_insert_rowid() const noexcept {
    return db_ != nullptr ? sqlite3_last_insert_rowid(db_) : 0;
}

std::int64_t database::changes() const noexcept { return db_ != nullptr ? sqlite3_changes64(db_) : 0; }

bool database::in_transaction() const noexcept { return db_ != nullptr && sqlite3_get_autocommit(db_) == 0; }

void database::abandon_transactions() noexcept {
    for (transaction* t : transactions_) t->db_ = nullptr;
    transactions_.clear();
}

void database::close() noexcept {
    for (statement* s : statements_) {
        sqlite3_finalize(s->stmt_);
        s->stmt_ = nullptr;
        s->db_ = nullptr;
        s->has_row_ = false;
    }
    statements_.clear();
    abandon_transactions();
    if (db_ == nullptr) return;
    // Closing rolls back an open transaction. _v2: statements made through native_handle() and
    // not finalized would make sqlite3_close fail and leak the connection.
    sqlite3_close_v2(db_);
    db_ = nullptr;
}

// ---- files ---------------------------------------------------------------------------------

bool remove_database_files(const std::filesystem::path& file, std::error_code& ec) noexcept {
    ec.clear();
    try {
        // The main file last: while it exists, a half-removed set still opens as a database.
        for (const char* suffix : {"-wal", "-shm", "-journal", ""}) {
            std::error_code one;
            std::filesystem::path p = file;
            p += suffix;
            std::filesystem::remove(p, one);  // false without error when absent
            if (one && !ec) ec = one;
        }
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    }
    return !ec;
}

void remove_database_files(const std::filesystem::path& file) {
    std::error_code ec;
    if (!remove_database_files(file, ec)) {
        throw std::filesystem::filesystem_error("cannot remove the database files", file, ec);
    }
}

}  // namespace rivetkit::sql

namespace rivetkit {

// The defaults of the driver interfaces: no SQL databases unless a driver provides them.
std::shared_ptr<sql::database> actor_driver::open_database(const std::string& /*actor_id*/) {
    throw sql::not_enabled_error();
}

}  // namespace rivetkit
