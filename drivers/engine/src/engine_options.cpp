#include "rivetkit/drivers/engine.hpp"

#include <cstdlib>
#include <stdexcept>

namespace rivetkit::drivers {

namespace {

bool starts_with_scheme(std::string_view url) {
    for (std::string_view scheme : {"http://", "https://", "ws://", "wss://"}) {
        if (url.size() > scheme.size() && url.substr(0, scheme.size()) == scheme) return true;
    }
    return false;
}

std::uint32_t parse_slots(const std::string& text) {
    if (text.empty() || text.size() > 10) {
        throw std::invalid_argument("RIVET_TOTAL_SLOTS must be an integer from 1 to 4294967295, got \"" + text + "\"");
    }
    std::uint64_t n = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            throw std::invalid_argument("RIVET_TOTAL_SLOTS must be an integer from 1 to 4294967295, got \"" + text +
                                        "\"");
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n == 0 || n > 0xffff'ffffULL) {
        throw std::invalid_argument("RIVET_TOTAL_SLOTS must be an integer from 1 to 4294967295, got \"" + text + "\"");
    }
    return static_cast<std::uint32_t>(n);
}

}  // namespace

engine_options engine_options::from_env() {
    return from_env([](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
    });
}

engine_options engine_options::from_env(const env_lookup& lookup) {
    auto get = [&](std::string_view name) -> std::optional<std::string> {
        auto v = lookup(name);
        if (v && v->empty()) return std::nullopt;
        return v;
    };
    engine_options o;
    if (auto v = get("RIVET_ENGINE")) {
        if (!starts_with_scheme(*v)) {
            throw std::invalid_argument("RIVET_ENGINE must be an http(s):// or ws(s):// URL, got \"" + *v + "\"");
        }
        o.endpoint = *v;
    } else if (auto e = get("RIVET_ENDPOINT")) {
        if (!starts_with_scheme(*e)) {
            throw std::invalid_argument("RIVET_ENDPOINT must be an http(s):// or ws(s):// URL, got \"" + *e + "\"");
        }
        o.endpoint = *e;
    }
    if (auto v = get("RIVET_NAMESPACE")) o.namespace_name = *v;
    if (auto v = get("RIVET_TOKEN")) o.token = *v;
    if (auto v = get("RIVET_RUNNER")) o.runner_name = *v;
    if (auto v = get("RIVET_RUNNER_KEY")) o.runner_key = *v;
    if (auto v = get("RIVET_TOTAL_SLOTS")) o.total_slots = parse_slots(*v);
    if (auto v = get("RIVET_RUNNER_KIND")) {
        if (*v == "serverless") {
            o.kind = runner_kind::serverless;
        } else if (*v == "normal") {
            o.kind = runner_kind::normal;
        } else {
            throw std::invalid_argument("RIVET_RUNNER_KIND must be \"normal\" or \"serverless\", got \"" + *v + "\"");
        }
    }
    return o;
}

}  // namespace rivetkit::drivers
