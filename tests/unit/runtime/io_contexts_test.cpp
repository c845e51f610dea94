// How the io threads share the actors (registry_config::contexts): with one io_context per
// thread each actor keeps one thread for its whole life, registry::executor_for names it, and a
// registry tears down cleanly with handlers of one context holding strands of another.

#include <catch2/catch.hpp>

#include <cstdint>
#include <future>
#include <set>
#include <string>
#include <vector>

#include <asio/post.hpp>
#include <asio/strand.hpp>

#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

#include "thread_names.hpp"

namespace {

struct where_state {
    std::int64_t wakes = 0;
};
RIVETKIT_FIELDS(where_state, wakes)

struct where_reply {
    std::string thread;
    std::int64_t wakes = 0;
};
RIVETKIT_FIELDS(where_reply, thread, wakes)

const auto where = rivetkit::actor<where_state>()
                       .on_wake([](auto& c) { ++c.state().wakes; })
                       .action<"where">([](auto& c) {
                           return where_reply{test_support::this_thread_name(), c.state().wakes};
                       })
                       .action<"sleep">([](auto& c) { c.sleep(); });

rivetkit::registry open(rivetkit::io_contexts contexts) {
    rivetkit::registry_config cfg;
    cfg.driver = rivetkit::drivers::memory();
    cfg.threads = 2;
    cfg.contexts = contexts;
    return rivetkit::setup({{"where", where}}, cfg);
}

// The name of the thread a handler posted to `ex` runs on.
std::string thread_of(const asio::any_io_executor& ex) {
    std::promise<std::string> name;
    asio::post(ex, [&name] { name.set_value(test_support::this_thread_name()); });
    return name.get_future().get();
}

}  // namespace

TEST_CASE("io contexts: one per thread spreads the actors, each on the thread executor_for names",
          "[runtime][threads]") {
    auto reg = open(rivetkit::io_contexts::one_per_thread);
    reg.start();
    auto client = reg.client();
    std::set<std::string> used;
    // 24 actors with random ids: all on one of two threads has odds of 2 in 16 million.
    for (int i = 0; i < 24; ++i) {
        auto h = client.get_or_create(where, "where", {"spread-" + std::to_string(i)});
        const std::string home = thread_of(reg.executor_for(h.resolve()));
        for (int call = 0; call < 5; ++call) CHECK(h.call<"where">().thread == home);
        used.insert(home);
    }
    CHECK(used == std::set<std::string>{"rivetkit-io-0", "rivetkit-io-1"});
    reg.stop();
}

TEST_CASE("io contexts: an actor wakes on the thread it slept on", "[runtime][threads]") {
    auto reg = open(rivetkit::io_contexts::one_per_thread);
    reg.start();
    auto h = reg.client().get_or_create(where, "where", {"sleeper"});
    const std::string home = thread_of(reg.executor_for(h.resolve()));
    auto first = h.call<"where">();
    CHECK(first.thread == home);
    CHECK(first.wakes == 1);
    for (int round = 2; round <= 4; ++round) {
        h.call<"sleep">();
        // The actor sleeps after the reply; a call that reaches it before then is answered by the
        // old instance, a later one wakes a new instance (which counts one more wake).
        where_reply r;
        do {
            r = h.call<"where">();
            CHECK(r.thread == home);
        } while (r.wakes < round);
        CHECK(r.wakes == round);
    }
    reg.stop();
}

TEST_CASE("io contexts: shared runs every actor on one io_context", "[runtime][threads]") {
    auto reg = open(rivetkit::io_contexts::shared);
    reg.start();
    auto client = reg.client();
    for (int i = 0; i < 8; ++i) {
        auto h = client.get_or_create(where, "where", {"shared-" + std::to_string(i)});
        CHECK(reg.executor_for(h.resolve()) == reg.executor());
        const std::string t = h.call<"where">().thread;
        CHECK((t == "rivetkit-io-0" || t == "rivetkit-io-1"));
    }
    reg.stop();
}

TEST_CASE("io contexts: a registry goes with a handler of one context holding another's strand",
          "[runtime][threads]") {
    // Never started: the handler stays queued until the registry is destroyed. Dropping it then
    // releases a strand of the second context, which must still be there (ASan checks).
    auto reg = open(rivetkit::io_contexts::one_per_thread);
    std::string other;
    for (int i = 0; other.empty(); ++i) {
        const std::string id = "id-" + std::to_string(i);
        if (reg.executor_for(id) != reg.executor()) other = id;
    }
    auto strand = asio::make_strand(reg.executor_for(other));
    asio::post(reg.executor(), [strand] { FAIL("never runs"); });
    strand = asio::make_strand(reg.executor());  // the queued handler holds the last reference
}
