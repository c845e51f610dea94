// The ceiling: the least an HTTP server on Asio + llhttp can do per request. It parses each
// request with llhttp and answers every one with a fixed `200 OK` (keep-alive, pipelining kept
// in order), on one thread. bench/run.sh drives it with the same HTTP generator as the action
// benchmark, to show how close the action path comes to what this machine can do.
//
//   PORT=0 ceiling_server     prints "listening on <port>"; stops on SIGINT/SIGTERM

#include <llhttp.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/write.hpp>

namespace {

constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"output\":\"ok\"}";

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(asio::ip::tcp::socket s) : socket_(std::move(s)) {
        llhttp_settings_init(&settings_);
        settings_.on_message_complete = [](llhttp_t* p) {
            static_cast<session*>(p->data)->pending_ += response;
            return 0;
        };
        llhttp_init(&parser_, HTTP_REQUEST, &settings_);
        parser_.data = this;
        socket_.set_option(asio::ip::tcp::no_delay(true));
    }

    void read() {
        socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](std::error_code ec, std::size_t n) {
            if (ec) return;
            if (llhttp_execute(&self->parser_, self->buf_, n) != HPE_OK) return;  // drop bad input
            if (self->pending_.empty()) return self->read();
            self->out_.swap(self->pending_);
            asio::async_write(self->socket_, asio::buffer(self->out_), [self](std::error_code wec, std::size_t) {
                self->out_.clear();
                if (!wec) self->read();
            });
        });
    }

private:
    asio::ip::tcp::socket socket_;
    llhttp_t parser_{};
    llhttp_settings_t settings_{};
    char buf_[16384];
    std::string pending_;
    std::string out_;
};

void accept(asio::ip::tcp::acceptor& acceptor) {
    acceptor.async_accept([&acceptor](std::error_code ec, asio::ip::tcp::socket s) {
        if (!ec) std::make_shared<session>(std::move(s))->read();
        if (acceptor.is_open()) accept(acceptor);
    });
}

}  // namespace

int main() {
    try {
        const char* host = std::getenv("HOST");
        const char* port = std::getenv("PORT");
        asio::io_context io(1);
        asio::ip::tcp::acceptor acceptor(
            io, asio::ip::tcp::endpoint(asio::ip::make_address(host && *host ? host : "127.0.0.1"),
                                        static_cast<std::uint16_t>(port ? std::atoi(port) : 0)));
        accept(acceptor);
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](std::error_code, int) { io.stop(); });
        std::cout << "listening on " << acceptor.local_endpoint().port() << std::endl;
        io.run();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "ceiling_server: " << e.what() << "\n";
        return 1;
    }
}
