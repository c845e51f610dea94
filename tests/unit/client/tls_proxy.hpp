#pragma once
// Test-only TLS: a self-signed certificate made with OpenSSL's API (for 127.0.0.1 and
// localhost), and a TLS-terminating proxy that forwards each connection to a plain TCP port.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace client_test {

/// A self-signed certificate and its key, as PEM files in a fresh temporary directory.
struct self_signed_cert {
    std::filesystem::path dir;
    std::filesystem::path cert_file;
    std::filesystem::path key_file;

    self_signed_cert() {
        dir = std::filesystem::temp_directory_path() /
              ("rivetkit-client-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
        std::filesystem::create_directories(dir);
        cert_file = dir / "cert.pem";
        key_file = dir / "key.pem";

        std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
        if (!key) throw std::runtime_error("EVP_EC_gen failed");
        std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), &X509_free);
        X509_set_version(x.get(), 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
        X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x.get()), 24 * 3600);
        X509_set_pubkey(x.get(), key.get());
        X509_NAME* name = X509_get_subject_name(x.get());
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("rivetkit test"),
                                   -1, -1, 0);
        X509_set_issuer_name(x.get(), name);
        add_ext(x.get(), NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
        add_ext(x.get(), NID_basic_constraints, "critical,CA:TRUE");
        if (X509_sign(x.get(), key.get(), EVP_sha256()) == 0) throw std::runtime_error("X509_sign failed");

        write_pem(cert_file, [&](FILE* f) { return PEM_write_X509(f, x.get()); });
        write_pem(key_file, [&](FILE* f) {
            return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
        });
    }
    ~self_signed_cert() {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
    self_signed_cert(const self_signed_cert&) = delete;
    self_signed_cert& operator=(const self_signed_cert&) = delete;

private:
    static int& counter() {
        static int n = 0;
        return n;
    }
    static void add_ext(X509* x, int nid, const char* value) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        if (ext == nullptr) throw std::runtime_error("X509V3_EXT_conf_nid failed");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    template <class F>
    static void write_pem(const std::filesystem::path& p, F&& write) {
        FILE* f = std::fopen(p.c_str(), "w");
        if (f == nullptr) throw std::runtime_error("cannot write " + p.string());
        const int ok = write(f);
        std::fclose(f);
        if (ok != 1) throw std::runtime_error("PEM write failed");
    }
};

/// Accepts TLS on 127.0.0.1 at an ephemeral port and forwards the plain bytes to `backend_port`.
class tls_proxy {
public:
    tls_proxy(const self_signed_cert& cert, std::uint16_t backend_port)
        : ssl_(asio::ssl::context::tls_server), acceptor_(io_), backend_port_(backend_port) {
        ssl_.use_certificate_chain_file(cert.cert_file.string());
        ssl_.use_private_key_file(cert.key_file.string(), asio::ssl::context::pem);
        asio::ip::tcp::endpoint ep(asio::ip::address_v4::loopback(), 0);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port = acceptor_.local_endpoint().port();
        asio::co_spawn(io_, accept_loop(this), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~tls_proxy() {
        io_.stop();
        thread_.join();
    }
    tls_proxy(const tls_proxy&) = delete;
    tls_proxy& operator=(const tls_proxy&) = delete;

    std::uint16_t port = 0;
    /// TLS handshakes that failed (an untrusting client aborts its handshake), and succeeded.
    std::atomic<int> failed_handshakes{0};
    std::atomic<int> handshakes{0};

private:
    using tls_socket = asio::ssl::stream<asio::ip::tcp::socket>;
    static constexpr auto as_result = asio::experimental::as_tuple(asio::use_awaitable);

    static asio::awaitable<void> accept_loop(tls_proxy* self) {
        for (;;) {
            auto [ec, sock] = co_await self->acceptor_.async_accept(as_result);
            if (ec) co_return;
            auto tls = std::make_shared<tls_socket>(std::move(sock), self->ssl_);
            asio::co_spawn(self->io_, serve(self, tls), asio::detached);
        }
    }

    static asio::awaitable<void> serve(tls_proxy* self, std::shared_ptr<tls_socket> tls) {
        auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::server, as_result);
        if (hec) {
            ++self->failed_handshakes;
            co_return;
        }
        ++self->handshakes;
        auto backend = std::make_shared<asio::ip::tcp::socket>(self->io_);
        asio::ip::tcp::endpoint ep(asio::ip::address_v4::loopback(), self->backend_port_);
        auto [cec] = co_await backend->async_connect(ep, as_result);
        if (cec) co_return;
        asio::co_spawn(self->io_, tls_to_plain(tls, backend), asio::detached);
        asio::co_spawn(self->io_, plain_to_tls(tls, backend), asio::detached);
    }

    static asio::awaitable<void> tls_to_plain(std::shared_ptr<tls_socket> tls, std::shared_ptr<asio::ip::tcp::socket> b) {
        std::array<char, 16384> buf{};
        for (;;) {
            auto mb = asio::buffer(buf);
            auto [ec, n] = co_await tls->async_read_some(mb, as_result);
            if (ec) break;
            auto cb = asio::buffer(buf.data(), n);
            auto [wec, wn] = co_await asio::async_write(*b, cb, as_result);
            (void)wn;
            if (wec) break;
        }
        std::error_code ignored;
        b->shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }

    static asio::awaitable<void> plain_to_tls(std::shared_ptr<tls_socket> tls, std::shared_ptr<asio::ip::tcp::socket> b) {
        std::array<char, 16384> buf{};
        for (;;) {
            auto mb = asio::buffer(buf);
            auto [ec, n] = co_await b->async_read_some(mb, as_result);
            if (ec) break;
            auto cb = asio::buffer(buf.data(), n);
            auto [wec, wn] = co_await asio::async_write(*tls, cb, as_result);
            (void)wn;
            if (wec) break;
        }
        std::error_code ignored;
        tls->lowest_layer().close(ignored);
    }

    asio::ssl::context ssl_;  // outlives io_, whose destruction frees the sockets using it
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    std::uint16_t backend_port_;
    std::thread thread_;
};

}  // namespace client_test
