#include "net/sse.hpp"

#include <utility>

namespace rivetkit::net {

namespace {

/// Appends `prefix` + line for every line of `text`. A final line break yields a final empty
/// line, so the receiver, which joins data lines with LF, gets `text` back exactly (CRs aside).
void append_lines(std::string& out, std::string_view prefix, std::string_view text) {
    std::size_t start = 0;
    for (;;) {
        const auto end = text.find_first_of("\r\n", start);
        out.append(prefix);
        out.append(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        out.push_back('\n');
        if (end == std::string_view::npos) return;
        start = end + 1;
        if (text[end] == '\r' && start < text.size() && text[start] == '\n') ++start;
    }
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    for (char c : value) {
        if (c != '\r' && c != '\n') out.push_back(c);
    }
    out.push_back('\n');
}

}  // namespace

void append_sse_event(std::string& out, std::string_view data, std::string_view event, std::string_view id) {
    if (!event.empty()) append_field(out, "event: ", event);
    if (!id.empty()) append_field(out, "id: ", id);
    append_lines(out, "data: ", data);
    out.push_back('\n');
}

void append_sse_comment(std::string& out, std::string_view text) { append_lines(out, ": ", text); }

task<bool> sse_writer::send(std::string_view data, std::string_view event, std::string_view id) {
    if (sink_.closed()) co_return false;
    append_sse_event(pending_, data, event, id);
    co_return co_await flush();
}

task<bool> sse_writer::comment(std::string_view text) {
    if (sink_.closed()) co_return false;
    append_sse_comment(pending_, text);
    co_return co_await flush();
}

task<bool> sse_writer::flush() {
    if (flushing_) co_return !sink_.closed();  // the running flush sends our bytes too
    flushing_ = true;
    bool ok = true;
    while (ok && !pending_.empty()) {
        writing_.clear();
        std::swap(writing_, pending_);
        ok = co_await sink_.write(writing_);
    }
    flushing_ = false;
    if (!ok) pending_.clear();
    co_return ok;
}

}  // namespace rivetkit::net
