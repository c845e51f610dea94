// Consumer smoke test: builds against rivetkit like a user program and exits 0 only if a value
// made with to_value converts back to what it came from.
#include <rivetkit/convert.hpp>
#include <rivetkit/value.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

using sample = std::map<std::string, std::vector<std::optional<std::int64_t>>>;

int check() {
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

}  // namespace

int main() {
    try {
        return check();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exception: %s\n", e.what());
        return 1;
    }
}
