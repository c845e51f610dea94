#pragma once
// Strands that stay small inside any_io_executor.

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

namespace rivetkit::net {

/// A new strand over `ex`. On an io_context it is a strand of the io_context's own executor (24
/// bytes, inside any_io_executor's inline storage); a strand of a type-erased executor is 72
/// bytes, so every copy of it (each post, each step of a coroutine, each `prefer`) would be a heap
/// allocation. Other executors get the type-erased strand.
inline asio::any_io_executor compact_strand(const asio::any_io_executor& ex) {
    if (const auto* io = ex.target<asio::io_context::executor_type>()) return asio::make_strand(*io);
    return asio::make_strand(ex);
}

/// `ex` itself when it already is a strand of an io_context (it serialises as it is), else
/// compact_strand(ex).
inline asio::any_io_executor serialising(const asio::any_io_executor& ex) {
    if (ex.target<asio::strand<asio::io_context::executor_type>>() != nullptr) return ex;
    return compact_strand(ex);
}

}  // namespace rivetkit::net
