// What a durable write costs SQLite alone: the file-system driver's schema and settings (WAL,
// synchronous = NORMAL), one thread, no runtime, no hand-off.
//
//   sqlite_floor [--dir PATH] [--writes N] [--batch N] [--actors N]
//
// Writes `writes` KV values (a 1-byte key and a 21-byte value per actor, as the counter's state
// is stored) in transactions of `batch` writes, round-robin over `actors` actors, twice: as the
// driver does it (per write a savepoint, the actor's existence check, the upsert, the release)
// and as the bare upsert. Prints microseconds of wall time per write for each (the thread is the
// only one working, so wall time is its CPU time). The durable action's budget is compared with
// it in bench/RESULTS.md.

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli.hpp"

namespace {

void check(int rc, sqlite3* db, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        std::fprintf(stderr, "sqlite_floor: %s: %s\n", what, sqlite3_errmsg(db));
        std::exit(1);
    }
}

void exec(sqlite3* db, const char* sql) { check(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), db, sql); }

sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* s = nullptr;
    check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr), db, sql);
    return s;
}

void run(sqlite3* db, sqlite3_stmt* s) {
    check(sqlite3_step(s), db, sqlite3_sql(s));
    sqlite3_reset(s);
}

struct options {
    std::string dir;
    std::size_t writes = 400'000;
    std::size_t batch = 16;
    std::size_t actors = 100;
};

double measure(sqlite3* db, const options& o, const std::vector<std::string>& ids, bool as_driver) {
    sqlite3_stmt* begin = prepare(db, "BEGIN IMMEDIATE");
    sqlite3_stmt* commit = prepare(db, "COMMIT");
    sqlite3_stmt* savepoint = prepare(db, "SAVEPOINT op");
    sqlite3_stmt* release = prepare(db, "RELEASE op");
    sqlite3_stmt* exists = prepare(db, "SELECT 1 FROM actors WHERE actor_id = ?1");
    sqlite3_stmt* put = prepare(db,
                                "INSERT INTO kv (actor_id, key, value) VALUES (?1, ?2, ?3) "
                                "ON CONFLICT (actor_id, key) DO UPDATE SET value = excluded.value");
    const unsigned char key = 0x01;
    unsigned char value[21] = {};
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t done = 0; done < o.writes;) {
        run(db, begin);
        for (std::size_t b = 0; b < o.batch && done < o.writes; ++b, ++done) {
            const std::string& id = ids[done % ids.size()];
            value[done % sizeof value] = static_cast<unsigned char>(done);
            if (as_driver) {
                run(db, savepoint);
                sqlite3_bind_text(exists, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
                check(sqlite3_step(exists), db, "exists");
                sqlite3_reset(exists);
            }
            sqlite3_bind_text(put, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
            sqlite3_bind_blob(put, 2, &key, 1, SQLITE_STATIC);
            sqlite3_bind_blob(put, 3, value, sizeof value, SQLITE_TRANSIENT);
            run(db, put);
            if (as_driver) run(db, release);
        }
        run(db, commit);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (auto* s : {begin, commit, savepoint, release, exists, put}) sqlite3_finalize(s);
    return seconds * 1e6 / static_cast<double>(o.writes);
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    bench::parse_options(argc, argv, {{"--writes", &o.writes}, {"--batch", &o.batch}, {"--actors", &o.actors}},
                         {{"--dir", &o.dir}});
    if (o.batch == 0 || o.actors == 0) {
        std::fprintf(stderr, "sqlite_floor: --batch and --actors must be at least 1\n");
        return 2;
    }
    namespace fs = std::filesystem;
    const fs::path base = o.dir.empty() ? fs::temp_directory_path() : fs::path(o.dir);
    const fs::path dir = base / ("sqlite_floor." + std::to_string(::getpid()));
    fs::create_directories(dir);

    sqlite3* db = nullptr;
    check(sqlite3_open((dir / "floor.sqlite").c_str(), &db), db, "open");
    exec(db, "PRAGMA journal_mode = WAL");
    exec(db, "PRAGMA synchronous = NORMAL");
    exec(db,
         "CREATE TABLE actors (actor_id TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, key TEXT NOT NULL, "
         "generation INTEGER NOT NULL, create_ts INTEGER NOT NULL, start_ts INTEGER, connectable_ts INTEGER, "
         "sleep_ts INTEGER, destroy_ts INTEGER) WITHOUT ROWID;"
         "CREATE TABLE kv (actor_id TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, "
         "PRIMARY KEY (actor_id, key)) WITHOUT ROWID;");
    std::vector<std::string> ids;
    exec(db, "BEGIN");
    for (std::size_t i = 0; i < o.actors; ++i) {
        char id[17];
        std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(i) * 0x9e3779b97f4a7c15ull);
        ids.emplace_back(id);
        const std::string sql = "INSERT INTO actors VALUES ('" + ids.back() + "', 'counter', 'k', 1, 0, 0, 0, NULL, NULL)";
        exec(db, sql.c_str());
    }
    exec(db, "COMMIT");

    // Each pattern twice, keeping the second: the first warms the cache and the WAL.
    measure(db, o, ids, true);
    const double as_driver = measure(db, o, ids, true);
    measure(db, o, ids, false);
    const double bare = measure(db, o, ids, false);
    sqlite3_close(db);
    fs::remove_all(dir);

    std::printf("sqlite_floor writes=%zu batch=%zu actors=%zu\n", o.writes, o.batch, o.actors);
    std::printf("  as the driver writes (savepoint, exists, upsert, release): %.2f us per write\n", as_driver);
    std::printf("  bare upsert:                                              %.2f us per write\n", bare);
    std::printf("{\"workload\":\"sqlite_floor\",\"batch\":%zu,\"driver_us\":%.3f,\"bare_us\":%.3f}\n", o.batch,
                as_driver, bare);
    return 0;
}
