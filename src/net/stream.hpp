#pragma once
// A connected byte stream: what the WebSocket session (and later the HTTP client) reads and
// writes. TCP today; the client adds TLS behind the same interface.

#include <cstddef>
#include <memory>
#include <span>
#include <system_error>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

#include "rivetkit/task.hpp"

namespace rivetkit::net {

class byte_stream {
public:
    virtual ~byte_stream() = default;

    [[nodiscard]] virtual asio::any_io_executor get_executor() = 0;
    /// Reads at least one byte into `buf`. End of stream and failures come back as the error
    /// (asio::error::eof for an orderly end), never as an exception.
    virtual task<std::pair<std::error_code, std::size_t>> read_some(asio::mutable_buffer buf) = 0;
    /// Writes every byte of `buf`.
    virtual task<std::error_code> write(asio::const_buffer buf) = 0;
    /// Writes what the stream takes at once, without waiting, from the start of `buf`: the bytes
    /// written, 0 when it would have to wait, fails, or cannot write without waiting (then
    /// write() does it, and reports any failure). Never while a write() is in flight.
    virtual std::size_t try_write(asio::const_buffer buf) noexcept {
        (void)buf;
        return 0;
    }
    /// Half-closes the sending direction (after a WebSocket close frame, for example).
    virtual void shutdown_send() noexcept = 0;
    /// Closes at once; pending reads and writes complete with an error.
    virtual void close() noexcept = 0;
};

/// Wraps a connected TCP socket.
[[nodiscard]] std::unique_ptr<byte_stream> make_tcp_stream(asio::ip::tcp::socket socket);

}  // namespace rivetkit::net
