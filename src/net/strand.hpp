#pragma once
// Strands that stay small inside any_io_executor.

#include <typeinfo>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

namespace rivetkit::net {

/// `ex`'s target when it is exactly a `T`, else null. any_io_executor::target<T>() cannot be used
/// for this: in Asio 1.22 (Debian 12) it casts whatever the target is to `T` without checking.
template <typename T>
const T* target_as(const asio::any_io_executor& ex) noexcept {
    if (!ex || ex.target_type() != typeid(T)) return nullptr;
    return ex.target<T>();
}

/// A new strand over `ex`. On an io_context it is a strand of the io_context's own executor (24
/// bytes, inside any_io_executor's inline storage); a strand of a type-erased executor is 72
/// bytes, so every copy of it (each post, each step of a coroutine, each `prefer`) would be a heap
/// allocation. Other executors get the type-erased strand.
inline asio::any_io_executor compact_strand(const asio::any_io_executor& ex) {
    if (const auto* io = target_as<asio::io_context::executor_type>(ex)) return asio::make_strand(*io);
    return asio::make_strand(ex);
}

/// `ex` itself when it already is a strand of an io_context (it serialises as it is), else
/// compact_strand(ex).
inline asio::any_io_executor serialising(const asio::any_io_executor& ex) {
    if (target_as<asio::strand<asio::io_context::executor_type>>(ex) != nullptr) return ex;
    return compact_strand(ex);
}

}  // namespace rivetkit::net
