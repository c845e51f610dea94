#include "net/http_parser.hpp"

#include <llhttp.h>

#include <utility>

namespace rivetkit::net {

struct http_parser::state {
    llhttp_t parser{};
    /// The event raised by a callback during the current llhttp_execute.
    event pending = event::need_more;
    /// The last event feed() returned.
    event last = event::need_more;
    /// Content-Length as declared in the head (llhttp counts its copy down while reading).
    std::optional<std::uint64_t> declared_length;
};

namespace {

http_parser* self_of(llhttp_t* p) noexcept { return static_cast<http_parser*>(p->data); }

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

}  // namespace

// llhttp calls plain C functions; these forward to the parser object kept in `data`.
struct http_parser::callbacks {
    static int on_message_begin(llhttp_t* p) {
        auto* self = self_of(p);
        self->clear_message();
        self->in_message_ = true;
        return HPE_OK;
    }

    static int head_text(llhttp_t* p, std::string& into, const char* at, std::size_t n) {
        auto* self = self_of(p);
        // Keeps memory bounded within one large read; feed() enforces the exact limit.
        if (self->target_.size() + self->reason_.size() + self->field_.size() + self->value_.size() + n >
            self->opts_.max_header_bytes) {
            self->error_ = http_parse_error::header_too_large;
            return HPE_USER;
        }
        into.append(at, n);
        return HPE_OK;
    }
    static int on_url(llhttp_t* p, const char* at, std::size_t n) {
        return head_text(p, self_of(p)->target_, at, n);
    }
    static int on_status(llhttp_t* p, const char* at, std::size_t n) {
        return head_text(p, self_of(p)->reason_, at, n);
    }
    static int on_header_field(llhttp_t* p, const char* at, std::size_t n) {
        return head_text(p, self_of(p)->field_, at, n);
    }
    static int on_header_value(llhttp_t* p, const char* at, std::size_t n) {
        return head_text(p, self_of(p)->value_, at, n);
    }
    static int on_header_value_complete(llhttp_t* p) {
        auto* self = self_of(p);
        auto& v = self->value_;
        std::size_t end = v.size();
        while (end > 0 && is_ows(v[end - 1])) --end;
        v.resize(end);
        self->headers_.emplace_back(std::move(self->field_), std::move(v));
        self->field_.clear();
        self->value_.clear();
        return HPE_OK;
    }

    static int on_headers_complete(llhttp_t* p) {
        auto* self = self_of(p);
        auto& st = *self->state_;
        if (self->skip_body_) {
            self->skip_body_ = false;
            p->flags |= F_SKIPBODY;  // what returning 1 does; we return "paused" instead
        }
        st.declared_length.reset();
        if ((p->flags & F_CONTENT_LENGTH) != 0 && (p->flags & F_CHUNKED) == 0) {
            st.declared_length = p->content_length;
            if (self->opts_.collect_body && (p->flags & F_SKIPBODY) == 0 &&
                p->content_length > self->opts_.max_body_bytes) {
                self->error_ = http_parse_error::body_too_large;
                return -1;
            }
        }
        self->head_complete_ = true;
        st.pending = event::headers_complete;
        return HPE_PAUSED;
    }

    static int on_body(llhttp_t* p, const char* at, std::size_t n) {
        auto* self = self_of(p);
        if (self->opts_.collect_body && self->body_.size() + n > self->opts_.max_body_bytes) {
            self->error_ = http_parse_error::body_too_large;
            return HPE_USER;
        }
        self->body_.append(at, n);
        return HPE_OK;
    }

    static int on_message_complete(llhttp_t* p) {
        auto* self = self_of(p);
        self->in_message_ = false;
        self->state_->pending = event::message_complete;
        return HPE_PAUSED;
    }

    static const llhttp_settings_t settings;
};

const llhttp_settings_t http_parser::callbacks::settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &callbacks::on_message_begin;
    s.on_url = &callbacks::on_url;
    s.on_status = &callbacks::on_status;
    s.on_header_field = &callbacks::on_header_field;
    s.on_header_value = &callbacks::on_header_value;
    s.on_header_value_complete = &callbacks::on_header_value_complete;
    s.on_headers_complete = &callbacks::on_headers_complete;
    s.on_body = &callbacks::on_body;
    s.on_message_complete = &callbacks::on_message_complete;
    return s;
}();

http_parser::http_parser(kind k, options opts)
    : state_(std::make_unique<state>()), kind_(k), opts_(opts) {
    reset();
}

http_parser::~http_parser() = default;

void http_parser::reset() {
    llhttp_init(&state_->parser, kind_ == kind::request ? HTTP_REQUEST : HTTP_RESPONSE,
                &callbacks::settings);
    state_->parser.data = this;
    state_->pending = event::need_more;
    state_->last = event::need_more;
    state_->declared_length.reset();
    skip_body_ = false;
    head_complete_ = false;
    in_message_ = false;
    head_bytes_ = 0;
    clear_message();
    error_ = http_parse_error::none;
    error_reason_.clear();
}

void http_parser::clear_message() {
    target_.clear();
    reason_.clear();
    field_.clear();
    value_.clear();
    headers_.clear();
    body_.clear();
}

http_parser::result http_parser::fail(http_parse_error e, std::string_view reason, std::size_t consumed) {
    error_ = e;
    error_reason_.assign(reason);
    state_->last = event::error;
    return {event::error, consumed};
}

http_parser::result http_parser::feed(std::string_view data) {
    auto& st = *state_;
    if (error_ != http_parse_error::none) return {event::error, 0};
    if (st.last == event::message_complete) {
        head_complete_ = false;
        head_bytes_ = 0;
    }
    llhttp_t* p = &st.parser;
    const bool in_head = !head_complete_;
    const char* const begin = data.data();
    const char* pos = begin;
    const char* const end = begin + data.size();
    std::size_t consumed = data.size();
    st.pending = event::need_more;
    for (;;) {
        const llhttp_errno_t paused = llhttp_get_errno(p);
        if (paused == HPE_PAUSED) {
            llhttp_resume(p);
        } else if (paused == HPE_PAUSED_UPGRADE) {
            llhttp_resume_after_upgrade(p);
        }
        const llhttp_errno_t rc = llhttp_execute(p, pos, static_cast<std::size_t>(end - pos));
        if (rc == HPE_OK) break;
        const char* at = llhttp_get_error_pos(p);
        if (at == nullptr) at = end;
        if (rc == HPE_PAUSED || rc == HPE_PAUSED_UPGRADE) {
            if (st.pending != event::need_more) {
                consumed = static_cast<std::size_t>(at - begin);
                break;
            }
            // llhttp's own stop after an upgrade message we already reported: carry on.
            pos = at;
            continue;
        }
        const auto used = static_cast<std::size_t>(at - begin);
        switch (error_) {
            case http_parse_error::header_too_large:
                return fail(error_, "header fields too large", used);
            case http_parse_error::body_too_large:
                return fail(error_, "payload too large", used);
            default:
                return fail(http_parse_error::malformed, llhttp_get_error_reason(p), used);
        }
    }
    if (in_head) {
        head_bytes_ += consumed;
        if (head_bytes_ > opts_.max_header_bytes) {
            return fail(http_parse_error::header_too_large, "header fields too large", consumed);
        }
    }
    st.last = st.pending;
    return {st.pending, consumed};
}

http_parser::result http_parser::finish() {
    auto& st = *state_;
    if (error_ != http_parse_error::none) return {event::error, 0};
    llhttp_t* p = &st.parser;
    const llhttp_errno_t paused = llhttp_get_errno(p);
    if (paused == HPE_PAUSED) {
        llhttp_resume(p);
    } else if (paused == HPE_PAUSED_UPGRADE) {
        llhttp_resume_after_upgrade(p);
    }
    st.pending = event::need_more;
    const llhttp_errno_t rc = llhttp_finish(p);
    if (st.pending == event::message_complete) {
        st.last = st.pending;
        return {event::message_complete, 0};
    }
    if (rc != HPE_OK && rc != HPE_PAUSED) {
        return fail(http_parse_error::malformed, llhttp_get_error_reason(p), 0);
    }
    if (in_message_) return fail(http_parse_error::malformed, "connection closed mid-message", 0);
    return {event::need_more, 0};
}

std::string_view http_parser::method() const noexcept {
    return llhttp_method_name(static_cast<llhttp_method_t>(state_->parser.method));
}

int http_parser::status() const noexcept { return state_->parser.status_code; }
int http_parser::http_major() const noexcept { return state_->parser.http_major; }
int http_parser::http_minor() const noexcept { return state_->parser.http_minor; }

bool http_parser::keep_alive() const noexcept { return llhttp_should_keep_alive(&state_->parser) != 0; }

bool http_parser::upgrade() const noexcept { return state_->parser.upgrade != 0; }

std::optional<std::uint64_t> http_parser::content_length() const noexcept { return state_->declared_length; }

bool http_parser::chunked() const noexcept { return (state_->parser.flags & F_CHUNKED) != 0; }

bool http_parser::has_body() const noexcept {
    const auto& p = state_->parser;
    if ((p.flags & F_SKIPBODY) != 0) return false;
    if ((p.flags & F_CHUNKED) != 0) return true;
    if (state_->declared_length) return *state_->declared_length > 0;
    return llhttp_message_needs_eof(&p) != 0;
}

http_request http_parser::take_request() {
    http_request r;
    r.method.assign(method());
    split_request_target(target_, r.path, r.query);
    r.headers = std::move(headers_);
    r.body = std::move(body_);
    headers_.clear();
    body_.clear();
    return r;
}

void split_request_target(std::string_view target, std::string& path, std::string& query) {
    if (target.size() > 7 && (target.starts_with("http://") || target.starts_with("https://"))) {
        // absolute-form (RFC 7230 5.3.2): drop scheme and authority
        const auto scheme_end = target.find("://") + 3;
        const auto path_start = target.find_first_of("/?", scheme_end);
        target = path_start == std::string_view::npos ? std::string_view{} : target.substr(path_start);
    }
    const auto q = target.find('?');
    std::string_view p = target.substr(0, q);
    if (q != std::string_view::npos) {
        query.assign(target.substr(q + 1));
    } else {
        query.clear();
    }
    // (assign(1, '/') rather than assign("/"): GCC 12 at -O3 reports a false -Wrestrict for the latter.)
    if (p.empty()) {
        path.assign(1, '/');
    } else if (p.front() != '/' && p != "*") {
        path.assign(1, '/');
        path.append(p);
    } else {
        path.assign(p);
    }
}

std::string_view http_reason_phrase(int status) noexcept {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 203: return "Non-Authoritative Information";
        case 204: return "No Content";
        case 205: return "Reset Content";
        case 206: return "Partial Content";
        case 300: return "Multiple Choices";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 402: return "Payment Required";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 407: return "Proxy Authentication Required";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Payload Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 416: return "Range Not Satisfiable";
        case 417: return "Expectation Failed";
        case 421: return "Misdirected Request";
        case 422: return "Unprocessable Entity";
        case 425: return "Too Early";
        case 426: return "Upgrade Required";
        case 428: return "Precondition Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 451: return "Unavailable For Legal Reasons";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

}  // namespace rivetkit::net
