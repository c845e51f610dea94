#include "rivetkit/ids.hpp"

#include "common/json.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <cstring>
#include <stdexcept>

#include <pthread.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace rivetkit {

namespace {

constexpr std::string_view hex_digits = "0123456789abcdef";

// RAND_bytes rather than a seeded std::mt19937_64: the Mersenne Twister's output reveals its
// state, so ids that double as secrets (connection tokens) would become predictable. OpenSSL's
// DRBG is thread-safe, reseeds itself and survives fork(), and libcrypto is already linked.
void fill_random_direct(unsigned char* out, std::size_t n) {
    while (n > 0) {
        const int chunk = static_cast<int>(std::min<std::size_t>(n, std::numeric_limits<int>::max()));
        if (RAND_bytes(out, chunk) != 1) throw std::runtime_error("rivetkit: RAND_bytes failed");
        out += chunk;
        n -= static_cast<std::size_t>(chunk);
    }
}

// Every transient connection (one per HTTP action) takes a random id, and a RAND_bytes call
// costs about a microsecond plus a lock shared by all threads. Each thread therefore draws
// 4 KiB at a time and hands it out in order; every byte is still DRBG output used once. A
// forked child must not repeat its parent's bytes: a fork handler bumps a generation that makes
// every pool refill (getpid() per call would be a system call each time).
std::atomic<std::uint64_t> fork_generation{0};

void note_fork() noexcept { fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct random_pool {
    std::array<unsigned char, 4096> bytes{};
    std::size_t used = bytes.size();
    std::uint64_t generation = 0;
};

void fill_random(unsigned char* out, std::size_t n) {
    static const bool fork_handler = [] { return ::pthread_atfork(nullptr, nullptr, note_fork) == 0; }();
    thread_local random_pool pool;
    if (!fork_handler || n > pool.bytes.size() / 4) {
        fill_random_direct(out, n);
        return;
    }
    const std::uint64_t generation = fork_generation.load(std::memory_order_relaxed);
    if (pool.generation != generation) {
        pool.generation = generation;
        pool.used = pool.bytes.size();
    }
    if (pool.bytes.size() - pool.used < n) {
        fill_random_direct(pool.bytes.data(), pool.bytes.size());
        pool.used = 0;
    }
    std::memcpy(out, pool.bytes.data() + pool.used, n);
    // Handed out bytes are wiped from the pool.
    std::memset(pool.bytes.data() + pool.used, 0, n);
    pool.used += n;
}

void append_hex(std::string& out, unsigned char byte) {
    out += hex_digits[byte >> 4];
    out += hex_digits[byte & 0x0f];
}


}  // namespace

std::string random_uuid() {
    std::array<unsigned char, 16> b{};
    fill_random(b.data(), b.size());
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10xx (RFC 4122)

    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        append_hex(out, b[i]);
    }
    return out;
}

std::string random_alphanumeric(std::size_t n) {
    static constexpr std::string_view alphabet =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // Bytes >= 248 are rejected: 248 = 4 * 62, so the accepted bytes map evenly onto the alphabet.
    static constexpr unsigned limit = 256 - 256 % alphabet.size();

    std::string out;
    out.reserve(n);
    std::array<unsigned char, 64> pool{};
    while (out.size() < n) {
        // About 3% of bytes are rejected; ask for a little more than is missing.
        const std::size_t want = std::min(pool.size(), (n - out.size()) + (n - out.size()) / 16 + 1);
        fill_random(pool.data(), want);
        for (std::size_t i = 0; i < want && out.size() < n; ++i) {
            if (pool[i] < limit) out += alphabet[pool[i] % alphabet.size()];
        }
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    // The implementation is fetched once: EVP_sha256() makes OpenSSL 3 look it up (under a
    // lock) on every digest, which cost more than hashing an actor key.
    static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (sha256 == nullptr || EVP_Digest(data.data(), data.size(), digest.data(), &length, sha256, nullptr) != 1) {
        throw std::runtime_error("rivetkit: SHA-256 failed");
    }
    std::string out;
    out.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) append_hex(out, digest[i]);
    return out;
}

std::string file_system_actor_id(std::string_view name, const actor_key& key) {
    // JSON.stringify([name, key]) has no whitespace: ["name",["a","b"]] and ["name",[]].
    std::string json = "[";
    json::append_string(json, name);
    json += ",[";
    for (std::size_t i = 0; i < key.size(); ++i) {
        if (i != 0) json += ',';
        json::append_string(json, key[i]);
    }
    json += "]]";
    return sha256_hex(json).substr(0, 16);
}

}  // namespace rivetkit
