#include <catch2/catch.hpp>

#include <set>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include "rivetkit/ids.hpp"

using rivetkit::file_system_actor_id;

namespace {
bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
}  // namespace

TEST_CASE("random_uuid is a lowercase RFC 4122 version 4 uuid", "[ids]") {
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) {
        const std::string id = rivetkit::random_uuid();
        REQUIRE(id.size() == 36);
        for (std::size_t j = 0; j < id.size(); ++j) {
            if (j == 8 || j == 13 || j == 18 || j == 23)
                REQUIRE(id[j] == '-');
            else
                REQUIRE(is_lower_hex(id[j]));
        }
        REQUIRE(id[14] == '4');                                                   // version
        REQUIRE((id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b'));  // variant
        seen.insert(id);
    }
    CHECK(seen.size() == 10000);
}

TEST_CASE("random ids: a forked child never repeats its parent's", "[ids]") {
    // Ids come from a per-thread pool of random bytes; the pool must not be shared with a child.
    (void)rivetkit::random_uuid();  // the pool is filled now
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const std::string id = rivetkit::random_uuid();
        const auto written = ::write(fds[1], id.data(), id.size());
        ::_exit(written == static_cast<ssize_t>(id.size()) ? 0 : 1);
    }
    ::close(fds[1]);
    const std::string mine = rivetkit::random_uuid();
    std::string theirs(36, '\0');
    std::size_t got = 0;
    while (got < theirs.size()) {
        const auto n = ::read(fds[0], theirs.data() + got, theirs.size() - got);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(got == theirs.size());
    CHECK(theirs != mine);
}

TEST_CASE("random_alphanumeric", "[ids]") {
    CHECK(rivetkit::random_alphanumeric(0).empty());
    for (std::size_t n : {1u, 16u, 63u, 64u, 65u, 1000u}) {
        const std::string s = rivetkit::random_alphanumeric(n);
        REQUIRE(s.size() == n);
        for (char c : s) {
            REQUIRE(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')));
        }
    }
    // Every character of the alphabet shows up in a long enough string.
    const std::string long_one = rivetkit::random_alphanumeric(20000);
    CHECK(std::set<char>(long_one.begin(), long_one.end()).size() == 62);
    CHECK(rivetkit::random_alphanumeric(32) != rivetkit::random_alphanumeric(32));
}

TEST_CASE("sha256_hex", "[ids]") {
    // FIPS 180-2 test vectors.
    CHECK(rivetkit::sha256_hex("abc") ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(rivetkit::sha256_hex("") ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(rivetkit::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// Expected ids were produced with Node v20:
//   node -e 'const c=require("crypto");
//            console.log(c.createHash("sha256").update(JSON.stringify([name, key]))
//                         .digest("hex").substring(0, 16))'
// which is what the reference file-system driver does (generateActorId).
TEST_CASE("file_system_actor_id matches the JS driver", "[ids]") {
    CHECK(file_system_actor_id("counter", {}) == "76dea91135f9a6b0");
    CHECK(file_system_actor_id("counter", {"default"}) == "0789d57a255c4a9f");
    CHECK(file_system_actor_id("chatRoom", {"a", "b"}) == "36b28a9790859038");
    CHECK(file_system_actor_id("x", {""}) == "5918cff51ed06d4a");
    // The HTTP path wraps the serialised key as one part (runtime-semantics §3).
    CHECK(file_system_actor_id("counter", {"a/b"}) == "62558b332d622c0e");
    CHECK(file_system_actor_id("counter", {"/"}) == "9c3c9e2fb6217170");
    // Every JSON.stringify escape: \" \\ \t \n \b \f \r, \u00xx, and DEL / U+2028 unescaped.
    CHECK(file_system_actor_id("we\"ird\\name", {"tab\there", "nl\nline", "\x01" "ctrl\x1f",
                                                 "\b\f\r", "\x7f", "\u2028"}) ==
          "0032573603ab83b2");
    // Non-ASCII passes through as UTF-8.
    CHECK(file_system_actor_id("ünïcødé", {"🎉 party", "日本語"}) == "c7febdf3f63e4d99");
    // NUL and vertical tab have no short escape: \u0000, \u000b.
    CHECK(file_system_actor_id("nul", {std::string("a\0b\vc", 5)}) == "f794d08aa1a62d52");
}

TEST_CASE("file_system_actor_id is deterministic and 16 hex chars", "[ids]") {
    const std::string a = file_system_actor_id("room", {"one"});
    CHECK(a == file_system_actor_id("room", {"one"}));
    CHECK(a != file_system_actor_id("room", {"two"}));
    CHECK(a.size() == 16);
    // [] and [""] are different keys.
    CHECK(file_system_actor_id("room", {}) != file_system_actor_id("room", {""}));
}
