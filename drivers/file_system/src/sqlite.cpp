#include "sqlite.hpp"

#include <climits>

#include <fmt/format.h>
#include <sqlite3.h>

namespace rivetkit::drivers::fs {

namespace {
[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view what) {
    const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int code = db != nullptr ? sqlite3_extended_errcode(db) : rc;
    throw sqlite_error(fmt::format("{}: {}", what, msg != nullptr ? msg : "unknown error"), code);
}

int checked_size(std::size_t n) {
    if (n > static_cast<std::size_t>(INT_MAX)) throw sqlite_error("value too large for SQLite", SQLITE_TOOBIG);
    return static_cast<int>(n);
}
}  // namespace

// ---- statement -----------------------------------------------------------------------------

statement::~statement() { sqlite3_finalize(stmt_); }

void statement::bind(int index, std::int64_t v) {
    int rc = sqlite3_bind_int64(stmt_, index, v);
    if (rc != SQLITE_OK) throw_error(db_, rc, "binding a parameter");
}

void statement::bind(int index, std::string_view text) {
    int rc = sqlite3_bind_text(stmt_, index, text.data(), checked_size(text.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) throw_error(db_, rc, "binding a parameter");
}

void statement::bind(int index, const bytes& blob) {
    // A zero-length blob, not NULL: an empty key or value is a value.
    int rc = blob.empty() ? sqlite3_bind_zeroblob(stmt_, index, 0)
                          : sqlite3_bind_blob(stmt_, index, blob.data(), checked_size(blob.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) throw_error(db_, rc, "binding a parameter");
}

void statement::bind(int index, const std::optional<std::int64_t>& v) {
    int rc = v ? sqlite3_bind_int64(stmt_, index, *v) : sqlite3_bind_null(stmt_, index);
    if (rc != SQLITE_OK) throw_error(db_, rc, "binding a parameter");
}

bool statement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_error(db_, rc, "executing a statement");
}

void statement::run() {
    statement_scope scope(*this);
    while (step()) {
    }
}

void statement::reset() noexcept {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

std::int64_t statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::optional<std::int64_t> statement::optional_int64(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_int64(stmt_, column);
}

std::string statement::text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    int n = sqlite3_column_bytes(stmt_, column);
    if (p == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

bytes statement::blob(int column) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
    int n = sqlite3_column_bytes(stmt_, column);
    if (p == nullptr || n <= 0) return {};
    return bytes(p, p + n);
}

// ---- connection ----------------------------------------------------------------------------

connection::connection(const std::filesystem::path& file) : file_(file) {
    // NOMUTEX: one thread at a time uses a connection (the opener, then the database thread).
    int rc = sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        int code = db_ != nullptr ? sqlite3_extended_errcode(db_) : rc;
        sqlite3_close(db_);
        db_ = nullptr;
        throw sqlite_error(msg, code);
    }
    sqlite3_extended_result_codes(db_, 1);
    // SQLite silently falls back to read-only when the file is not writable; a store that can
    // read but not write would fail every change later, so refuse it now.
    if (sqlite3_db_readonly(db_, "main") == 1) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw sqlite_error("the file can only be opened read-only", SQLITE_READONLY);
    }
}

connection::~connection() {
    statements_.clear();  // statements before the connection
    sqlite3_close(db_);
}

void connection::fail(int rc, std::string_view what) const { throw_error(db_, rc, what); }

void connection::exec(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        throw sqlite_error(fmt::format("{}: {}", sql, msg), sqlite3_extended_errcode(db_));
    }
}

statement& connection::prepare(const char* sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return *it->second;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        throw_error(db_, rc, "preparing a statement");
    }
    return *statements_.emplace(sql, std::make_unique<statement>(db_, stmt)).first->second;
}

std::int64_t connection::query_int(const char* sql) {
    statement_scope s(prepare(sql));
    if (!s->step()) return 0;
    return s->int64(0);
}

}  // namespace rivetkit::drivers::fs
