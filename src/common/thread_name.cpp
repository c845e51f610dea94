#include "rivetkit/detail/thread_name.hpp"

#include <cstring>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace rivetkit::detail {

void name_this_thread(const char* name) noexcept {
#if defined(__linux__)
    char cut[16] = {};  // pthread_setname_np refuses names over 15 characters
    std::memcpy(cut, name, ::strnlen(name, sizeof cut - 1));
    (void)pthread_setname_np(pthread_self(), cut);
#else
    (void)name;
#endif
}

}  // namespace rivetkit::detail
