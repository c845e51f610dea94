#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "rivetkit/key.hpp"

using rivetkit::actor_key;
using rivetkit::deserialize_key;
using rivetkit::serialize_key;

TEST_CASE("serialize_key matches the reference examples", "[key]") {
    CHECK(serialize_key({}) == "/");
    CHECK(serialize_key({"a", "b"}) == "a/b");
    CHECK(serialize_key({"x/y"}) == "x\\/y");
    CHECK(serialize_key({"a\\b"}) == "a\\\\b");
    CHECK(serialize_key({""}) == "\\0");
    CHECK(serialize_key({"c", "x/y", ""}) == "c/x\\/y/\\0");  // observed on the wire
    CHECK(serialize_key({"default"}) == "default");
    CHECK(serialize_key({"0"}) == "0");
    CHECK(serialize_key({"", ""}) == "\\0/\\0");
    CHECK(serialize_key({"/"}) == "\\/");
    CHECK(serialize_key({"\\0"}) == "\\\\0");  // a literal backslash-zero is not the marker
}

TEST_CASE("deserialize_key matches the reference examples", "[key]") {
    CHECK(deserialize_key("/") == actor_key{});
    CHECK(deserialize_key("") == actor_key{});
    CHECK(deserialize_key("a/b") == actor_key{"a", "b"});
    CHECK(deserialize_key("x\\/y") == actor_key{"x/y"});
    CHECK(deserialize_key("a\\\\b") == actor_key{"a\\b"});
    CHECK(deserialize_key("\\0") == actor_key{""});
    CHECK(deserialize_key("c/x\\/y/\\0") == actor_key{"c", "x/y", ""});
    CHECK(deserialize_key("\\0/\\0") == actor_key{"", ""});
    CHECK(deserialize_key("\\\\0") == actor_key{"\\0"});
}

TEST_CASE("deserialize_key handles input serialize_key never produces", "[key]") {
    // A dangling backslash is a literal backslash on the last part.
    CHECK(deserialize_key("a\\") == actor_key{"a\\"});
    CHECK(deserialize_key("\\") == actor_key{"\\"});
    CHECK(deserialize_key("a/\\") == actor_key{"a", "\\"});
    // ...and it wins over a pending empty-part marker, as in JS.
    CHECK(deserialize_key("x\\0\\") == actor_key{"x\\"});
    // Any other escaped character stands for itself.
    CHECK(deserialize_key("\\a\\b") == actor_key{"ab"});
    // The empty marker wins over the rest of its part.
    CHECK(deserialize_key("ab\\0cd/e") == actor_key{"", "e"});
    CHECK(deserialize_key("ab\\0cd") == actor_key{""});
    // Unescaped separators: empty parts appear between and after them, but not from "" alone.
    CHECK(deserialize_key("a/") == actor_key{"a", ""});
    CHECK(deserialize_key("/a") == actor_key{"", "a"});
    CHECK(deserialize_key("//") == actor_key{"", "", ""});
    CHECK(deserialize_key("a//b") == actor_key{"a", "", "b"});
}

TEST_CASE("random keys round-trip through serialize/deserialize", "[key][property]") {
    // Fixed seed: a failure must be reproducible.
    std::mt19937 rng(20240601);
    const std::string alphabet[] = {"/", "\\", "0", "a", "Z", " ", "\\0", "ü", "🎉", "日", "-", "\n"};
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };

    for (int iteration = 0; iteration < 5000; ++iteration) {
        actor_key key(pick(5));
        for (std::string& part : key) {
            const std::size_t length = pick(4) == 0 ? 0 : pick(8);  // plenty of empty parts
            for (std::size_t i = 0; i < length; ++i) part += alphabet[pick(std::size(alphabet))];
        }
        const std::string text = serialize_key(key);
        INFO("serialized: " << text);
        REQUIRE(deserialize_key(text) == key);
    }
}
