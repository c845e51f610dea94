#pragma once
// rivetkit::sql: a small typed API over SQLite, and the per-actor database behind `c.db()`.
//
//   auto& db = c.db();
//   db.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
//   db.execute("INSERT INTO notes (body) VALUES (?)", body);
//   for (auto& [id, body] : db.query<std::int64_t, std::string>("SELECT id, body FROM notes"))
//       ...
//
// Limits and rules (docs/sql.md has the details):
// - Calls are synchronous: they run on the actor's strand and block that io thread while SQLite
//   works. Keep queries short; a long scan delays every actor sharing the thread.
// - Nothing here is thread-safe. Use a database only from its actor (its actions and hooks).
// - One connection per awake period: opened by the first `c.db()`, closed when the actor stops
//   (sleep, destroy) after its on_sleep/on_destroy hook and wait_until work. Closing finalizes
//   every statement and rolls back an open transaction; using either, or the database, after
//   that throws sql::error (and `c.db()` throws actor/stopping).
// - Do not hold a transaction across `co_await`: other work of the same actor runs meanwhile
//   and its statements would join your transaction.
// - Bind indices are 1-based, column indices 0-based (SQLite's convention).
// - Every connection has foreign keys on, a busy timeout (1 s by default), ATTACH disabled and
//   SQLite's defensive mode on; files use WAL with synchronous=NORMAL (FULL with `fsync`).

#include <cstddef>
#include <cstdint>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "rivetkit/error.hpp"
#include "rivetkit/value.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace rivetkit::sql {

/// A failed SQLite call. Group "database", code "sql_error"; not public, so clients see
/// internal/internal_error while the server log has the full message (SQLite's text and the SQL).
class error : public rivetkit::error {
public:
    /// `result_code` is SQLite's (extended) result code; `sql` the statement, when there is one.
    error(int result_code, std::string message, std::string_view sql = {});

    /// The extended result code (SQLITE_CONSTRAINT_UNIQUE, ...); compare with <sqlite3.h>.
    [[nodiscard]] int extended_code() const noexcept { return code_; }
    /// The primary result code (SQLITE_CONSTRAINT, SQLITE_BUSY, ...).
    [[nodiscard]] int primary_code() const noexcept { return code_ & 0xff; }
    /// SQLite's own message ("UNIQUE constraint failed: users.email").
    [[nodiscard]] const std::string& sqlite_message() const noexcept { return sqlite_message_; }
    /// The SQL that failed; empty when the error is not about one statement.
    [[nodiscard]] const std::string& sql() const noexcept { return sql_; }

    [[nodiscard]] bool is_constraint_violation() const noexcept;
    [[nodiscard]] bool is_busy() const noexcept;
    /// The database reached its size limit (open_options::max_size_bytes) or the disk is full.
    [[nodiscard]] bool is_full() const noexcept;

private:
    int code_;
    std::string sqlite_message_;
    std::string sql_;
};

/// The error `c.db()` throws on a driver without SQL databases (database/not_enabled, internal).
[[nodiscard]] rivetkit::error not_enabled_error();

/// The storage class of a value in a result row.
enum class column_type { integer, real, text, blob, null };

struct open_options {
    /// How long a write waits for another connection's lock before failing with SQLITE_BUSY.
    /// It blocks the actor's io thread, so it is short; with one connection per actor only
    /// outside tools (the sqlite3 shell) can hold the lock.
    std::chrono::milliseconds busy_timeout{1000};
    bool foreign_keys = true;
    /// Files only: write-ahead logging (crash-safe; readers do not block the writer).
    bool wal = true;
    /// Files only: synchronous=FULL, so commits also survive power loss. Off: NORMAL, which in
    /// WAL mode survives a crash of the process but may lose the last commits on power loss.
    bool fsync = false;
    /// Upper bound on the database size; writes past it fail with SQLITE_FULL. 0: SQLite's own
    /// limit.
    std::uint64_t max_size_bytes = 0;
};

class database;
class statement;

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
inline constexpr bool dependent_false = false;

// Character types are integral but would read as numbers; they are refused to avoid surprises.
template <class T>
inline constexpr bool is_char_v = std::is_same_v<T, char> || std::is_same_v<T, wchar_t> ||
                                  std::is_same_v<T, char8_t> || std::is_same_v<T, char16_t> ||
                                  std::is_same_v<T, char32_t>;

template <class... T>
struct row_type {
    using type = std::tuple<T...>;
};
template <class T>
struct row_type<T> {
    using type = T;
};
}  // namespace detail

/// What a query of columns `T...` yields per row: `T` for one column, std::tuple<T...> otherwise.
template <class... T>
using row_t = typename detail::row_type<T...>::type;

/// A prepared statement (move-only RAII over sqlite3_stmt), created by database::prepare().
///
/// Supported C++ types, for bind() and get<T>():
///   integers and bool (INTEGER), float/double (REAL), std::string / std::string_view /
///   const char* (TEXT), rivetkit::bytes / std::span<const std::uint8_t> (BLOB),
///   std::nullptr_t / std::nullopt (NULL), std::optional<T> (NULL when empty), rivetkit::value
///   (by kind; arrays and objects are refused).
/// get<T>() is strict: it throws sql::error (SQLITE_MISMATCH) when the column's storage class
/// does not fit T (a NULL into a non-optional, TEXT into an integer, an integer out of T's
/// range); column_int() and friends apply SQLite's own conversions instead.
class statement {
public:
    /// An empty statement (valid() is false).
    statement() noexcept = default;
    statement(statement&& other) noexcept;
    statement& operator=(statement&& other) noexcept;
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    ~statement();

    /// False when empty, moved from, or finalized because its database was closed.
    [[nodiscard]] bool valid() const noexcept { return stmt_ != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    /// The SQL text it was prepared from.
    [[nodiscard]] std::string_view sql() const noexcept;

    // ---- parameters ----

    [[nodiscard]] int parameter_count() const;
    /// The index of a named parameter. `name` may carry its prefix (":id", "@id", "$id") or not
    /// ("id" finds any of them). Throws sql::error (SQLITE_RANGE) when there is no such parameter.
    [[nodiscard]] int parameter_index(std::string_view name) const;

    /// Binds parameter `index` (1-based).
    template <class T>
    statement& bind(int index, const T& v);
    /// Binds a named parameter (see parameter_index).
    template <class T>
    statement& bind(std::string_view name, const T& v) {
        return bind(parameter_index(name), v);
    }
    /// Binds `args` to parameters 1..N.
    template <class... A>
    statement& bind_all(const A&... args) {
        int index = 0;
        (bind(++index, args), ...);
        return *this;
    }
    statement& bind_null(int index);
    statement& bind_int64(int index, std::int64_t v);
    statement& bind_double(int index, double v);
    /// Text and blobs are copied: the argument need not outlive the call.
    statement& bind_text(int index, std::string_view v);
    statement& bind_blob(int index, std::span<const std::uint8_t> v);
    statement& bind_value(int index, const rivetkit::value& v);
    /// Sets every parameter back to NULL (reset() keeps bindings).
    statement& clear_bindings();

    // ---- running ----

    /// Advances to the next row: true while a row is available, false when the statement is
    /// done (the next step() starts it again). Throws sql::error, after which the statement is
    /// reset and may be run again.
    bool step();
    /// Runs the statement from its start to the end with the current bindings, discarding any
    /// rows, then resets it. Returns the number of rows it inserted, updated or deleted (not
    /// those changed by triggers or foreign-key actions); 0 for other statements.
    std::size_t execute();
    /// Rewinds to the start, keeping the bindings.
    void reset();

    // ---- the current row (after step() returned true) ----

    [[nodiscard]] int column_count() const;
    [[nodiscard]] std::string_view column_name(int i) const;
    [[nodiscard]] column_type type(int i) const;
    [[nodiscard]] bool is_null(int i) const;
    [[nodiscard]] std::int64_t column_int(int i) const;
    [[nodiscard]] double column_double(int i) const;
    [[nodiscard]] std::string column_text(int i) const;
    /// Valid until the next step(), reset() or column access of another type on this column.
    [[nodiscard]] std::string_view column_text_view(int i) const;
    [[nodiscard]] rivetkit::bytes column_blob(int i) const;
    /// Valid until the next step(), reset() or column access of another type on this column.
    [[nodiscard]] std::span<const std::uint8_t> column_blob_view(int i) const;
    /// null, integer, number, string or binary, by storage class.
    [[nodiscard]] rivetkit::value column_value(int i) const;
    /// Column `i` as T (strict, see above).
    template <class T>
    [[nodiscard]] T get(int i) const;
    /// The whole row as row_t<T...>; the number of columns must match.
    template <class... T>
    [[nodiscard]] row_t<T...> row() const;

    /// For what SQLite offers beyond this API. Do not finalize it.
    [[nodiscard]] sqlite3_stmt* native_handle() const noexcept { return stmt_; }

private:
    friend class database;
    statement(database& db, sqlite3_stmt* stmt);
    void check_valid() const;
    void check_column(int i) const;
    void check_bind(int rc, int index);
    /// Throws SQLITE_MISMATCH unless column `i` holds `want` (REAL also accepts INTEGER).
    void expect_type(int i, column_type want, std::string_view cpp_type) const;
    [[noreturn]] void throw_out_of_range(int i, std::int64_t v, std::string_view cpp_type) const;
    [[noreturn]] void throw_column_count(std::size_t wanted) const;
    void release() noexcept;
    template <class... T, std::size_t... I>
    row_t<T...> row_at(std::index_sequence<I...>) const;

    database* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
    bool has_row_ = false;
};

/// A transaction (or, nested, a savepoint), from database::begin(). commit() makes it
/// permanent; if it is destroyed before that (an exception, an early return) it rolls back.
/// Nested transactions must finish innermost first; rolling back an outer one ends the inner
/// ones too. If SQLite itself rolls the transaction back after an error (SQLITE_FULL, ...),
/// commit() throws.
class transaction {
public:
    transaction(transaction&& other) noexcept;
    transaction& operator=(transaction&&) = delete;
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    ~transaction();

    void commit();
    void rollback();
    /// Neither committed nor rolled back (nor ended by its database closing).
    [[nodiscard]] bool active() const noexcept { return db_ != nullptr; }
    /// A savepoint inside another transaction.
    [[nodiscard]] bool nested() const noexcept { return depth_ > 0; }

private:
    friend class database;
    transaction(database& db, std::size_t depth);

    database* db_ = nullptr;
    std::size_t depth_ = 0;
};

/// One SQLite connection: to a database file, or to an in-memory database. Always owned
/// through a std::shared_ptr (open(), open_in_memory(), open_named_in_memory()). Closing it (or
/// destroying it) finalizes its statements, rolls back an open transaction and closes the
/// connection.
class database {
    struct private_tag {
        explicit private_tag() = default;
    };

public:
    /// Opens (creating it and its parent directories if needed) the database file `file`.
    [[nodiscard]] static std::shared_ptr<database> open(const std::filesystem::path& file,
                                                        const open_options& options = {});
    /// A fresh, private in-memory database; it lives as long as the returned connection.
    [[nodiscard]] static std::shared_ptr<database> open_in_memory(const open_options& options = {});
    /// A connection to the in-memory database called `name` in this process: every connection
    /// opened with the same name sees the same data, which lives while one of them is open.
    /// `name` is made of letters, digits, '.', '_' and '-'. (SQLite's memdb VFS; at most 1 GiB.)
    [[nodiscard]] static std::shared_ptr<database> open_named_in_memory(std::string_view name,
                                                                        const open_options& options = {});

    database(private_tag, sqlite3* handle, std::filesystem::path path) noexcept;
    ~database();
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    /// Compiles one statement. Several statements in `sql` are refused (use exec()).
    [[nodiscard]] statement prepare(std::string_view sql);
    /// Runs one or more statements separated by `;`, without parameters or results
    /// (schema set-up, migrations).
    void exec(std::string_view sql);
    /// Prepares, binds `args` to parameters 1..N and runs one statement; returns the number of
    /// rows it inserted, updated or deleted (as statement::execute()).
    template <class... A>
    std::size_t execute(std::string_view sql, const A&... args) {
        statement st = prepare(sql);
        st.bind_all(args...);
        return st.execute();
    }
    /// Every row of a query, each as row_t<T...> (T for one column, a tuple otherwise):
    ///   auto names = db.query<std::string>("SELECT name FROM users WHERE age > ?", 18);
    template <class... T, class... A>
    [[nodiscard]] std::vector<row_t<T...>> query(std::string_view sql, const A&... args) {
        static_assert(sizeof...(T) > 0, "rivetkit::sql: name the column types: query<std::int64_t, std::string>(...)");
        statement st = prepare(sql);
        st.bind_all(args...);
        std::vector<row_t<T...>> rows;
        while (st.step()) rows.push_back(st.template row<T...>());
        return rows;
    }
    /// The first row of a query, or nullopt when it has none.
    template <class... T, class... A>
    [[nodiscard]] std::optional<row_t<T...>> query_one(std::string_view sql, const A&... args) {
        static_assert(sizeof...(T) > 0, "rivetkit::sql: name the column types: query_one<std::int64_t>(...)");
        statement st = prepare(sql);
        st.bind_all(args...);
        if (!st.step()) return std::nullopt;
        return st.template row<T...>();
    }

    /// Starts a transaction, or a savepoint when one is already open.
    [[nodiscard]] transaction begin();
    /// Runs `f()` in a transaction: committed when it returns, rolled back when it throws.
    /// `f` must be synchronous (a coroutine would return before its work is done).
    template <class F>
    std::invoke_result_t<F&> with_transaction(F&& f) {
        transaction tx = begin();
        if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
            std::invoke(f);
            tx.commit();
        } else {
            std::invoke_result_t<F&> result = std::invoke(f);
            tx.commit();
            return result;
        }
    }

    /// The rowid of the most recent successful INSERT on this connection.
    [[nodiscard]] std::int64_t last_insert_rowid() const noexcept;
    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    [[nodiscard]] std::int64_t changes() const noexcept;
    /// Whether a transaction is open (begun with begin() or with SQL).
    [[nodiscard]] bool in_transaction() const noexcept;
    /// The file; empty for an in-memory database.
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

    /// Finalizes every statement still prepared, ends every transaction object (rolling back
    /// what is open) and closes the connection. Afterwards the objects stay safe to hold and
    /// destroy, and every use throws sql::error. Idempotent. The runtime calls it when the actor
    /// stops; the database object itself lives on while the instance does, so a reference held
    /// by a coroutine never dangles.
    void close() noexcept;
    [[nodiscard]] bool is_open() const noexcept { return db_ != nullptr; }

    /// For what SQLite offers beyond this API. Do not close it. nullptr once closed.
    [[nodiscard]] sqlite3* native_handle() const noexcept { return db_; }

private:
    friend class statement;
    friend class transaction;
    static std::shared_ptr<database> open_impl(const std::string& name, int flags, std::filesystem::path path,
                                               const open_options& options);
    void configure(const open_options& options);
    void run(const char* sql);
    void check_open() const;
    void abandon_transactions() noexcept;

    sqlite3* db_;
    std::filesystem::path path_;
    std::vector<statement*> statements_;      // live statements, finalized by close()
    std::vector<transaction*> transactions_;  // open transactions, innermost last
};

/// Deletes a database file and its companions (-wal, -shm, -journal). Missing files are fine.
/// Close every connection to it first.
void remove_database_files(const std::filesystem::path& file);
/// As above; reports failure through `ec` instead of throwing. Returns whether it succeeded.
bool remove_database_files(const std::filesystem::path& file, std::error_code& ec) noexcept;

// ---- templates -----------------------------------------------------------------------------

template <class T>
statement& statement::bind(int index, const T& v) {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<U, std::nullptr_t> || std::is_same_v<U, std::nullopt_t>) {
        return bind_null(index);
    } else if constexpr (detail::is_optional<U>::value) {
        if (v) return bind(index, *v);
        return bind_null(index);
    } else if constexpr (std::is_same_v<U, rivetkit::value>) {
        return bind_value(index, v);
    } else if constexpr (detail::is_char_v<U>) {
        static_assert(detail::dependent_false<U>,
                      "rivetkit::sql: bind a character as a string or convert it to an integer");
        return *this;
    } else if constexpr (std::is_same_v<U, bool>) {
        return bind_int64(index, v ? 1 : 0);
    } else if constexpr (std::is_integral_v<U>) {
        if (!std::in_range<std::int64_t>(v)) {
            throw error(25 /* SQLITE_RANGE */, "integer parameter out of SQLite's 64-bit signed range", sql());
        }
        return bind_int64(index, static_cast<std::int64_t>(v));
    } else if constexpr (std::is_floating_point_v<U>) {
        return bind_double(index, static_cast<double>(v));
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        return bind_text(index, std::string_view(v));
    } else if constexpr (std::is_convertible_v<const T&, std::span<const std::uint8_t>>) {
        return bind_blob(index, std::span<const std::uint8_t>(v));
    } else {
        static_assert(detail::dependent_false<U>,
                      "rivetkit::sql: this type cannot be bound; use an integer, bool, floating "
                      "point, string, rivetkit::bytes, std::optional<T>, nullptr or rivetkit::value");
        return *this;
    }
}

template <class T>
T statement::get(int i) const {
    using U = std::remove_cvref_t<T>;
    if constexpr (detail::is_optional<U>::value) {
        if (is_null(i)) return std::nullopt;
        return get<typename U::value_type>(i);
    } else if constexpr (std::is_same_v<U, rivetkit::value>) {
        return column_value(i);
    } else if constexpr (detail::is_char_v<U>) {
        static_assert(detail::dependent_false<U>,
                      "rivetkit::sql: read a character column as std::string or an integer type");
        return U{};
    } else if constexpr (std::is_same_v<U, bool>) {
        expect_type(i, column_type::integer, "bool");
        return column_int(i) != 0;
    } else if constexpr (std::is_integral_v<U>) {
        expect_type(i, column_type::integer, "an integer");
        const std::int64_t v = column_int(i);
        if (!std::in_range<U>(v)) throw_out_of_range(i, v, "the requested integer type");
        return static_cast<U>(v);
    } else if constexpr (std::is_floating_point_v<U>) {
        expect_type(i, column_type::real, "a floating-point number");
        return static_cast<U>(column_double(i));
    } else if constexpr (std::is_same_v<U, std::string>) {
        expect_type(i, column_type::text, "std::string");
        return column_text(i);
    } else if constexpr (std::is_same_v<U, rivetkit::bytes>) {
        expect_type(i, column_type::blob, "rivetkit::bytes");
        return column_blob(i);
    } else {
        static_assert(detail::dependent_false<U>,
                      "rivetkit::sql: get<T>() supports integers, bool, floating point, std::string, "
                      "rivetkit::bytes, rivetkit::value and std::optional of those");
        return U{};
    }
}

template <class... T, std::size_t... I>
row_t<T...> statement::row_at(std::index_sequence<I...>) const {
    if constexpr (sizeof...(T) == 1) {
        return get<T...>(0);
    } else {
        return row_t<T...>(get<T>(static_cast<int>(I))...);
    }
}

template <class... T>
row_t<T...> statement::row() const {
    static_assert(sizeof...(T) > 0, "rivetkit::sql: row<T...>() needs at least one column type");
    if (column_count() != static_cast<int>(sizeof...(T))) throw_column_count(sizeof...(T));
    return row_at<T...>(std::index_sequence_for<T...>{});
}

}  // namespace rivetkit::sql
