// A remote client's typed connection: an argument of the wrong type (a string for an integer).
#include "compile_check.hpp"

namespace compile_check {
std::int64_t use_remote() {
    auto client = rivetkit::create_client("http://127.0.0.1:6420");
    auto conn = client.get_or_create(counter, "counter", {"k"}).connect();
    return conn.call<"increment">("five");
}
}  // namespace compile_check
