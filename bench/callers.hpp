#pragma once
// Where the callers of the in-process benchmarks (inprocess_actions, durability) run, and which
// actors each calls.
//
// Caller w runs on the io thread of actor w % actors (registry::executor_for). With `near` it
// calls only the actors of its own thread, as a sharded application would (a caller next to its
// actors never crosses threads); with `anywhere` it calls every actor, so with 2 io threads half
// of its calls cross to the other thread and back.

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>

#include <rivetkit/registry.hpp>

namespace bench {

struct caller_plan {
    std::vector<asio::any_io_executor> home;           // per caller: where it runs
    std::vector<std::vector<std::size_t>> targets;     // per caller: the actors it calls, by index
};

/// `placement` is "near" or "anywhere" (anything else stops the program).
inline caller_plan plan_callers(rivetkit::registry& registry, const std::vector<std::string>& actor_ids,
                                std::size_t callers, const std::string& placement) {
    if (placement != "near" && placement != "anywhere") {
        std::fprintf(stderr, "--callers must be near or anywhere, not '%s'\n", placement.c_str());
        std::exit(2);
    }
    std::vector<asio::any_io_executor> actor_home;
    for (const auto& id : actor_ids) actor_home.push_back(registry.executor_for(id));
    caller_plan plan;
    for (std::size_t w = 0; w < callers; ++w) {
        const auto& home = actor_home[w % actor_home.size()];
        std::vector<std::size_t> mine;
        for (std::size_t i = 0; i < actor_home.size(); ++i) {
            if (placement == "anywhere" || actor_home[i] == home) mine.push_back(i);
        }
        plan.home.push_back(home);
        plan.targets.push_back(std::move(mine));
    }
    return plan;
}

}  // namespace bench
