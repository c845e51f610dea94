#pragma once
// The names of this process's threads, as the kernel reports them (Linux: /proc/self/task).

#include <pthread.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace test_support {

/// Every thread's name (`comm`), one entry per thread.
inline std::vector<std::string> thread_names() {
    std::vector<std::string> out;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string name;
        if (std::getline(comm, name)) out.push_back(name);
    }
    return out;
}

/// The calling thread's name.
inline std::string this_thread_name() {
    char buf[16] = {};
    if (pthread_getname_np(pthread_self(), buf, sizeof buf) != 0) return {};
    return buf;
}

}  // namespace test_support
