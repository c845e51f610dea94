// Consumer smoke test: builds against rivetkit like a user program and exits 0 only if a value
// made with to_value converts back to what it came from, and a registry on the default driver
// (the file-system driver, linked through rivetkit::rivetkit) keeps a counter across a restart.
#include <rivetkit/convert.hpp>
#include <rivetkit/rivetkit.hpp>
#include <rivetkit/value.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <stdlib.h>

namespace {

using sample = std::map<std::string, std::vector<std::optional<std::int64_t>>>;

int check_values() {
    const sample in{{"counts", {1, -2, std::nullopt, 9'007'199'254'740'993}}, {"empty", {}}};
    const rivetkit::value v = rivetkit::to_value(in);
    if (!v.is_object() || v.size() != 2 || v["counts"].at(1).as_int() != -2) {
        std::fprintf(stderr, "unexpected value: %s\n", v.to_debug_string().c_str());
        return 1;
    }
    const auto out = rivetkit::from_value<sample>(v);
    if (out != in) {
        std::fprintf(stderr, "round trip changed the value: %s\n", v.to_debug_string().c_str());
        return 1;
    }
    std::printf("ok %s\n", v.to_debug_string().c_str());
    return 0;
}

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

const auto counter = rivetkit::actor<counter_state>().action<"increment">(
    [](auto& c, std::int64_t by) { return c.state().count += by; });

std::int64_t increment_once() {
    rivetkit::registry reg({{"counter", counter}}, {.threads = 1});  // no driver: the default
    reg.start();
    return reg.client().get_or_create(counter, "counter", {"consumer"}).call<"increment">(2);
}

int check_default_driver() {
    char tmpl[] = "/tmp/rivetkit-consumer-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 1;
    const std::filesystem::path dir(tmpl);
    ::setenv("RIVETKIT_DATA_PATH", (dir / "data").c_str(), 1);
    const std::int64_t first = increment_once();
    const std::int64_t second = increment_once();
    std::filesystem::remove_all(dir);
    if (first != 2 || second != 4) {
        std::fprintf(stderr, "default driver: got %lld then %lld, expected 2 then 4\n", static_cast<long long>(first),
                     static_cast<long long>(second));
        return 1;
    }
    std::printf("ok default driver\n");
    return 0;
}

}  // namespace

int main() {
    try {
        return check_values() != 0 ? 1 : check_default_driver();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exception: %s\n", e.what());
        return 1;
    }
}
