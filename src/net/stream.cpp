#include "net/stream.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdexcept>

#include <asio/ip/address.hpp>
#include <asio/ssl.hpp>
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

// ---- TLS ----------------------------------------------------------------------------------------

namespace rivetkit::net {

struct tls_client_context::impl {
    asio::ssl::context ctx{asio::ssl::context::tls_client};
    bool verify = true;
};

tls_client_context::tls_client_context(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
tls_client_context::~tls_client_context() = default;

std::shared_ptr<tls_client_context> tls_client_context::create(const tls_client_options& options) {
    auto i = std::make_unique<impl>();
    i->verify = options.verify_peer;
    i->ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
    std::error_code ec;
    i->ctx.set_default_verify_paths(ec);  // the system store; a missing one is not fatal
    if (!options.ca_file.empty()) {
        i->ctx.load_verify_file(options.ca_file, ec);
        if (ec) throw std::runtime_error("cannot load the CA file " + options.ca_file + ": " + ec.message());
    }
    i->ctx.set_verify_mode(options.verify_peer ? asio::ssl::verify_peer : asio::ssl::verify_none);
    return std::shared_ptr<tls_client_context>(new tls_client_context(std::move(i)));
}

namespace {

class tls_stream_impl final : public tls_stream {
public:
    tls_stream_impl(asio::ip::tcp::socket socket, std::shared_ptr<tls_client_context> context, std::string host)
        : context_(std::move(context)), stream_(std::move(socket), context_->get().ctx), host_(std::move(host)) {
        std::error_code ignored;
        stream_.lowest_layer().set_option(asio::ip::tcp::no_delay(true), ignored);
    }

    asio::any_io_executor get_executor() override { return stream_.get_executor(); }

    task<std::pair<std::error_code, std::string>> handshake() override {
        auto problem = prepare();
        if (!problem.empty()) {
            co_return std::pair<std::error_code, std::string>{std::make_error_code(std::errc::invalid_argument),
                                                              problem};
        }
        auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::client, as_result);
        std::string detail;
        if (ec) detail = describe_failure(ec);
        co_return std::pair<std::error_code, std::string>{ec, detail};
    }

    task<std::pair<std::error_code, std::size_t>> read_some(asio::mutable_buffer buf) override {
        auto [ec, n] = co_await stream_.async_read_some(buf, as_result);
        if (ec == asio::ssl::error::stream_truncated) ec = asio::error::eof;  // no close_notify
        co_return std::pair<std::error_code, std::size_t>{ec, n};
    }

    task<std::error_code> write(asio::const_buffer buf) override {
        auto [ec, n] = co_await asio::async_write(stream_, buf, as_result);
        (void)n;
        co_return ec;
    }

    void shutdown_send() noexcept override {
        std::error_code ignored;
        stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }

    void close() noexcept override {
        std::error_code ignored;
        stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        stream_.lowest_layer().close(ignored);
    }

private:
    /// SNI and the host check; a non-empty result is why they could not be set.
    std::string prepare() {
        SSL* ssl = stream_.native_handle();
        std::error_code ec;
        (void)asio::ip::make_address(host_, ec);
        if (ec) {
            // SNI only for names (RFC 6066: not for IP literals).
            if (SSL_set_tlsext_host_name(ssl, host_.c_str()) != 1) return "cannot set the TLS server name";
        }
        if (!context_->get().verify) return {};
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        if (!ec) {
            if (X509_VERIFY_PARAM_set1_ip_asc(param, host_.c_str()) != 1) return "cannot set the IP address to verify";
        } else {
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (X509_VERIFY_PARAM_set1_host(param, host_.c_str(), host_.size()) != 1) {
                return "cannot set the host name to verify";
            }
        }
        return {};
    }

    std::string describe_failure(const std::error_code& ec) {
        std::string out = ec.message();
        const long verify = SSL_get_verify_result(stream_.native_handle());
        if (verify != X509_V_OK) {
            out += ": ";
            out += X509_verify_cert_error_string(verify);
        }
        return out;
    }

    std::shared_ptr<tls_client_context> context_;
    asio::ssl::stream<asio::ip::tcp::socket> stream_;
    std::string host_;
};

}  // namespace

std::unique_ptr<tls_stream> make_tls_stream(asio::ip::tcp::socket socket, std::shared_ptr<tls_client_context> context,
                                             std::string host) {
    return std::make_unique<tls_stream_impl>(std::move(socket), std::move(context), std::move(host));
}

}  // namespace rivetkit::net
