// What survives a restart: state, the actor list (names, keys, timestamps), scheduled events
// and their alarms (due ones run after the restart, waking the actor); destroy removes an actor
// for good and a re-creation starts fresh; create fails with duplicate_key for a stored actor.

#include <catch2/catch.hpp>

#include <rivetkit/clock.hpp>
#include <rivetkit/error.hpp>
#include <rivetkit/ids.hpp>
#include <rivetkit/local_host.hpp>

#include "file_system/fs_test_support.hpp"

using namespace fs_test;

namespace {

std::optional<rivetkit::actor_record> record_of(rivetkit::registry& reg, const std::string& name,
                                                const rivetkit::actor_key& key) {
    return reg.core().block_on(reg.core().manager().get_with_key(name, key));
}

std::vector<rivetkit::actor_record> list_of(rivetkit::registry& reg, const std::string& name) {
    return reg.core().block_on(reg.core().manager().list_actors(name));
}

}  // namespace

TEST_CASE("state and the actor list survive a restart", "[file_system][restart]") {
    temp_dir dir;
    const rivetkit::actor_key odd_key{"a/b", "", "c\\d"};
    std::int64_t created_a = 0;
    {
        auto reg = open_registry(dir.data());
        auto client = reg.client();
        CHECK(client.get_or_create(counter, "counter", {"a"}).call<"increment">(5) == 5);
        CHECK(client.get_or_create(counter, "counter", {"a"}).call<"increment">(2) == 7);
        CHECK(client.get_or_create(counter, "counter", odd_key).call<"increment">(1) == 1);
        CHECK(client.get_or_create(other, "other", {"a"}).call<"get">() == 0);
        created_a = record_of(reg, "counter", {"a"})->create_ts;
    }
    auto reg = open_registry(dir.data());
    auto client = reg.client();
    CHECK(client.get(counter, "counter", {"a"}).call<"get">() == 7);
    CHECK(client.get(counter, "counter", odd_key).call<"get">() == 1);
    // A restart is a wake, not a create: on_wake ran once per start.
    CHECK(client.get(counter, "counter", {"a"}).call<"wakes">() == 2);

    auto counters = list_of(reg, "counter");
    REQUIRE(counters.size() == 2);
    CHECK(counters[0].create_ts >= counters[1].create_ts);  // newest first
    std::vector<rivetkit::actor_key> keys{counters[0].key, counters[1].key};
    CHECK(std::count(keys.begin(), keys.end(), odd_key) == 1);
    CHECK(std::count(keys.begin(), keys.end(), rivetkit::actor_key{"a"}) == 1);
    auto others = list_of(reg, "other");
    REQUIRE(others.size() == 1);
    CHECK(others[0].key == rivetkit::actor_key{"a"});
    CHECK(others[0].actor_id == rivetkit::file_system_actor_id("other", {"a"}));

    auto a = record_of(reg, "counter", {"a"});
    REQUIRE(a);
    CHECK(a->create_ts == created_a);
    CHECK(a->start_ts.has_value());
    CHECK(a->connectable_ts.has_value());
    CHECK(list_of(reg, "nobody").empty());
}

TEST_CASE("every durability mode keeps state across a restart", "[file_system][restart]") {
    auto mode = GENERATE(rivetkit::durability::durable, rivetkit::durability::fsync, rivetkit::durability::relaxed);
    temp_dir dir;
    {
        auto reg = open_registry(dir.data(), {.mode = mode});
        auto h = reg.client().get_or_create(counter, "counter", {"m"});
        for (int i = 0; i < 5; ++i) h.call<"increment">(3);
    }
    auto reg = open_registry(dir.data(), {.mode = mode});
    CHECK(reg.client().get(counter, "counter", {"m"}).call<"get">() == 15);
}

TEST_CASE("create fails with duplicate_key for an actor stored before a restart", "[file_system][restart]") {
    temp_dir dir;
    {
        auto reg = open_registry(dir.data());
        reg.client().create(counter, "counter", {"dup"}).call<"increment">(1);
    }
    auto reg = open_registry(dir.data());
    try {
        (void)reg.client().create(counter, "counter", {"dup"});
        FAIL("create succeeded for a stored actor");
    } catch (const rivetkit::error& e) {
        CHECK(e.group() == "actor");
        CHECK(e.code() == "duplicate_key");
    }
    CHECK(reg.client().get(counter, "counter", {"dup"}).call<"get">() == 1);
}

TEST_CASE("a scheduled action that fell due while the process was down runs after the restart",
          "[file_system][restart][schedule]") {
    temp_dir dir;
    // The first run lives an hour in the past, so its event is long overdue at the restart.
    auto past = std::make_shared<rivetkit::virtual_clock>(rivetkit::make_system_clock()->now_ms() - 3'600'000);
    const std::string tag = "while-down-" + dir.path().filename().string();
    {
        auto reg = open_registry(dir.data(), {.clock = past});
        auto h = reg.client().get_or_create(counter, "counter", {"sched"});
        h.call<"increment">(1);
        h.call<"scheduleAt">(past->now_ms() + 10'000, tag);
        CHECK(h.call<"ran">().empty());
    }
    CHECK(signals().count(tag) == 0);

    // No request reaches the actor: the restored alarm alone wakes it and runs the event.
    auto reg = open_registry(dir.data());
    REQUIRE(signals().wait(tag));
    auto h = reg.client().get(counter, "counter", {"sched"});
    CHECK(h.call<"ran">() == std::vector<std::string>{tag});
    CHECK(h.call<"get">() == 1);
    CHECK(h.call<"wakes">() == 2);
    {
        raw_db db(dir.database());
        CHECK(db.count("SELECT count(*) FROM alarms") == 0);
    }
}

TEST_CASE("an alarm wakes a sleeping actor", "[file_system][schedule]") {
    temp_dir dir;
    // Virtual time: nothing falls due until the test moves the clock.
    auto clock = std::make_shared<rivetkit::virtual_clock>(rivetkit::make_system_clock()->now_ms());
    auto reg = open_registry(dir.data(), {.clock = clock});
    auto* host = dynamic_cast<rivetkit::local_host*>(&reg.core().manager());
    REQUIRE(host != nullptr);
    const std::string tag = "wake-" + dir.path().filename().string();
    auto h = reg.client().get_or_create(counter, "counter", {"sleepy"});
    h.call<"scheduleAt">(clock->now_ms() + 10'000, tag);
    h.call<"sleep">();
    REQUIRE(eventually([&] { return host->running_count() == 0; }));
    CHECK(signals().count(tag) == 0);

    clock->advance(std::chrono::milliseconds(10'000));
    // Fires what is due now (an alarm armed late would be due at once), without moving time,
    // so the woken actor's own sleep timer never falls due.
    REQUIRE(eventually([&] {
        clock->advance(std::chrono::milliseconds(0));
        return signals().count(tag) > 0;
    }));
    CHECK(h.call<"ran">() == std::vector<std::string>{tag});
    CHECK(h.call<"wakes">() == 2);
}

TEST_CASE("destroy deletes the actor's data, re-creating it starts fresh with a new generation",
          "[file_system][destroy]") {
    temp_dir dir;
    const auto id = rivetkit::file_system_actor_id("counter", {"doomed"});
    std::uint64_t first_generation = 0;
    {
        auto reg = open_registry(dir.data());
        auto h = reg.client().get_or_create(counter, "counter", {"doomed"});
        h.call<"increment">(9);
        h.call<"scheduleAt">(rivetkit::make_system_clock()->now_ms() + 3'600'000, "never");
        CHECK(h.call<"sqlAdd">(std::string("note")) == 1);
        CHECK(std::filesystem::exists(dir.data() / "databases" / (id + ".sqlite")));
        first_generation = record_of(reg, "counter", {"doomed"})->generation;

        reg.core().block_on(reg.core().manager().destroy_actor(id));
        CHECK_FALSE(record_of(reg, "counter", {"doomed"}).has_value());
        CHECK(list_of(reg, "counter").empty());
        raw_db db(dir.database());
        CHECK(db.count("SELECT count(*) FROM kv WHERE actor_id = '" + id + "'") == 0);
        CHECK(db.count("SELECT count(*) FROM alarms WHERE actor_id = '" + id + "'") == 0);
        CHECK_FALSE(std::filesystem::exists(dir.data() / "databases" / (id + ".sqlite")));
    }
    // Still gone after a restart; then re-created under the same id, fresh.
    auto reg = open_registry(dir.data());
    CHECK_FALSE(record_of(reg, "counter", {"doomed"}).has_value());
    auto h = reg.client().get_or_create(counter, "counter", {"doomed"});
    CHECK(h.call<"get">() == 0);
    CHECK(h.call<"wakes">() == 1);
    CHECK(h.call<"sqlCount">() == 0);
    auto rec = record_of(reg, "counter", {"doomed"});
    REQUIRE(rec);
    CHECK(rec->actor_id == id);
    CHECK(rec->generation > first_generation);
}

TEST_CASE("the per-actor SQL database lives in the data directory and survives a restart",
          "[file_system][sql]") {
    temp_dir dir;
    const auto id = rivetkit::file_system_actor_id("counter", {"notes"});
    {
        auto reg = open_registry(dir.data());
        auto h = reg.client().get_or_create(counter, "counter", {"notes"});
        CHECK(h.call<"sqlAdd">(std::string("one")) == 1);
        CHECK(h.call<"sqlAdd">(std::string("two")) == 2);
        h.call<"sleep">();
        CHECK(h.call<"sqlCount">() == 2);  // across sleep
    }
    CHECK(std::filesystem::exists(dir.data() / "databases" / (id + ".sqlite")));
    auto reg = open_registry(dir.data());
    CHECK(reg.client().get(counter, "counter", {"notes"}).call<"sqlCount">() == 2);
}
