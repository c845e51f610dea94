// Per-user databases: one "notes" actor per user, each with its own SQLite database (c.db()).
//
// The program starts a registry on the memory driver, then plays two users: each adds notes to
// their own actor, tags them in a transaction, searches them, and sees only their own data. The
// actor is then put to sleep and woken again: the database is still there. On a file-system
// driver the same code keeps one SQLite file per actor.

#include <cstdint>
#include <iostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

namespace demo {

struct note {
    std::int64_t id = 0;
    std::string body;
    std::vector<std::string> tags;
};
RIVETKIT_FIELDS(note, id, body, tags)

// Schema set-up is idempotent, so every action can call it; it runs once per awake period.
void migrate(rivetkit::sql::database& db) {
    db.exec(R"sql(
        CREATE TABLE IF NOT EXISTS notes (
            id      INTEGER PRIMARY KEY,
            body    TEXT NOT NULL,
            created INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS tags (
            note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
            tag     TEXT NOT NULL,
            PRIMARY KEY (note_id, tag)
        );
    )sql");
}

std::vector<note> load_notes(rivetkit::sql::database& db, std::string_view where_tag) {
    // One prepared statement for the tags of every note.
    auto tags_of = db.prepare("SELECT tag FROM tags WHERE note_id = ? ORDER BY tag");
    auto rows = where_tag.empty()
                    ? db.query<std::int64_t, std::string>("SELECT id, body FROM notes ORDER BY id")
                    : db.query<std::int64_t, std::string>(
                          "SELECT n.id, n.body FROM notes n JOIN tags t ON t.note_id = n.id "
                          "WHERE t.tag = ? ORDER BY n.id",
                          where_tag);
    std::vector<note> out;
    for (auto& [id, body] : rows) {
        note n{id, std::move(body), {}};
        tags_of.reset();
        tags_of.bind(1, id);
        while (tags_of.step()) n.tags.push_back(tags_of.column_text(0));
        out.push_back(std::move(n));
    }
    return out;
}

inline const auto notes = rivetkit::actor()
    // Adds a note and its tags atomically; returns its id.
    .action<"add">([](auto& c, std::string body, std::vector<std::string> tags) {
        auto& db = c.db();
        migrate(db);
        auto tx = db.begin();
        db.execute("INSERT INTO notes (body, created) VALUES (?, ?)", body, c.now_ms());
        const std::int64_t id = db.last_insert_rowid();
        auto tag = db.prepare("INSERT INTO tags (note_id, tag) VALUES (:note, :tag)");
        tag.bind(":note", id);
        for (const auto& t : tags) {
            tag.bind(":tag", t);
            tag.execute();
        }
        tx.commit();
        return id;
    })
    .action<"list">([](auto& c) {
        migrate(c.db());
        return load_notes(c.db(), {});
    })
    .action<"tagged">([](auto& c, std::string tag) {
        migrate(c.db());
        return load_notes(c.db(), tag);
    })
    // Deleting a note deletes its tags too (foreign keys are on, ON DELETE CASCADE).
    .action<"remove">([](auto& c, std::int64_t id) {
        migrate(c.db());
        return c.db().execute("DELETE FROM notes WHERE id = ?", id) == 1;
    })
    .action<"stats">([](auto& c) {
        migrate(c.db());
        auto counts = c.db().template query_one<std::int64_t, std::int64_t>(
            "SELECT (SELECT count(*) FROM notes), (SELECT count(*) FROM tags)");
        return counts.value();
    })
    .action<"sleep">([](auto& c) { c.sleep(); });

}  // namespace demo

namespace {

void print(std::string_view user, const std::vector<demo::note>& list) {
    for (const auto& n : list) {
        std::cout << "  " << user << " #" << n.id << " " << n.body;
        for (const auto& t : n.tags) std::cout << " [" << t << "]";
        std::cout << "\n";
    }
}

bool check(bool ok, std::string_view what) {
    if (!ok) std::cerr << "unexpected: " << what << "\n";
    return ok;
}

}  // namespace

int main() {
    auto registry = rivetkit::setup({{"notes", demo::notes}},
                                    {.driver = rivetkit::drivers::memory(), .threads = 2});
    registry.start();
    auto client = registry.client();

    // One actor, and so one database, per user.
    auto alice = client.get_or_create(demo::notes, "notes", {"alice"});
    auto bob = client.get_or_create(demo::notes, "notes", {"bob"});

    alice.call<"add">("buy milk", std::vector<std::string>{"errand"});
    alice.call<"add">("call the bank", std::vector<std::string>{"errand", "urgent"});
    const std::int64_t draft = alice.call<"add">("draft the report", std::vector<std::string>{"work"});
    bob.call<"add">("water the plants", std::vector<std::string>{"home"});

    std::cout << "alice's notes:\n";
    print("alice", alice.call<"list">());
    std::cout << "alice's errands:\n";
    print("alice", alice.call<"tagged">("errand"));
    std::cout << "bob's notes:\n";
    print("bob", bob.call<"list">());

    bool ok = true;
    ok &= check(alice.call<"remove">(draft), "remove returned false");
    auto [notes_left, tags_left] = alice.call<"stats">();
    std::cout << "after removing #" << draft << ": " << notes_left << " notes, " << tags_left << " tags\n";
    ok &= check(notes_left == 2 && tags_left == 3, "the cascade did not delete the tags");

    // Sleep closes the actor's database; the next call wakes it with the data intact.
    alice.call<"sleep">();
    auto after_wake = alice.call<"list">();
    std::cout << "alice after sleep and wake: " << after_wake.size() << " notes\n";
    ok &= check(after_wake.size() == 2, "notes lost across sleep");
    ok &= check(bob.call<"list">().size() == 1, "bob sees someone else's notes");

    registry.stop();
    std::cout << (ok ? "done\n" : "FAILED\n");
    return ok ? 0 : 1;
}
