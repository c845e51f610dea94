#pragma once
// A connected byte stream: what the WebSocket session and the HTTP client read and write. TCP,
// or TLS (client side, OpenSSL) over TCP, behind the same interface.

#include <cstddef>
#include <memory>
#include <span>
#include <string>
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

// --- TLS (client side) ------------------------------------------------------------------------

struct tls_client_options {
    /// Verify the server's certificate chain and its host name (or IP address).
    bool verify_peer = true;
    /// A PEM file of CA certificates trusted besides the system store; empty: none.
    std::string ca_file;
};

/// Shared TLS client settings (an OpenSSL SSL_CTX with the system trust store loaded).
class tls_client_context {
public:
    /// Throws std::runtime_error when `ca_file` cannot be loaded.
    [[nodiscard]] static std::shared_ptr<tls_client_context> create(const tls_client_options& options);
    ~tls_client_context();
    tls_client_context(const tls_client_context&) = delete;
    tls_client_context& operator=(const tls_client_context&) = delete;

    struct impl;
    [[nodiscard]] impl& get() noexcept { return *impl_; }

private:
    explicit tls_client_context(std::unique_ptr<impl> i);
    std::unique_ptr<impl> impl_;
};

/// A TLS client stream over a connected TCP socket; usable once handshake() succeeded.
class tls_stream : public byte_stream {
public:
    /// The TLS handshake: SNI with the host name, and (when verifying) the chain and the host
    /// name or IP address checked. On failure the error describes why (e.g. "certificate verify
    /// failed: self-signed certificate").
    virtual task<std::pair<std::error_code, std::string>> handshake() = 0;
};

/// `host` is what the certificate must name (a DNS name or an IP address literal).
[[nodiscard]] std::unique_ptr<tls_stream> make_tls_stream(asio::ip::tcp::socket socket,
                                                          std::shared_ptr<tls_client_context> context,
                                                          std::string host);

}  // namespace rivetkit::net
