// Group commit: writes queued while a batch runs share one transaction, so many actors' durable
// writes cost a few commits, not one each.

#include <catch2/catch.hpp>

#include <atomic>

#include <asio/co_spawn.hpp>

#include "file_system/fs_test_support.hpp"

using namespace fs_test;

TEST_CASE("concurrent writes of many actors are committed in fewer transactions than writes",
          "[file_system][group_commit]") {
    constexpr int actors = 50;
    temp_dir dir;
    auto reg = open_registry(dir.data());
    auto client = reg.client();
    // Connections: a call on one goes straight to the actor (a call on a handle first looks the
    // actor up, a read), so each call below costs exactly one write.
    using connection = rivetkit::typed_actor_connection<std::remove_cvref_t<decltype(counter)>>;
    std::vector<connection> conns;
    for (int i = 0; i < actors; ++i) {
        conns.push_back(client.get_or_create(counter, "counter", {"gc-" + std::to_string(i)}).connect());
        conns.back().call<"increment">(1);
    }
    REQUIRE(eventually([&] { return stats_of(reg).pending == 0; }));

    // Hold SQLite's write lock from another connection: the batch that finds it held goes to the
    // database thread, which waits on it, while the io threads go on and every actor's write
    // queues up behind (an io thread that waited for the lock could not queue the others).
    raw_db blocker(dir.database());
    blocker.exec("BEGIN IMMEDIATE");
    const auto before = stats_of(reg);

    std::atomic<int> done{0};
    std::atomic<int> failed{0};
    for (auto& c : conns) {
        auto call = c.async_call<"increment">(1);
        asio::co_spawn(reg.core().executor(), std::move(call), [&](std::exception_ptr e, std::int64_t) {
            if (e) ++failed;
            ++done;
        });
    }
    REQUIRE(eventually([&] { return stats_of(reg).pending >= static_cast<std::uint64_t>(actors); }));
    CHECK(done == 0);  // nothing is acknowledged before it is committed
    blocker.exec("COMMIT");

    REQUIRE(eventually([&] { return done == actors; }));
    CHECK(failed == 0);
    const auto after = stats_of(reg);
    INFO("transactions " << before.transactions << " -> " << after.transactions << ", writes " << before.writes
                         << " -> " << after.writes);
    CHECK(after.writes - before.writes == static_cast<std::uint64_t>(actors));
    // The batch the thread had already taken, then everything else together.
    CHECK(after.transactions - before.transactions <= 2);
    for (auto& c : conns) CHECK(c.call<"get">() == 2);
    for (auto& c : conns) c.dispose();
}
