// Where the data lives: RIVETKIT_DATA_PATH, then file_system_options::path, then the
// reference's rule (XDG data home or ~/.local/share, rivetkit/<cwd name>-<hash>); a registry
// without a configured driver uses the file-system driver and logs its data directory.

#include <catch2/catch.hpp>

#include <rivetkit/ids.hpp>

#include "file_system/fs_test_support.hpp"

using namespace fs_test;
using rivetkit::drivers::file_system_data_path;

namespace {
std::string project_folder() {
    auto cwd = std::filesystem::current_path().lexically_normal().string();
    return std::filesystem::path(cwd).filename().string() + "-" + rivetkit::sha256_hex(cwd).substr(0, 8);
}
}  // namespace

TEST_CASE("the data path rule", "[file_system][data_path]") {
    env_guard no_env("RIVETKIT_DATA_PATH", std::nullopt);
    SECTION("the option") {
        CHECK(file_system_data_path({.path = "/srv/app-data"}) == "/srv/app-data");
    }
    SECTION("RIVETKIT_DATA_PATH overrides the option") {
        env_guard env("RIVETKIT_DATA_PATH", "/from/env");
        CHECK(file_system_data_path({.path = "/srv/app-data"}) == "/from/env");
        CHECK(file_system_data_path() == "/from/env");
    }
    SECTION("default: XDG_DATA_HOME") {
        env_guard xdg("XDG_DATA_HOME", "/xdg/data");
        CHECK(file_system_data_path() == std::filesystem::path("/xdg/data/rivetkit") / project_folder());
    }
    SECTION("default: ~/.local/share") {
        env_guard xdg("XDG_DATA_HOME", std::nullopt);
        env_guard home("HOME", "/home/someone");
        auto expected = std::filesystem::path("/home/someone/.local/share/rivetkit") / project_folder();
        CHECK(file_system_data_path() == expected);
    }
    SECTION("the folder name is the project folder and 8 hex digits of the hash of its path") {
        env_guard xdg("XDG_DATA_HOME", "/x");
        auto name = file_system_data_path().filename().string();
        auto dash = name.rfind('-');
        REQUIRE(dash != std::string::npos);
        CHECK(name.substr(0, dash) == std::filesystem::current_path().filename().string());
        CHECK(name.substr(dash + 1).size() == 8);
    }
}

TEST_CASE("a registry without a driver uses the file-system driver and logs its data directory",
          "[file_system][data_path]") {
    temp_dir dir;
    env_guard env("RIVETKIT_DATA_PATH", dir.data().string());
    log_capture logs(rivetkit::log_level::info);
    {
        rivetkit::registry reg({{"counter", counter}});
        CHECK(reg.core().driver_name() == "file-system");
        CHECK(reg.core().manager().display_name() == "File System");
        reg.start();
        CHECK(reg.client().get_or_create(counter, "counter", {"d"}).call<"increment">(4) == 4);
    }
    CHECK(std::filesystem::exists(dir.database()));
    CHECK(std::filesystem::exists(dir.data() / "rivetkit.lock"));
    auto line = logs.find({"level=INFO", "data=" + dir.data().string()});
    REQUIRE(line);
    CHECK_THAT(*line, Catch::Contains("durability=durable"));
}
