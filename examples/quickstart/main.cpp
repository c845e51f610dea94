// The README's first actor, compiled so the README cannot drift from the API.

#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

struct counter_state { std::int64_t count = 0; };
RIVETKIT_FIELDS(counter_state, count)

inline const auto counter = rivetkit::actor<counter_state>()
    .action<"increment">([](auto& c, std::int64_t by) {
        c.state().count += by;                    // persisted; the reply waits for the commit
        c.broadcast("newCount", c.state().count); // to subscribed connections
        return c.state().count;
    })
    .action<"getCount">([](auto& c) { return std::as_const(c).state().count; });

int main() {
    auto registry = rivetkit::setup({{"counter", counter}}, {.driver = rivetkit::drivers::memory()});
    registry.start();
    auto h = registry.client().get_or_create(counter, "counter", {"my-key"});
    std::int64_t n = h.call<"increment">(5);      // checked at compile time: name, argument types
    registry.stop();
    return n == 5 ? 0 : 1;
}
