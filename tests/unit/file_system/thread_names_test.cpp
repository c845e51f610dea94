// The threads the registry and the file-system driver start carry names (top -H, gdb, perf).

#include <algorithm>
#include <future>
#include <set>

#include <asio/post.hpp>

#include "fs_test_support.hpp"
#include "thread_names.hpp"

using namespace fs_test;

TEST_CASE("file-system driver: the io threads and the database thread are named", "[file_system]") {
    temp_dir dir;
    auto reg = open_registry(dir.data());  // 2 io threads
    auto h = reg.client().get_or_create(counter, "counter", {"named"});
    // The database thread names itself before the driver's constructor returns.
    CHECK(h.call<"increment">(1) == 1);

    std::promise<std::string> on_io;
    asio::post(reg.core().executor(), [&on_io] { on_io.set_value(test_support::this_thread_name()); });
    const std::string io_name = on_io.get_future().get();
    CHECK((io_name == "rivetkit-io-0" || io_name == "rivetkit-io-1"));

    const auto names = test_support::thread_names();
    CHECK(std::count(names.begin(), names.end(), "rivetkit-sqlite") == 1);
    std::set<std::string> io_threads;
    for (const auto& n : names) {
        if (n.rfind("rivetkit-io-", 0) == 0) io_threads.insert(n);
    }
    CHECK(io_threads.count(io_name) == 1);
    // Each io thread names itself as it starts: at most the two this registry has.
    CHECK(std::all_of(io_threads.begin(), io_threads.end(),
                      [](const std::string& n) { return n == "rivetkit-io-0" || n == "rivetkit-io-1"; }));
    reg.stop();
}
