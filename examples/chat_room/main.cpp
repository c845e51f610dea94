// A chat room: connection params and state, connection hooks, events, a coroutine action that
// calls another actor, and a user error. Runs a scripted session with two members and exits.

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include <rivetkit/drivers/memory.hpp>
#include <rivetkit/rivetkit.hpp>

namespace chat {

struct message {
    std::string from;
    std::string text;
};
RIVETKIT_FIELDS(message, from, text)

struct room_state {
    std::vector<message> history;
};
RIVETKIT_FIELDS(room_state, history)

struct join_params {  // what a client sends when connecting
    std::string username;
};
RIVETKIT_FIELDS(join_params, username)

struct member {  // per-connection state
    std::string username;
    std::int64_t sent = 0;
};
RIVETKIT_FIELDS(member, username, sent)

// A second actor: counts messages per room, called from the room with c.client().
struct stats_state {
    std::int64_t messages = 0;
};
RIVETKIT_FIELDS(stats_state, messages)

inline const auto stats = rivetkit::actor<stats_state>()
    .action<"record">([](auto& c) { return ++c.state().messages; })
    .action<"total">([](auto& c) { return std::as_const(c).state().messages; });

inline const auto room = rivetkit::actor<room_state, member, join_params>()
    .on_before_connect([](auto&, const join_params& p) {
        if (p.username.empty()) throw rivetkit::user_error("a username is required", "username_required");
    })
    .create_conn_state([](auto&, const join_params& p) { return member{p.username, 0}; })
    .on_connect([](auto& c, auto conn) { c.broadcast("joined", conn.state().username); })
    .on_disconnect([](auto& c, auto conn) { c.broadcast("left", conn.state().username); })
    .action<"send">([](auto& c, std::string text) -> rivetkit::task<std::int64_t> {
        auto conn = c.conn();
        conn.state().sent += 1;
        c.state().history.push_back({conn.state().username, text});
        c.broadcast("message", message{conn.state().username, text});
        // Another actor, in process; the room stays responsive while this call is in flight.
        auto stats_handle = c.client().get_or_create(stats, "stats", {"global"});
        auto recording = stats_handle.template async_call<"record">();
        co_return co_await std::move(recording);
    })
    .action<"history">([](auto& c) { return std::as_const(c).state().history; });

}  // namespace chat

int main() {
    auto registry = rivetkit::setup({{"room", chat::room}, {"stats", chat::stats}},
                                    {.driver = rivetkit::drivers::memory(), .threads = 2});
    registry.start();
    auto client = registry.client();

    std::mutex m;
    std::condition_variable cv;
    std::vector<std::string> seen;  // what bob's connection received
    auto note = [&](std::string line) {
        std::lock_guard lock(m);
        std::cout << "  bob sees: " << line << "\n";
        seen.push_back(std::move(line));
        cv.notify_all();
    };

    auto as = [&](std::string name) {
        return client.get_or_create(chat::room, "room", {"lobby"}, {.params = rivetkit::object{{"username", name}}});
    };

    auto bob = as("bob").connect();
    bob.on("joined", [&](const rivetkit::array& a) { note("joined " + a.at(0).as_string()); });
    bob.on("left", [&](const rivetkit::array& a) { note("left " + a.at(0).as_string()); });
    bob.on("message", [&](const rivetkit::array& a) {
        note(a.at(0)["from"].as_string() + ": " + a.at(0)["text"].as_string());
    });
    bob.wait_connected();

    auto alice = as("alice").connect();
    alice.wait_connected();
    auto total = alice.call<"send">(std::string("hello bob"));
    std::cout << "alice sent a message; messages recorded by the stats actor: " << total << "\n";
    alice.dispose();

    {
        std::unique_lock lock(m);
        if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return seen.size() >= 3; })) {
            std::cerr << "bob did not see the join, the message and the leave\n";
            return 1;
        }
    }

    try {
        auto nobody = as("").connect();
        nobody.wait_connected();
        std::cerr << "an empty username was accepted\n";
        return 1;
    } catch (const rivetkit::error& e) {
        std::cout << "connecting without a username fails: " << e.group() << "/" << e.code() << " (" << e.message()
                  << ")\n";
    }

    for (const auto& msg : bob.call<"history">()) std::cout << "history: " << msg.from << ": " << msg.text << "\n";
    bob.dispose();
    registry.stop();
    return 0;
}
