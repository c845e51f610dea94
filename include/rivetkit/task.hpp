#pragma once
// Coroutines: actions, hooks and client calls that suspend are Asio awaitables running on the
// actor's strand, so other work for the same actor interleaves only at `co_await` points.

#include <asio/awaitable.hpp>
#include <asio/any_io_executor.hpp>

namespace rivetkit {

/// The coroutine type of actions, hooks and asynchronous client calls.
template <class T = void>
using task = asio::awaitable<T>;

}  // namespace rivetkit
