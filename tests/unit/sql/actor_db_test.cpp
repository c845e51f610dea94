// c.db() in actors, on the memory driver through the test registry: created on first use, one
// connection per awake period, data kept across sleep, gone with destroy, usable in the stop
// hooks, closed when the actor stops, and SQL errors masked for clients.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>
#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/local_host.hpp>
#include <rivetkit/log.hpp>
#include <rivetkit/sql.hpp>
#include <rivetkit/testing.hpp>

#include "runtime/runtime_test_support.hpp"

namespace actor_db_test {

using namespace std::chrono_literals;
namespace sql = rivetkit::sql;
using note = std::tuple<std::int64_t, std::string>;

void ensure_schema(sql::database& db) {
    db.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)");
}

rivetkit::actor_options quick_sleep() {
    rivetkit::actor_options o;
    o.sleep_timeout = 1000ms;
    return o;
}

// What the stop hooks saw, for the tests to check (hooks run on the registry's only thread).
struct hook_log {
    std::int64_t notes_at_destroy = -1;
};
hook_log seen;

const auto notebook =
    rivetkit::actor()
        .options(quick_sleep())
        .action<"add">([](auto& c, std::string body) {
            auto& db = c.db();
            ensure_schema(db);
            db.execute("INSERT INTO notes (body) VALUES (?)", body);
            return db.last_insert_rowid();
        })
        .action<"list">([](auto& c) {
            ensure_schema(c.db());
            return c.db().template query<std::int64_t, std::string>("SELECT id, body FROM notes ORDER BY id");
        })
        .action<"tables">([](auto& c) {
            return c.db().template query<std::string>("SELECT name FROM sqlite_master WHERE type = 'table'");
        })
        .action<"addMany">([](auto& c, std::vector<std::string> bodies) {
            // All or nothing: a duplicate anywhere rolls back the whole batch.
            auto& db = c.db();
            ensure_schema(db);
            auto tx = db.begin();
            auto ins = db.prepare("INSERT INTO notes (body) VALUES (?)");
            for (const auto& b : bodies) {
                ins.bind(1, b);
                ins.execute();
            }
            tx.commit();
            return static_cast<std::int64_t>(bodies.size());
        })
        .action<"badSql">([](auto& c) { c.db().exec("SELECT * FROM no_such_table"); })
        .action<"sleep">([](auto& c) { c.sleep(); })
        .action<"destroy">([](auto& c) { c.destroy(); })
        // Holds a transaction and a statement across a suspension during which the actor stops.
        .action<"holdAcrossSleep">([](auto& c, std::string body) -> rivetkit::task<std::string> {
            auto& db = c.db();
            ensure_schema(db);
            auto tx = db.begin();
            db.execute("INSERT INTO notes (body) VALUES (?)", body);
            auto st = db.prepare("SELECT count(*) FROM notes");
            c.sleep();
            co_await c.sleep_for(5000ms);
            std::string out = std::string(tx.active() ? "tx:active" : "tx:ended") +
                              (st.valid() ? " st:valid" : " st:finalized");
            try {
                db.execute("INSERT INTO notes (body) VALUES ('late')");
                out += " db:open";
            } catch (const sql::error&) {
                out += " db:closed";
            }
            try {
                (void)c.db();
                out += " c.db():ok";
            } catch (const rivetkit::error& e) {
                out += " c.db():" + e.group() + "/" + e.code();
            }
            co_return out;
        });

// The stop hooks may still use the database.
const auto diary =
    rivetkit::actor()
        .options(quick_sleep())
        .on_wake([](auto& c) {
            ensure_schema(c.db());
            c.db().execute("INSERT OR IGNORE INTO notes (body) VALUES ('created')");
        })
        .on_sleep([](auto& c) {
            auto n = c.db().template query_one<std::int64_t>("SELECT count(*) FROM notes").value();
            c.db().execute("INSERT INTO notes (body) VALUES (?)", "slept after " + std::to_string(n));
        })
        .on_destroy([](auto& c) {
            seen.notes_at_destroy = c.db().template query_one<std::int64_t>("SELECT count(*) FROM notes").value();
        })
        .action<"list">([](auto& c) {
            return c.db().template query<std::string>("SELECT body FROM notes ORDER BY id");
        })
        .action<"destroy">([](auto& c) { c.destroy(); });

// Never touches c.db().
const auto plain = rivetkit::actor()
                       .options(quick_sleep())
                       .action<"ping">([](auto&) { return std::string("pong"); })
                       .action<"destroy">([](auto& c) { c.destroy(); });

/// The memory driver's store, counting open_database calls.
class counting_store final : public rivetkit::local_store {
public:
    counting_store(rivetkit::driver_pair inner, std::shared_ptr<std::atomic<int>> opens)
        : inner_(std::move(inner)),
          store_(dynamic_cast<rivetkit::local_host&>(*inner_.manager).store()),
          opens_(std::move(opens)) {}

    std::string display_name() const override { return store_.display_name(); }
    rivetkit::task<std::optional<rivetkit::actor_record>> load_record(std::string id) override {
        return store_.load_record(std::move(id));
    }
    rivetkit::task<void> create_record(rivetkit::actor_record r, std::vector<rivetkit::kv_entry> kv) override {
        return store_.create_record(std::move(r), std::move(kv));
    }
    rivetkit::task<void> update_record(rivetkit::actor_record r) override { return store_.update_record(std::move(r)); }
    rivetkit::task<void> delete_actor(std::string id) override { return store_.delete_actor(std::move(id)); }
    rivetkit::task<std::vector<rivetkit::actor_record>> list_records(std::string name) override {
        return store_.list_records(std::move(name));
    }
    rivetkit::task<std::vector<std::optional<rivetkit::bytes>>> kv_get(std::string id,
                                                                       std::vector<rivetkit::bytes> keys) override {
        return store_.kv_get(std::move(id), std::move(keys));
    }
    rivetkit::task<void> kv_put(std::string id, std::vector<rivetkit::kv_entry> entries) override {
        return store_.kv_put(std::move(id), std::move(entries));
    }
    rivetkit::task<void> kv_delete(std::string id, std::vector<rivetkit::bytes> keys) override {
        return store_.kv_delete(std::move(id), std::move(keys));
    }
    rivetkit::task<std::vector<rivetkit::kv_entry>> kv_list_prefix(std::string id, rivetkit::bytes prefix) override {
        return store_.kv_list_prefix(std::move(id), std::move(prefix));
    }
    rivetkit::task<void> store_alarm(std::string id, std::optional<std::int64_t> ts) override {
        return store_.store_alarm(std::move(id), ts);
    }
    rivetkit::task<std::vector<std::pair<std::string, std::int64_t>>> load_alarms() override {
        return store_.load_alarms();
    }
    std::shared_ptr<sql::database> open_database(const std::string& id) override {
        ++*opens_;
        return store_.open_database(id);
    }

private:
    rivetkit::driver_pair inner_;  // keeps the memory driver's store alive
    rivetkit::local_store& store_;
    std::shared_ptr<std::atomic<int>> opens_;
};

rivetkit::testing::test_options counted(std::shared_ptr<std::atomic<int>> opens) {
    rivetkit::testing::test_options o;
    o.driver = rivetkit::driver_factory{"counted-memory", [opens](const rivetkit::driver_env& env) {
                                            auto inner = rivetkit::drivers::memory().make(env);
                                            auto store = std::make_shared<counting_store>(std::move(inner), opens);
                                            auto host = std::make_shared<rivetkit::local_host>(env, store);
                                            return rivetkit::driver_pair{host, host};
                                        }};
    return o;
}

/// Captures log lines while alive.
class log_capture {
public:
    log_capture() {
        rivetkit::set_log_sink([this](rivetkit::log_level, std::string_view line) {
            std::lock_guard lock(mutex_);
            lines_.emplace_back(line);
        });
    }
    ~log_capture() { rivetkit::set_log_sink(nullptr); }
    log_capture(const log_capture&) = delete;
    log_capture& operator=(const log_capture&) = delete;
    [[nodiscard]] bool contains(std::string_view needle) const {
        std::lock_guard lock(mutex_);
        for (const auto& l : lines_) {
            if (l.find(needle) != std::string::npos) return true;
        }
        return false;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> lines_;
};

}  // namespace actor_db_test

using namespace actor_db_test;
using rivetkit_test::require_error;

TEST_CASE("c.db(): an action creates a table and rows, other actors have their own database", "[sql]") {
    rivetkit::testing::test_registry t({{"notebook", notebook}});
    auto alice = t.client().get_or_create(notebook, "notebook", {"alice"});
    auto bob = t.client().get_or_create(notebook, "notebook", {"bob"});
    CHECK(alice.call<"add">("first") == 1);
    CHECK(alice.call<"add">("second") == 2);
    CHECK(bob.call<"add">("bob's") == 1);
    CHECK(alice.call<"list">() == std::vector<note>{{1, "first"}, {2, "second"}});
    CHECK(bob.call<"list">() == std::vector<note>{{1, "bob's"}});
    CHECK(alice.call<"tables">() == std::vector<std::string>{"notes"});
}

TEST_CASE("c.db(): data survives sleep and wake", "[sql]") {
    auto opens = std::make_shared<std::atomic<int>>(0);
    rivetkit::testing::test_registry t({{"notebook", notebook}}, counted(opens));
    auto h = t.client().get_or_create(notebook, "notebook", {"a"});
    h.call<"add">("kept");
    h.call<"add">("also kept");
    CHECK(*opens == 1);  // one connection for the awake period, however many calls
    t.advance(1500ms);
    REQUIRE(t.awake_count() == 0);
    CHECK(h.call<"list">() == std::vector<note>{{1, "kept"}, {2, "also kept"}});
    CHECK(*opens == 2);  // the wake opened a new one
    h.call<"sleep">();
    t.settle();
    REQUIRE(t.awake_count() == 0);
    CHECK(h.call<"add">("after two sleeps") == 3);
}

TEST_CASE("c.db(): destroy deletes the database, the recreated actor starts empty", "[sql]") {
    rivetkit::testing::test_registry t({{"notebook", notebook}});
    auto h = t.client().get_or_create(notebook, "notebook", {"d"});
    h.call<"add">("doomed");
    const auto id = h.resolve();
    h.call<"destroy">();
    t.settle();
    require_error([&] { (void)t.client().get(notebook, "notebook", {"d"}).call<"list">(); }, "actor", "not_found");
    auto again = t.client().get_or_create(notebook, "notebook", {"d"});
    CHECK(again.resolve() == id);  // same id, new actor
    CHECK(again.call<"tables">().empty());
    CHECK(again.call<"list">().empty());
}

TEST_CASE("c.db(): an actor that never calls db() opens nothing", "[sql]") {
    auto opens = std::make_shared<std::atomic<int>>(0);
    rivetkit::testing::test_registry t({{"plain", plain}, {"notebook", notebook}}, counted(opens));
    auto p = t.client().get_or_create(plain, "plain", {"p"});
    CHECK(p.call<"ping">() == "pong");
    t.advance(1500ms);  // sleep
    CHECK(p.call<"ping">() == "pong");  // wake
    p.call<"destroy">();
    t.settle();
    CHECK(*opens == 0);
    // While an actor that uses it opens its database exactly once.
    auto n = t.client().get_or_create(notebook, "notebook", {"n"});
    n.call<"add">("x");
    CHECK(*opens == 1);
}

TEST_CASE("c.db(): an SQL error reaches the client masked, the actor keeps working", "[sql]") {
    rivetkit::testing::test_registry t({{"notebook", notebook}});
    auto h = t.client().get_or_create(notebook, "notebook", {"e"});
    h.call<"add">("one");
    {
        log_capture logs;
        auto e = require_error([&] { h.call<"badSql">(); }, "internal", "internal_error");
        CHECK(e.message() == rivetkit::errors::internal_error_message);
        CHECK(std::string(e.what()).find("no_such_table") == std::string::npos);
        // The server log has the whole story.
        CHECK(logs.contains("no such table: no_such_table"));
        // A constraint violation inside a transaction: masked too, and nothing of the batch stays.
        require_error([&] { (void)h.call<"addMany">(std::vector<std::string>{"two", "three", "one"}); },
                      "internal", "internal_error");
        CHECK(logs.contains("UNIQUE constraint failed: notes.body"));
    }
    CHECK(h.call<"list">() == std::vector<note>{{1, "one"}});
    CHECK(h.call<"addMany">(std::vector<std::string>{"two", "three"}) == 2);
    CHECK(h.call<"list">().size() == 3);
}

TEST_CASE("c.db(): on_wake, on_sleep and on_destroy may use the database", "[sql]") {
    rivetkit::testing::test_registry t({{"diary", diary}});
    auto h = t.client().get_or_create(diary, "diary", {"d"});
    CHECK(h.call<"list">() == std::vector<std::string>{"created"});
    t.advance(1500ms);
    REQUIRE(t.awake_count() == 0);
    CHECK(h.call<"list">() == std::vector<std::string>{"created", "slept after 1"});
    seen.notes_at_destroy = -1;
    h.call<"destroy">();
    t.settle();
    CHECK(seen.notes_at_destroy == 2);
}

TEST_CASE("c.db(): stopping closes the database under a suspended action", "[sql]") {
    rivetkit::testing::test_registry t({{"notebook", notebook}});
    auto h = t.client().get_or_create(notebook, "notebook", {"s"});
    h.call<"add">("before");
    auto call = rivetkit_test::start(t, h.async_call<"holdAcrossSleep">(std::string("uncommitted")));
    t.settle();
    REQUIRE_FALSE(call.done());
    CHECK(t.awake_count() == 0);  // the actor slept while the action waits
    t.advance(6000ms);
    REQUIRE(call.done());
    CHECK(call.get() == "tx:ended st:finalized db:closed c.db():actor/stopping");
    // The open transaction was rolled back; the next wake sees only committed rows.
    CHECK(h.call<"list">() == std::vector<note>{{1, "before"}});
}
