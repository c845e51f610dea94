#include "net/stream.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace rivetkit::net {
namespace {

// Completion token: errors come back as values, never as exceptions. A named constant, so no
// temporary token appears inside a co_await expression (see the GCC 12 rule).
constexpr auto as_result = asio::experimental::as_tuple(asio::use_awaitable);

class tcp_stream final : public byte_stream {
public:
    explicit tcp_stream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
        std::error_code ignored;
        socket_.set_option(asio::ip::tcp::no_delay(true), ignored);  // frames are small and latency matters
        socket_.non_blocking(true, ignored);  // for try_write; asynchronous operations do not mind
    }

    asio::any_io_executor get_executor() override { return socket_.get_executor(); }

    task<std::pair<std::error_code, std::size_t>> read_some(asio::mutable_buffer buf) override {
        auto [ec, n] = co_await socket_.async_read_some(buf, as_result);
        co_return std::pair<std::error_code, std::size_t>{ec, n};
    }

    task<std::error_code> write(asio::const_buffer buf) override {
        auto [ec, n] = co_await asio::async_write(socket_, buf, as_result);
        (void)n;
        co_return ec;
    }

    std::size_t try_write(asio::const_buffer buf) noexcept override {
        if (!socket_.non_blocking()) return 0;
        std::error_code ec;
        const std::size_t n = socket_.write_some(buf, ec);
        return ec ? 0 : n;
    }

    void shutdown_send() noexcept override {
        std::error_code ignored;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }

    void close() noexcept override {
        std::error_code ignored;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

private:
    asio::ip::tcp::socket socket_;
};

}  // namespace

std::unique_ptr<byte_stream> make_tcp_stream(asio::ip::tcp::socket socket) {
    return std::make_unique<tcp_stream>(std::move(socket));
}

}  // namespace rivetkit::net
