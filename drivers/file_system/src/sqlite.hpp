#pragma once
// A thin RAII layer over the SQLite C API: a connection, cached prepared statements, and errors
// that carry SQLite's message. Used only on the store's database thread (and while opening).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "rivetkit/value.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace rivetkit::drivers::fs {

/// A failed SQLite call: what() is "<context>: <SQLite's message>"; code() the extended result code.
class sqlite_error : public std::runtime_error {
public:
    sqlite_error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
    [[nodiscard]] int code() const noexcept { return code_; }

private:
    int code_;
};

class statement {
public:
    statement(sqlite3* db, sqlite3_stmt* stmt) noexcept : db_(db), stmt_(stmt) {}
    ~statement();
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    /// Binds parameter `index` (1-based).
    void bind(int index, std::int64_t v);
    void bind(int index, std::string_view text);
    void bind(int index, const bytes& blob);
    void bind(int index, const std::optional<std::int64_t>& v);

    /// Advances; true while there is a row. Throws sqlite_error.
    bool step();
    /// Runs a statement that returns no rows, then resets it.
    void run();
    /// Resets it and clears its bindings, ready to run again.
    void reset() noexcept;

    [[nodiscard]] std::int64_t int64(int column) const;
    [[nodiscard]] std::optional<std::int64_t> optional_int64(int column) const;
    [[nodiscard]] std::string text(int column) const;
    [[nodiscard]] bytes blob(int column) const;

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_;
};

/// Resets a statement when the scope ends, so a throw leaves no statement mid-step.
class statement_scope {
public:
    explicit statement_scope(statement& s) noexcept : s_(s) {}
    ~statement_scope() { s_.reset(); }
    statement_scope(const statement_scope&) = delete;
    statement_scope& operator=(const statement_scope&) = delete;
    statement* operator->() noexcept { return &s_; }
    statement& operator*() noexcept { return s_; }

private:
    statement& s_;
};

class connection {
public:
    /// Opens (creating it if missing) the database at `file` for reading and writing. Throws
    /// sqlite_error when it cannot be opened, or only read-only.
    explicit connection(const std::filesystem::path& file);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Runs one or more statements that return no rows.
    void exec(const char* sql);
    /// The prepared statement for `sql`, prepared once and kept.
    statement& prepare(const char* sql);
    /// The first column of the first row of `sql`, an integer.
    std::int64_t query_int(const char* sql);

    [[nodiscard]] sqlite3* handle() const noexcept { return db_; }
    [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }
    /// Throws sqlite_error for result `rc` of a call about `what`, with the connection's message.
    [[noreturn]] void fail(int rc, std::string_view what) const;

private:
    std::filesystem::path file_;
    sqlite3* db_ = nullptr;
    std::unordered_map<const char*, std::unique_ptr<statement>> statements_;
};

}  // namespace rivetkit::drivers::fs
