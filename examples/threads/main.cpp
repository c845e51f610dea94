// Io threads: each actor always runs on one io thread, and work spawned on that thread
// (registry.executor_for) calls it without crossing threads.
//
// The program starts a registry with two io threads, each with an io_context of its own (the
// default, rivetkit::io_contexts::one_per_thread), and eight counter actors. For each actor it
// spawns a coroutine on the actor's own io thread that increments it 10 000 times, then checks
// every count. docs/guide.md ("Registry and drivers") and docs/architecture.md ("Execution
// model") say more.

#include <cstdint>
#include <iostream>
#include <latch>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

namespace {

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

const auto counter = rivetkit::actor<counter_state>()
                         .action<"increment">([](auto& c, std::int64_t by) {
                             c.state().count += by;
                             return c.state().count;
                         })
                         .action<"get">([](auto& c) { return std::as_const(c).state().count; });

using counter_handle = rivetkit::typed_actor_handle<std::remove_cvref_t<decltype(counter)>>;

constexpr std::int64_t increments = 10'000;

// Runs on the actor's io thread: each co_await hands the call to the actor's strand on the same
// thread and resumes here with the reply.
rivetkit::task<void> drive(counter_handle h, std::latch& done) {
    for (std::int64_t i = 0; i < increments; ++i) {
        auto call = h.async_call<"increment">(std::int64_t{1});
        co_await std::move(call);
    }
    done.count_down();
}

}  // namespace

int main() {
    auto registry = rivetkit::setup({{"counter", counter}},
                                    {.driver = rivetkit::drivers::memory(),
                                     .threads = 2,
                                     .contexts = rivetkit::io_contexts::one_per_thread});
    registry.start();
    auto client = registry.client();

    std::vector<counter_handle> handles;
    std::latch done(8);
    for (int i = 0; i < 8; ++i) {
        handles.push_back(client.get_or_create(counter, "counter", {"room-" + std::to_string(i)}));
        const std::string id = handles.back().resolve();  // the actor's id picks its io thread
        asio::co_spawn(registry.executor_for(id), drive(handles.back(), done), asio::detached);
    }
    done.wait();

    bool ok = true;
    for (auto& h : handles) {
        const std::int64_t n = h.call<"get">();
        std::cout << "counter " << h.resolve() << ": " << n << "\n";
        ok = ok && n == increments;
    }
    registry.stop();
    std::cout << (ok ? "every counter reached " : "a counter missed ") << increments << "\n";
    return ok ? 0 : 1;
}
