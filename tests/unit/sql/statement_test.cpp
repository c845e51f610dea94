// rivetkit::sql statements: binding every supported type, typed and untyped column access,
// NULLs, blobs, named parameters, reuse, and the errors SQLite reports.

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <unistd.h>

#include <rivetkit/sql.hpp>

namespace sql = rivetkit::sql;

namespace {

std::shared_ptr<sql::database> notes_db() {
    auto db = sql::database::open_in_memory();
    db->exec(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price REAL, data BLOB);"
        "CREATE UNIQUE INDEX items_name ON items(name);");
    return db;
}

/// Runs `f` and returns the sql::error it throws.
template <class F>
sql::error require_sql_error(F&& f) {
    try {
        f();
    } catch (const sql::error& e) {
        return e;
    }
    FAIL("expected an sql::error");
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("sql: bind and read back every supported type", "[sql]") {
    auto db = notes_db();
    auto ins = db->prepare("INSERT INTO items (name, qty, price, data) VALUES (?, ?, ?, ?)");
    CHECK(ins.parameter_count() == 4);
    const rivetkit::bytes blob{0x00, 0xff, 0x10, 0x00};
    ins.bind(1, "widget").bind(2, std::int64_t{1} << 40).bind(3, 2.5).bind(4, blob);
    CHECK(ins.execute() == 1);
    CHECK(db->last_insert_rowid() == 1);
    CHECK(db->changes() == 1);

    auto sel = db->prepare("SELECT id, name, qty, price, data FROM items WHERE id = ?");
    sel.bind(1, db->last_insert_rowid());
    REQUIRE(sel.step());
    CHECK(sel.column_count() == 5);
    CHECK(sel.column_name(1) == "name");
    CHECK(sel.type(0) == sql::column_type::integer);
    CHECK(sel.type(1) == sql::column_type::text);
    CHECK(sel.type(3) == sql::column_type::real);
    CHECK(sel.type(4) == sql::column_type::blob);
    CHECK(sel.column_int(0) == 1);
    CHECK(sel.column_text(1) == "widget");
    CHECK(sel.column_text_view(1) == "widget");
    CHECK(sel.column_int(2) == (std::int64_t{1} << 40));
    CHECK(sel.column_double(3) == 2.5);
    CHECK(sel.column_blob(4) == blob);  // embedded zero bytes survive
    CHECK(sel.get<std::string>(1) == "widget");
    CHECK(sel.get<std::int64_t>(2) == (std::int64_t{1} << 40));
    CHECK(sel.get<double>(3) == 2.5);
    CHECK(sel.get<double>(0) == 1.0);  // an INTEGER reads as floating point too
    CHECK(sel.get<rivetkit::bytes>(4) == blob);
    auto row = sel.row<std::int64_t, std::string, std::int64_t, double, rivetkit::bytes>();
    CHECK(std::get<1>(row) == "widget");
    CHECK_FALSE(sel.step());  // one row only
}

TEST_CASE("sql: small integer types, bool and unsigned values are range-checked", "[sql]") {
    auto db = sql::database::open_in_memory();
    db->exec("CREATE TABLE t (v INTEGER)");
    db->execute("INSERT INTO t VALUES (?), (?), (?), (?)", true, std::uint16_t{65535}, -1, std::uint32_t{7});
    auto vals = db->query<std::int64_t>("SELECT v FROM t ORDER BY rowid");
    CHECK(vals == std::vector<std::int64_t>{1, 65535, -1, 7});

    auto st = db->prepare("SELECT v FROM t ORDER BY rowid");
    REQUIRE(st.step());
    CHECK(st.get<bool>(0) == true);
    REQUIRE(st.step());
    CHECK(st.get<std::uint16_t>(0) == 65535);
    auto e = require_sql_error([&] { (void)st.get<std::int8_t>(0); });
    CHECK(e.primary_code() == 20);  // SQLITE_MISMATCH
    CHECK_THAT(e.sqlite_message(), Catch::Contains("out of the range"));
    REQUIRE(st.step());
    CHECK(st.get<int>(0) == -1);
    require_sql_error([&] { (void)st.get<std::uint64_t>(0); });  // negative into unsigned

    auto big = db->prepare("SELECT ?");
    auto e2 = require_sql_error([&] { big.bind(1, std::numeric_limits<std::uint64_t>::max()); });
    CHECK(e2.primary_code() == 25);  // SQLITE_RANGE
}

TEST_CASE("sql: NULL through nullptr, nullopt and optional, typed reads refuse NULL", "[sql]") {
    auto db = notes_db();
    std::optional<std::int64_t> none;
    std::optional<std::string> name = "n1";
    db->execute("INSERT INTO items (name, qty, price, data) VALUES (?, ?, ?, ?)", name, none, nullptr, std::nullopt);

    auto st = db->prepare("SELECT name, qty, price, data FROM items");
    REQUIRE(st.step());
    CHECK(st.is_null(1));
    CHECK(st.is_null(2));
    CHECK(st.is_null(3));
    CHECK(st.type(1) == sql::column_type::null);
    CHECK(st.get<std::optional<std::int64_t>>(1) == std::nullopt);
    CHECK(st.get<std::optional<std::string>>(0) == std::optional<std::string>("n1"));
    CHECK(st.column_value(2).is_null());
    // SQLite's own conversions for the untyped accessors; the typed ones are strict.
    CHECK(st.column_int(1) == 0);
    CHECK(st.column_text(1).empty());
    auto e = require_sql_error([&] { (void)st.get<std::int64_t>(1); });
    CHECK_THAT(e.sqlite_message(), Catch::Contains("is NULL") && Catch::Contains("\"qty\""));
    auto e2 = require_sql_error([&] { (void)st.get<std::int64_t>(0); });  // TEXT into an integer
    CHECK_THAT(e2.sqlite_message(), Catch::Contains("holds TEXT"));
}

TEST_CASE("sql: empty strings and blobs stay empty values, not NULL", "[sql]") {
    auto db = sql::database::open_in_memory();
    db->exec("CREATE TABLE t (s TEXT, b BLOB)");
    const std::string empty;
    const rivetkit::bytes no_bytes;
    db->execute("INSERT INTO t VALUES (?, ?)", std::string_view(), no_bytes);
    db->execute("INSERT INTO t VALUES (?, ?)", empty, std::span<const std::uint8_t>());
    auto rows = db->query<std::optional<std::string>, std::optional<rivetkit::bytes>>(
        "SELECT s, b FROM t");
    REQUIRE(rows.size() == 2);
    for (const auto& [s, b] : rows) {
        CHECK(s == std::optional<std::string>(""));
        CHECK(b == std::optional<rivetkit::bytes>(rivetkit::bytes{}));
    }
    CHECK(db->query_one<std::int64_t>("SELECT count(*) FROM t WHERE s IS NULL OR b IS NULL") == 0);
}

TEST_CASE("sql: named parameters, with or without their prefix", "[sql]") {
    auto db = notes_db();
    auto ins = db->prepare("INSERT INTO items (name, qty) VALUES (:name, @qty)");
    CHECK(ins.parameter_index(":name") == 1);
    CHECK(ins.parameter_index("qty") == 2);
    ins.bind(":name", "a").bind("qty", 3);
    CHECK(ins.execute() == 1);
    auto e = require_sql_error([&] { ins.bind(":missing", 1); });
    CHECK(e.primary_code() == 25);  // SQLITE_RANGE
    CHECK_THAT(e.sqlite_message(), Catch::Contains(":missing"));
    auto e2 = require_sql_error([&] { ins.bind(3, 1); });
    CHECK_THAT(e2.sqlite_message(), Catch::Contains("out of range"));

    auto sel = db->prepare("SELECT qty FROM items WHERE name = $n");
    sel.bind("n", "a");
    REQUIRE(sel.step());
    CHECK(sel.get<int>(0) == 3);
}

TEST_CASE("sql: reset reuses a statement, bindings stay until cleared", "[sql]") {
    auto db = notes_db();
    auto ins = db->prepare("INSERT INTO items (name, qty) VALUES (?, ?)");
    for (int i = 0; i < 3; ++i) {
        ins.bind(1, "item" + std::to_string(i)).bind(2, i * 10);
        CHECK(ins.execute() == 1);  // execute() resets, so the loop needs nothing else
    }
    auto sel = db->prepare("SELECT name FROM items WHERE qty >= ? ORDER BY qty");
    sel.bind(1, 10);
    REQUIRE(sel.step());
    CHECK(sel.column_text(0) == "item1");
    sel.reset();  // before the end: starts again, same binding
    REQUIRE(sel.step());
    CHECK(sel.column_text(0) == "item1");
    REQUIRE(sel.step());
    CHECK(sel.column_text(0) == "item2");
    CHECK_FALSE(sel.step());
    sel.reset();
    sel.bind(1, 20);
    std::vector<std::string> names;
    while (sel.step()) names.push_back(sel.column_text(0));
    CHECK(names == std::vector<std::string>{"item2"});
    sel.reset();
    sel.clear_bindings();  // NULL: qty >= NULL matches nothing
    CHECK_FALSE(sel.step());
}

TEST_CASE("sql: query and query_one build typed rows", "[sql]") {
    auto db = notes_db();
    db->execute("INSERT INTO items (name, qty) VALUES (?, ?)", "a", 1);
    db->execute("INSERT INTO items (name, qty) VALUES (?, ?)", "b", 2);
    std::vector<std::tuple<std::string, std::int64_t>> rows =
        db->query<std::string, std::int64_t>("SELECT name, qty FROM items ORDER BY name");
    REQUIRE(rows.size() == 2);
    CHECK(rows[1] == std::tuple<std::string, std::int64_t>{"b", 2});
    std::vector<std::string> names = db->query<std::string>("SELECT name FROM items WHERE qty > ?", 1);
    CHECK(names == std::vector<std::string>{"b"});
    CHECK(db->query_one<std::int64_t>("SELECT qty FROM items WHERE name = ?", "a") == 1);
    CHECK_FALSE(db->query_one<std::int64_t>("SELECT qty FROM items WHERE name = ?", "zzz").has_value());
    auto values = db->query<rivetkit::value, rivetkit::value>("SELECT name, price FROM items LIMIT 1");
    CHECK(std::get<0>(values[0]) == rivetkit::value("a"));
    CHECK(std::get<1>(values[0]).is_null());
    auto e = require_sql_error([&] { (void)db->query<std::string>("SELECT name, qty FROM items"); });
    CHECK_THAT(e.sqlite_message(), Catch::Contains("2 columns but 1 types"));
}

TEST_CASE("sql: rivetkit::value parameters bind by kind", "[sql]") {
    auto db = sql::database::open_in_memory();
    auto st = db->prepare("SELECT typeof(?), typeof(?), typeof(?), typeof(?), typeof(?), typeof(?)");
    st.bind_all(rivetkit::value(nullptr), rivetkit::value(true), rivetkit::value(std::int64_t{5}),
                rivetkit::value(1.5), rivetkit::value("s"), rivetkit::value(rivetkit::bytes{1}));
    REQUIRE(st.step());
    CHECK((st.row<std::string, std::string, std::string, std::string, std::string, std::string>() ==
           std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>{
               "null", "integer", "integer", "real", "text", "blob"}));
    auto arr = db->prepare("SELECT ?");
    require_sql_error([&] { arr.bind(1, rivetkit::value(rivetkit::array{1, 2})); });
}

TEST_CASE("sql: bad SQL throws sql::error carrying SQLite's message and the statement", "[sql]") {
    auto db = notes_db();
    auto e = require_sql_error([&] { (void)db->prepare("SELEC name FROM items"); });
    CHECK(e.primary_code() == 1);  // SQLITE_ERROR
    CHECK_THAT(e.sqlite_message(), Catch::Contains("syntax error"));
    CHECK(e.sql() == "SELEC name FROM items");
    CHECK(e.group() == "database");
    CHECK(e.code() == "sql_error");
    CHECK_FALSE(e.is_public());  // masked to clients
    CHECK_THAT(std::string(e.what()), Catch::Contains("syntax error") && Catch::Contains("SELEC name"));

    auto e2 = require_sql_error([&] { db->exec("INSERT INTO nowhere VALUES (1)"); });
    CHECK_THAT(e2.sqlite_message(), Catch::Contains("no such table: nowhere"));

    // Several statements: prepare() refuses instead of silently running only the first.
    auto e3 = require_sql_error([&] { (void)db->prepare("SELECT 1; SELECT 2"); });
    CHECK_THAT(e3.sqlite_message(), Catch::Contains("use exec()"));
    CHECK(db->prepare("SELECT 1; -- trailing comment\n").valid());
    require_sql_error([&] { (void)db->prepare("   "); });
}

TEST_CASE("sql: a constraint violation is reported, and the statement can run again", "[sql]") {
    auto db = notes_db();
    auto ins = db->prepare("INSERT INTO items (name) VALUES (?)");
    ins.bind(1, "dup");
    CHECK(ins.execute() == 1);
    auto e = require_sql_error([&] { (void)ins.execute(); });
    CHECK(e.is_constraint_violation());
    CHECK(e.extended_code() == 2067);  // SQLITE_CONSTRAINT_UNIQUE
    CHECK_THAT(e.sqlite_message(), Catch::Contains("UNIQUE constraint failed: items.name"));
    ins.bind(1, "other");
    CHECK(ins.execute() == 1);
    CHECK(db->query_one<std::int64_t>("SELECT count(*) FROM items") == 2);
}

TEST_CASE("sql: foreign keys are enforced", "[sql]") {
    auto db = sql::database::open_in_memory();
    db->exec(
        "CREATE TABLE users (id INTEGER PRIMARY KEY);"
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id))");
    auto e = require_sql_error([&] { db->execute("INSERT INTO posts (user_id) VALUES (?)", 42); });
    CHECK(e.is_constraint_violation());
    CHECK_THAT(e.sqlite_message(), Catch::Contains("FOREIGN KEY"));
}

TEST_CASE("sql: execute() counts the rows the statement itself changed", "[sql]") {
    auto db = sql::database::open_in_memory();
    CHECK(db->execute("CREATE TABLE users (id INTEGER PRIMARY KEY)") == 0);
    db->exec("CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id) ON DELETE CASCADE)");
    CHECK(db->execute("INSERT INTO users (id) VALUES (1), (2), (3)") == 3);
    CHECK(db->execute("INSERT INTO posts (user_id) VALUES (1), (1), (2)") == 3);
    // DDL and queries change nothing, even right after a write (SQLite's own counter would
    // still say 3 here).
    CHECK(db->execute("CREATE INDEX posts_user ON posts(user_id)") == 0);
    CHECK(db->execute("SELECT * FROM users") == 0);
    CHECK(db->execute("UPDATE users SET id = id WHERE id > ?", 1) == 2);
    // Cascaded deletes are not counted: one user was deleted.
    CHECK(db->execute("DELETE FROM users WHERE id = 1") == 1);
    CHECK(db->query_one<std::int64_t>("SELECT count(*) FROM posts") == 1);
    CHECK(db->execute("DELETE FROM users WHERE id = 99") == 0);
}

TEST_CASE("sql: reading columns without a row, or out of range, is an error", "[sql]") {
    auto db = sql::database::open_in_memory();
    auto st = db->prepare("SELECT 1 AS one");
    CHECK(st.column_name(0) == "one");  // names are known before step()
    require_sql_error([&] { (void)st.column_int(0); });
    REQUIRE(st.step());
    require_sql_error([&] { (void)st.column_int(1); });
    require_sql_error([&] { (void)st.column_int(-1); });
    CHECK_FALSE(st.step());
    require_sql_error([&] { (void)st.column_int(0); });

    sql::statement empty;
    CHECK_FALSE(empty.valid());
    require_sql_error([&] { (void)empty.step(); });
    sql::statement moved = std::move(st);
    CHECK(moved.valid());
    CHECK_FALSE(st.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    REQUIRE(moved.step());
    CHECK(moved.get<int>(0) == 1);
}

TEST_CASE("sql: close() finalizes statements, ends transactions, and later use throws", "[sql]") {
    auto db = notes_db();
    auto st = db->prepare("SELECT count(*) FROM items");
    auto tx = db->begin();
    db->execute("INSERT INTO items (name) VALUES ('lost')");
    db->close();
    CHECK_FALSE(db->is_open());
    CHECK_FALSE(st.valid());
    CHECK_FALSE(tx.active());
    CHECK_FALSE(db->in_transaction());
    require_sql_error([&] { (void)st.step(); });
    auto e = require_sql_error([&] { (void)db->prepare("SELECT 1"); });
    CHECK_THAT(e.sqlite_message(), Catch::Contains("closed"));
    require_sql_error([&] { db->exec("SELECT 1"); });
    require_sql_error([&] { (void)db->begin(); });
    db->close();  // idempotent
}

TEST_CASE("sql: named in-memory databases are shared by name while a connection is open", "[sql]") {
    auto anchor = sql::database::open_named_in_memory("rivetkit-test-shared-a");
    {
        auto c1 = sql::database::open_named_in_memory("rivetkit-test-shared-a");
        c1->exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)");
        // The rolled-back work of a closed connection is gone, the committed work stays.
        auto tx = c1->begin();
        c1->execute("INSERT INTO t VALUES (2)");
        c1->close();
    }
    auto c2 = sql::database::open_named_in_memory("rivetkit-test-shared-a");
    CHECK(c2->query<std::int64_t>("SELECT v FROM t") == std::vector<std::int64_t>{1});
    auto other = sql::database::open_named_in_memory("rivetkit-test-shared-b");
    CHECK(other->query_one<std::int64_t>("SELECT count(*) FROM sqlite_master") == 0);
    c2.reset();
    anchor.reset();  // the last connection: the data goes
    auto fresh = sql::database::open_named_in_memory("rivetkit-test-shared-a");
    CHECK(fresh->query_one<std::int64_t>("SELECT count(*) FROM sqlite_master") == 0);
    require_sql_error([] { (void)sql::database::open_named_in_memory("a/b?c"); });
}

TEST_CASE("sql: statements and transactions may outlive their database", "[sql]") {
    sql::statement st;
    std::optional<sql::transaction> tx;
    {
        auto db = notes_db();
        st = db->prepare("SELECT 1");
        tx.emplace(db->begin());
    }
    CHECK_FALSE(st.valid());
    CHECK_FALSE(tx->active());
    tx.reset();  // its destructor does nothing
}

TEST_CASE("sql: files are created with their directories, reopened, and removed", "[sql]") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("rivetkit-sql-test-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const fs::path file = dir / "databases" / "actor.sqlite";
    {
        auto db = sql::database::open(file);
        CHECK(db->path() == file);
        CHECK(db->query_one<std::string>("PRAGMA journal_mode") == "wal");
        CHECK(db->query_one<std::int64_t>("PRAGMA foreign_keys") == 1);
        CHECK(db->query_one<std::int64_t>("PRAGMA synchronous") == 1);  // NORMAL
        db->exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')");
        CHECK(fs::exists(file));
        CHECK(fs::exists(fs::path(file.string() + "-wal")));
    }
    {
        sql::open_options o;
        o.fsync = true;
        auto db = sql::database::open(file, o);
        CHECK(db->query_one<std::string>("SELECT v FROM t") == "kept");
        CHECK(db->query_one<std::int64_t>("PRAGMA synchronous") == 2);  // FULL
        // ATTACH is off: an actor's database is its own.
        auto e = require_sql_error([&] { db->exec("ATTACH DATABASE ':memory:' AS other"); });
        CHECK_THAT(e.sqlite_message(), Catch::Contains("too many attached databases"));
    }
    sql::remove_database_files(file);
    CHECK_FALSE(fs::exists(file));
    CHECK_FALSE(fs::exists(fs::path(file.string() + "-wal")));
    CHECK_FALSE(fs::exists(fs::path(file.string() + "-shm")));
    sql::remove_database_files(file);  // nothing left: fine
    std::error_code ec;
    CHECK(sql::remove_database_files(file, ec));
    CHECK_FALSE(ec);
    {
        auto db = sql::database::open(file);
        CHECK(db->query_one<std::int64_t>("SELECT count(*) FROM sqlite_master") == 0);
    }
    fs::remove_all(dir);
}

TEST_CASE("sql: max_size_bytes bounds the database, writes past it fail with SQLITE_FULL", "[sql]") {
    sql::open_options o;
    o.max_size_bytes = 64 * 1024;
    auto db = sql::database::open_in_memory(o);
    db->exec("CREATE TABLE t (b BLOB)");
    const rivetkit::bytes chunk(4096, 0x5a);
    auto e = require_sql_error([&] {
        for (int i = 0; i < 100; ++i) db->execute("INSERT INTO t VALUES (?)", chunk);
    });
    CHECK(e.is_full());
    CHECK(db->query_one<std::int64_t>("SELECT count(*) FROM t") < 16);
}
