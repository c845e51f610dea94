// rivetkit::sql transactions: commit, rollback (explicit, by destructor, by exception), nesting
// as savepoints, misuse, and transactions SQLite itself ended.

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <rivetkit/sql.hpp>

namespace sql = rivetkit::sql;

namespace {

std::shared_ptr<sql::database> ledger() {
    auto db = sql::database::open_in_memory();
    db->exec("CREATE TABLE entries (v INTEGER NOT NULL)");
    return db;
}

std::int64_t count(sql::database& db) { return db.query_one<std::int64_t>("SELECT count(*) FROM entries").value(); }

std::vector<std::int64_t> values(sql::database& db) {
    return db.query<std::int64_t>("SELECT v FROM entries ORDER BY v");
}

}  // namespace

TEST_CASE("sql transaction: commit makes the changes permanent", "[sql]") {
    auto db = ledger();
    auto tx = db->begin();
    CHECK(tx.active());
    CHECK_FALSE(tx.nested());
    CHECK(db->in_transaction());
    db->execute("INSERT INTO entries VALUES (?)", 1);
    db->execute("INSERT INTO entries VALUES (?)", 2);
    tx.commit();
    CHECK_FALSE(tx.active());
    CHECK_FALSE(db->in_transaction());
    CHECK(count(*db) == 2);
    CHECK_THROWS_AS(tx.commit(), sql::error);  // once only
}

TEST_CASE("sql transaction: explicit rollback and rollback by the destructor", "[sql]") {
    auto db = ledger();
    {
        auto tx = db->begin();
        db->execute("INSERT INTO entries VALUES (1)");
        tx.rollback();
        CHECK_FALSE(tx.active());
    }
    CHECK(count(*db) == 0);
    {
        auto tx = db->begin();
        db->execute("INSERT INTO entries VALUES (2)");
    }  // neither committed nor rolled back
    CHECK(count(*db) == 0);
    CHECK_FALSE(db->in_transaction());
}

TEST_CASE("sql transaction: an exception rolls back everything done in it", "[sql]") {
    auto db = ledger();
    db->execute("INSERT INTO entries VALUES (0)");
    auto transfer = [&] {
        auto tx = db->begin();
        db->execute("INSERT INTO entries VALUES (1)");
        db->execute("INSERT INTO entries VALUES (NULL)");  // NOT NULL: throws
        tx.commit();
    };
    CHECK_THROWS_AS(transfer(), sql::error);
    CHECK(values(*db) == std::vector<std::int64_t>{0});

    CHECK_THROWS_AS(db->with_transaction([&] {
        db->execute("INSERT INTO entries VALUES (5)");
        throw std::runtime_error("abort");
    }), std::runtime_error);
    CHECK(values(*db) == std::vector<std::int64_t>{0});

    const std::int64_t n = db->with_transaction([&] {
        db->execute("INSERT INTO entries VALUES (6)");
        return count(*db);
    });
    CHECK(n == 2);
    CHECK(values(*db) == std::vector<std::int64_t>{0, 6});
}

TEST_CASE("sql transaction: nested transactions are savepoints", "[sql]") {
    auto db = ledger();
    auto outer = db->begin();
    db->execute("INSERT INTO entries VALUES (1)");
    {
        auto inner = db->begin();
        CHECK(inner.nested());
        db->execute("INSERT INTO entries VALUES (2)");
        inner.rollback();  // undoes 2 only
    }
    {
        auto inner = db->begin();
        db->execute("INSERT INTO entries VALUES (3)");
        inner.commit();  // 3 is kept, if the outer commits
    }
    {
        auto inner = db->begin();
        db->execute("INSERT INTO entries VALUES (4)");
    }  // destroyed: rolled back
    CHECK(values(*db) == std::vector<std::int64_t>{1, 3});
    outer.commit();
    CHECK(values(*db) == std::vector<std::int64_t>{1, 3});

    // An outer rollback also undoes committed inner savepoints.
    {
        auto tx = db->begin();
        auto inner = db->begin();
        db->execute("INSERT INTO entries VALUES (9)");
        inner.commit();
        tx.rollback();
    }
    CHECK(values(*db) == std::vector<std::int64_t>{1, 3});
}

TEST_CASE("sql transaction: finish the innermost first, an outer rollback ends the inner ones", "[sql]") {
    auto db = ledger();
    auto outer = db->begin();
    auto inner = db->begin();
    db->execute("INSERT INTO entries VALUES (1)");
    CHECK_THROWS_AS(outer.commit(), sql::error);  // inner still open
    CHECK(outer.active());
    outer.rollback();
    CHECK_FALSE(inner.active());
    CHECK_FALSE(db->in_transaction());
    CHECK(count(*db) == 0);
    CHECK_THROWS_AS(inner.commit(), sql::error);
}

TEST_CASE("sql transaction: moving a transaction keeps it open", "[sql]") {
    auto db = ledger();
    std::optional<sql::transaction> held;
    {
        auto tx = db->begin();
        db->execute("INSERT INTO entries VALUES (7)");
        held.emplace(std::move(tx));
    }  // the moved-from object does nothing on destruction
    CHECK(db->in_transaction());
    held->commit();
    CHECK(values(*db) == std::vector<std::int64_t>{7});
}

TEST_CASE("sql transaction: begin() refuses to nest inside a transaction begun with SQL", "[sql]") {
    auto db = ledger();
    db->exec("BEGIN");
    auto e = [&] {
        try {
            (void)db->begin();
        } catch (const sql::error& err) {
            return std::string(err.sqlite_message());
        }
        return std::string();
    }();
    CHECK_THAT(e, Catch::Contains("BEGIN"));
    db->exec("ROLLBACK");
    auto tx = db->begin();
    tx.commit();
}

TEST_CASE("sql transaction: after SQLite rolled back on its own, commit() throws", "[sql]") {
    auto db = ledger();
    auto tx = db->begin();
    db->execute("INSERT INTO entries VALUES (1)");
    // A conflict clause of ROLLBACK ends the whole transaction inside SQLite.
    db->exec("CREATE TABLE u (v INTEGER UNIQUE ON CONFLICT ROLLBACK)");
    db->execute("INSERT INTO u VALUES (1)");
    CHECK_THROWS_AS(db->execute("INSERT INTO u VALUES (1)"), sql::error);
    CHECK_FALSE(db->in_transaction());
    auto e = [&] {
        try {
            tx.commit();
        } catch (const sql::error& err) {
            return std::string(err.sqlite_message());
        }
        return std::string();
    }();
    CHECK_THAT(e, Catch::Contains("already rolled back"));
    CHECK_FALSE(tx.active());
    CHECK(count(*db) == 0);
    auto again = db->begin();  // the database is usable again
    again.commit();
}
