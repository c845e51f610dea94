// Hibernatable connections (detail/hibernation.hpp): persisted under KV [2] + conn id while
// they live, kept through a sleep, read back on wake. Everything here runs on the instance's
// strand.

#include <algorithm>
#include <chrono>

#include <asio/co_spawn.hpp>

#include "common/bare.hpp"
#include "common/cbor.hpp"
#include "rivetkit/actor.hpp"
#include "rivetkit/detail/instance.hpp"
#include "rivetkit/error.hpp"

namespace rivetkit {

using detail::connection;
using detail::hibernation_meta;

namespace {

// The format version of persisted connections (RivetKit's Conn v3 layout).
constexpr std::uint16_t conn_version = 3;
/// A hibernatable connection's messages are persisted (then acknowledged) at most this long
/// after they reached the actor, or at once past this many bytes (RivetKit's ack deadline and
/// buffer threshold; the gateway's own limits are 30 s and 1 MiB).
constexpr std::chrono::milliseconds ack_deadline{5'000};
constexpr std::size_t ack_bytes_threshold = 512 * 1024;

bytes encode_conn(const connection& c, const bytes& state_cbor) {
    const hibernation_meta& m = *c.hibernation;
    bare::writer w;
    w.u16(conn_version);
    w.str(c.id);
    w.data(cbor::encode(c.params));
    w.data(state_cbor);
    w.uint(c.subscriptions.size());
    for (const auto& event : c.subscriptions) w.str(event);
    w.fixed(m.gateway_id);
    w.fixed(m.request_id);
    w.u16(m.server_message_index);
    w.u16(m.client_message_index);
    w.str(m.request_path);
    w.uint(m.request_headers.size());
    for (const auto& [name, v] : m.request_headers) {
        w.str(name);
        w.str(v);
    }
    return w.take();
}

/// The connection (without typed params and state) and its conn state.
std::pair<std::shared_ptr<connection>, value> decode_conn(const bytes& blob) {
    bare::reader r(blob);
    const std::uint16_t version = r.u16();
    if (version != conn_version) throw errors::internal("unsupported persisted connection version " + std::to_string(version));
    auto c = std::make_shared<connection>();
    auto m = std::make_unique<hibernation_meta>();
    c->id = r.str();
    c->kind = detail::conn_kind::rivet;
    c->params = cbor::decode(r.data());
    bytes state = r.data();
    for (std::uint64_t n = r.uint(); n > 0; --n) c->subscriptions.insert(r.str());
    m->gateway_id = r.fixed(4);
    m->request_id = r.fixed(4);
    m->server_message_index = r.u16();
    m->client_message_index = r.u16();
    m->request_path = r.str();
    for (std::uint64_t n = r.uint(); n > 0; --n) {
        std::string name = r.str();
        m->request_headers.emplace_back(std::move(name), r.str());
    }
    r.expect_end();
    value state_value = state.empty() ? value{} : cbor::decode(state);
    m->written_state = std::move(state);
    m->written_client_index = m->client_message_index;
    m->record_dirty = false;
    c->hibernation = std::move(m);
    return {std::move(c), std::move(state_value)};
}

}  // namespace

bool actor_instance::can_hibernate_connections() const noexcept {
    return driver_->supports_hibernation() && def_->conn_state_serializable;
}

task<void> actor_instance::restore_connections() {
    bytes prefix{detail::connection_key_prefix};
    auto entries = co_await driver_->kv_list_prefix(id_, std::move(prefix));
    restore_connections(entries);
}

void actor_instance::restore_connections(const std::vector<kv_entry>& entries) {
    for (const auto& [key, blob] : entries) {
        try {
            auto [c, state] = decode_conn(blob);
            def_->restore_conn(*c, state);
            c->connected = true;
            conns_[c->id] = std::move(c);
        } catch (...) {
            log().warn("dropping an unreadable persisted connection",
                      {{"key", std::string(key.begin() + 1, key.end())}, {"error", describe_exception(std::current_exception())}});
            hibernation().deletes.push_back(key);
        }
    }
    if (!entries.empty()) log().debug("hibernating connections restored", {{"count", std::to_string(conns_.size())}});
}

std::vector<std::shared_ptr<connection>> actor_instance::detached_connections() const {
    std::vector<std::shared_ptr<connection>> out;
    for (const auto& [id, c] : conns_) {
        if (c->hibernation && !c->transport && !c->disconnected) out.push_back(c);
    }
    return out;
}

void actor_instance::note_client_message(connection& c, std::uint16_t index, std::size_t size) {
    if (!c.hibernation || c.disconnected) return;
    auto& m = *c.hibernation;
    // Actions finish out of order: the index only moves forward.
    if (detail::index_after(index, m.client_message_index)) m.client_message_index = index;
    m.unwritten_bytes += size;
    hibernation_changed(m.unwritten_bytes >= ack_bytes_threshold);
}

void actor_instance::hibernation_changed(bool now) {
    // While stopping, the final save (flush_hibernation) writes what is left.
    if (stop_called_) return;
    auto& h = hibernation();
    if (h.write_running) return;  // the write under way looks again before it ends
    if (now && h.write_timer) {
        h.write_timer->cancel();
        h.write_timer.reset();
    }
    if (h.write_timer) return;
    auto delay = now ? milliseconds(0) : std::min<milliseconds>(options().state_save_interval, ack_deadline);
    h.write_timer = clock_->start_timer(delay, strand_, [w = weak_from_this()] {
        auto self = w.lock();
        if (!self) return;
        auto& store = self->hibernation();
        store.write_timer.reset();
        if (store.write_running || self->stop_called_) return;
        asio::co_spawn(self->strand_, self->write_hibernation(), [self](std::exception_ptr e) {
            if (e) self->log().error("saving connections failed", {{"error", describe_exception(e)}});
        });
    });
}

task<void> actor_instance::write_hibernation() {
    auto self = shared_from_this();
    auto& h = hibernation();
    h.write_running = true;
    std::exception_ptr error;
    for (;;) {
        std::vector<kv_entry> puts;
        std::vector<std::shared_ptr<connection>> written;
        std::vector<std::pair<std::shared_ptr<detail::conn_transport>, std::uint16_t>> acks;
        for (const auto& [id, c] : conns_) {
            if (!c->hibernation || c->disconnected) continue;
            hibernation_meta& m = *c->hibernation;
            bytes state = def_->has_conn_state ? cbor::encode(def_->dump_conn_state(*c)) : bytes{};
            const bool index_moved = m.client_message_index != m.written_client_index;
            if (!m.record_dirty && !index_moved && state == m.written_state) continue;
            if (c->transport) m.server_message_index = c->transport->server_message_index();
            puts.emplace_back(detail::connection_key(c->id), encode_conn(*c, state));
            m.record_dirty = false;
            m.written_state = std::move(state);
            m.written_client_index = m.client_message_index;
            m.unwritten_bytes = 0;
            written.push_back(c);
            if (index_moved && c->transport) acks.emplace_back(c->transport, m.client_message_index);
        }
        auto deletes = std::exchange(h.deletes, {});
        if (puts.empty() && deletes.empty()) break;
        try {
            if (!puts.empty()) co_await driver_->kv_put(id_, std::move(puts));
            if (!deletes.empty()) co_await driver_->kv_delete(id_, deletes);
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            // Written again by the next attempt.
            for (auto& c : written) {
                if (c->hibernation) c->hibernation->record_dirty = true;
            }
            h.deletes.insert(h.deletes.end(), deletes.begin(), deletes.end());
            break;
        }
        // The gateway may now forget the messages these records cover.
        for (auto& [transport, index] : acks) transport->acknowledge(index);
    }
    h.write_running = false;
    for (auto& w : std::exchange(h.idle_waiters, {})) w->set_value();
    if (error) std::rethrow_exception(error);
}

task<void> actor_instance::flush_hibernation() {
    auto& h = hibernation();
    if (h.write_timer) {
        h.write_timer->cancel();
        h.write_timer.reset();
    }
    if (h.write_running) {
        auto idle = detail::oneshot<void>::make();
        h.idle_waiters.push_back(idle);
        co_await idle->wait();
    }
    co_await write_hibernation();
}

}  // namespace rivetkit
