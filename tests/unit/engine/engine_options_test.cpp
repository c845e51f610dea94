// engine_options: defaults and the RIVET_* environment variables (engine-protocol.md §2.2).

#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>
#include <string>

#include "rivetkit/drivers/engine.hpp"
#include "runner_connection.hpp"

using rivetkit::drivers::engine_options;
using rivetkit::drivers::runner_kind;

namespace {

engine_options from(std::map<std::string, std::string> env) {
    return engine_options::from_env([env](std::string_view name) -> std::optional<std::string> {
        auto it = env.find(std::string(name));
        if (it == env.end()) return std::nullopt;
        return it->second;
    });
}

}  // namespace

TEST_CASE("engine_options: defaults", "[engine][options]") {
    const auto o = from({});
    CHECK(o.endpoint == "http://127.0.0.1:6420");
    CHECK(o.namespace_name == "default");
    CHECK(o.token.empty());
    CHECK(o.runner_name == "default");
    CHECK(o.runner_key.empty());
    CHECK(o.total_slots == 100000);
    CHECK(o.kind == runner_kind::normal);
    CHECK(o.runner_version == 1);
}

TEST_CASE("engine_options: the environment overrides the defaults", "[engine][options]") {
    const auto o = from({{"RIVET_ENGINE", "https://engine.example:7000/base"},
                         {"RIVET_ENDPOINT", "http://ignored"},
                         {"RIVET_NAMESPACE", "ns"},
                         {"RIVET_TOKEN", "tok"},
                         {"RIVET_RUNNER", "pool"},
                         {"RIVET_RUNNER_KEY", "key-1"},
                         {"RIVET_TOTAL_SLOTS", "4294967295"},
                         {"RIVET_RUNNER_KIND", "serverless"}});
    CHECK(o.endpoint == "https://engine.example:7000/base");
    CHECK(o.namespace_name == "ns");
    CHECK(o.token == "tok");
    CHECK(o.runner_name == "pool");
    CHECK(o.runner_key == "key-1");
    CHECK(o.total_slots == 4294967295u);
    CHECK(o.kind == runner_kind::serverless);

    CHECK(from({{"RIVET_ENDPOINT", "ws://e:1"}}).endpoint == "ws://e:1");
    CHECK(from({{"RIVET_ENGINE", ""}, {"RIVET_ENDPOINT", "ws://e:1"}}).endpoint == "ws://e:1");  // empty = unset
    CHECK(from({{"RIVET_RUNNER_KIND", "normal"}}).kind == runner_kind::normal);
}

TEST_CASE("engine_options: invalid values throw, naming the variable", "[engine][options]") {
    CHECK_THROWS_WITH(from({{"RIVET_TOTAL_SLOTS", "0"}}), Catch::Contains("RIVET_TOTAL_SLOTS"));
    CHECK_THROWS_WITH(from({{"RIVET_TOTAL_SLOTS", "12x"}}), Catch::Contains("RIVET_TOTAL_SLOTS"));
    CHECK_THROWS_WITH(from({{"RIVET_TOTAL_SLOTS", "-1"}}), Catch::Contains("RIVET_TOTAL_SLOTS"));
    CHECK_THROWS_WITH(from({{"RIVET_TOTAL_SLOTS", "4294967296"}}), Catch::Contains("RIVET_TOTAL_SLOTS"));
    CHECK_THROWS_WITH(from({{"RIVET_RUNNER_KIND", "Serverless"}}), Catch::Contains("RIVET_RUNNER_KIND"));
    CHECK_THROWS_WITH(from({{"RIVET_ENGINE", "127.0.0.1:6420"}}), Catch::Contains("RIVET_ENGINE"));
    CHECK_THROWS_WITH(from({{"RIVET_ENDPOINT", "ftp://x"}}), Catch::Contains("RIVET_ENDPOINT"));
    CHECK_THROWS_AS(from({{"RIVET_TOTAL_SLOTS", ""}, {"RIVET_RUNNER_KIND", "x"}}), std::invalid_argument);
}

TEST_CASE("engine_options: the runner connection's settings", "[engine][options]") {
    auto o = from({{"RIVET_ENGINE", "http://e:1"}, {"RIVET_NAMESPACE", "ns"}, {"RIVET_TOKEN", "t"},
                   {"RIVET_RUNNER", "pool"}, {"RIVET_TOTAL_SLOTS", "9"}});
    const auto c = rivetkit::engine::connection_options_from(o);
    CHECK(c.endpoint == "http://e:1");
    CHECK(c.namespace_name == "ns");
    CHECK(c.token == "t");
    CHECK(c.runner_name == "pool");
    CHECK(c.total_slots == 9);
    CHECK(c.version == 1);
    // No key: a fresh UUID per call (per driver).
    CHECK(c.runner_key.size() == 36);
    CHECK(rivetkit::engine::connection_options_from(o).runner_key != c.runner_key);
    o.runner_key = "mine";
    CHECK(rivetkit::engine::connection_options_from(o).runner_key == "mine");
}
