#pragma once
// The definition every compile check uses. Each check is the positive control (ok.cpp) with one
// mistake; rivetkit must reject the mistake at compile time with its own message.

#include <cstdint>
#include <string>

#include <rivetkit/actor.hpp>
#include <rivetkit/client.hpp>

namespace compile_check {

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

struct label {
    std::string text;
};
RIVETKIT_FIELDS(label, text)

inline const auto counter = rivetkit::actor<counter_state>()
                                .action<"increment">([](auto& c, std::int64_t by) { return c.state().count += by; })
                                .action<"rename">([](auto&, label l) { return l.text; })
                                .action<"getCount">([](auto& c) { return std::as_const(c).state().count; });

using counter_handle = rivetkit::typed_actor_handle<std::remove_cvref_t<decltype(counter)>>;

}  // namespace compile_check
