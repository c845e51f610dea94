// A remote client's typed handle (rivetkit::create_client): an action the definition does not have.
#include "compile_check.hpp"

namespace compile_check {
std::int64_t use_remote() {
    auto client = rivetkit::create_client("http://127.0.0.1:6420");
    return client.get_or_create(counter, "counter", {"k"}).call<"incremnet">(5);
}
}  // namespace compile_check
