#pragma once
// The client: find or create actors, call their actions, connect for events.
//
// Untyped use works with any actor of any server:
//   rivetkit::value n = client.get_or_create("counter", {"a"}).call("increment", 5);
// Typed use, given the actor's definition, is checked at compile time and returns the
// action's own result type:
//   std::int64_t n = client.get_or_create(counter, "counter", {"a"}).call<"increment">(5);
//
// Every blocking call has an async_* twin returning rivetkit::task<T> for use with co_await
// (required inside actors and on io threads, where blocking would deadlock).
//
// A client comes either from a registry (registry.client(): in process, no sockets) or from
// rivetkit::create_client(endpoint | options): HTTP and WebSocket to any RivetKit server
// (docs/client.md).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "rivetkit/actor.hpp"
#include "rivetkit/convert.hpp"
#include "rivetkit/error.hpp"
#include "rivetkit/http.hpp"
#include "rivetkit/key.hpp"
#include "rivetkit/task.hpp"
#include "rivetkit/value.hpp"
#include "rivetkit/websocket.hpp"

namespace rivetkit {

class registry_core;

struct get_options {
    /// Connection params sent with every action and connection (`x-rivet-conn-params`).
    value params{};
};

struct create_options {
    /// Creation input, handed to create_state/on_create and `c.input()`.
    value input{};
    /// Empty: the driver's default region.
    std::string region{};
    value params{};
};

enum class connection_status { connecting, connected, disconnected, disposed };

/// The encoding of action calls and connections (remote client only).
enum class client_encoding { bare, cbor, json };

/// How a remote connection reconnects after it drops or fails to open. The n-th consecutive
/// failed attempt waits min(max_delay, initial_delay * multiplier^(n-1)), scaled by a random
/// factor in [1 - jitter, 1 + jitter]; after a connection that was open drops, the first
/// attempt is immediate.
struct reconnect_options {
    bool enabled = true;
    std::chrono::milliseconds initial_delay{250};
    std::chrono::milliseconds max_delay{30'000};
    double multiplier = 2.0;
    double jitter = 0.2;
    /// Consecutive failed attempts after which the connection is lost for good; 0: never.
    std::size_t max_attempts = 0;
};

/// Options of a remote client (rivetkit::create_client). Empty strings take the environment's
/// value, as the reference client does.
struct client_options {
    /// "http(s)://host[:port][/base/path]". Empty: RIVET_ENGINE, else RIVET_ENDPOINT, else
    /// http://127.0.0.1:6420. ws:// and wss:// are accepted as http:// and https://.
    std::string endpoint;
    /// Sent as `Authorization: Bearer` to the manager API, `x-rivet-token` to the gateway and
    /// the `rivet_token.<token>` subprotocol. Empty: RIVET_TOKEN.
    std::string token;
    /// Empty: RIVET_NAMESPACE, else "default".
    std::string namespace_name;
    /// Empty: RIVET_RUNNER, else "default".
    std::string runner_name;
    client_encoding encoding = client_encoding::bare;
    /// Extra headers sent with every HTTP request and WebSocket handshake.
    http_headers headers;
    reconnect_options reconnect;
    /// Skip the `GET /metadata` lookup (and its clientEndpoint redirect).
    bool disable_metadata_lookup = false;
    /// TLS (https://): verify the server's certificate and host name against the system trust
    /// store plus `tls_ca_file` (a PEM file) when set. Turning verification off is for tests.
    bool tls_verify_peer = true;
    std::string tls_ca_file;
    /// TCP connect + TLS + WebSocket handshake (and the connection's Init) must finish within it.
    std::chrono::milliseconds connect_timeout{10'000};
    /// One HTTP request (resolve, action, fetch) must finish within it; 0: no limit.
    std::chrono::milliseconds request_timeout{90'000};
    /// Threads running the client's own io_context.
    std::size_t io_threads = 1;
};

namespace detail {

/// What a transport learned about where a handle's query leads, shared by the copies of that
/// handle so later calls need not resolve it again (the in-process transport keeps the running
/// actor instance here). Opaque outside the transport that fills it.
struct query_memo {
    std::mutex mutex;
    std::weak_ptr<void> target;
};

struct actor_query {
    enum class kind { get, get_or_create, create, get_for_id } how = kind::get;
    std::string name;
    actor_key key;
    std::string actor_id;  // get_for_id, or a created actor
    value input;
    std::string region;
    std::shared_ptr<query_memo> memo;  // shared by the copies of one handle; may be null
};

/// One client-side connection; implemented by each transport.
class client_connection {
public:
    virtual ~client_connection() = default;
    virtual std::uint64_t add_listener(std::string event, std::function<void(const array&)> fn, bool once) = 0;
    virtual void remove_listener(std::uint64_t id) = 0;
    virtual void add_error_listener(std::function<void(const client_error&)> fn) = 0;
    virtual void add_status_listener(std::function<void(connection_status)> fn) = 0;
    virtual task<value> action(std::string name, array args) = 0;
    virtual void dispose() = 0;
    [[nodiscard]] virtual connection_status status() const = 0;
    /// The server-assigned connection id (empty until connected).
    [[nodiscard]] virtual std::string connection_id() const = 0;
    /// Waits until connected (or throws the connection's error).
    virtual task<void> wait_connected() = 0;
};

/// How a client reaches actors: in process now, HTTP/WebSocket with the remote client.
class client_transport {
public:
    virtual ~client_transport() = default;
    virtual task<std::string> resolve(actor_query query) = 0;
    virtual task<value> action(actor_query query, value params, std::string name, array args) = 0;
    virtual task<http_response> fetch(actor_query query, value params, http_request request) = 0;
    virtual std::shared_ptr<client_connection> connect(actor_query query, value params) = 0;
    /// Opens a raw WebSocket to the actor's on_websocket; `path` is what follows `/websocket`.
    virtual task<std::shared_ptr<websocket>> open_websocket(actor_query query, value params, std::string path) = 0;
    /// Runs `t` to completion from a thread that may block.
    virtual void block(task<void> t) = 0;
    virtual void dispose() {}
};

template <class T>
T block_on(client_transport& tr, task<T> t) {
    if constexpr (std::is_void_v<T>) {
        tr.block(std::move(t));
    } else {
        std::optional<T> out;
        tr.block([](task<T> inner, std::optional<T>& o) -> task<void> { o.emplace(co_await std::move(inner)); }(
            std::move(t), out));
        return std::move(*out);
    }
}

template <class Def, detail::fixed_string Name>
struct typed_action {
    using decl = typename Def::template action_t<Name>;
    static_assert(!std::is_void_v<decl>, "rivetkit: the actor definition has no action with this name");
    using sig = detail::action_signature<typename decl::callable, typename Def::action_context_type>;
    using params = typename detail::decay_tuple<typename sig::arg_refs>::type;
    using result = typename sig::result;

    template <class... A>
    static constexpr bool accepts() {
        if constexpr (sizeof...(A) != std::tuple_size_v<params>) {
            return false;
        } else {
            return []<std::size_t... I>(std::index_sequence<I...>) {
                return (std::is_convertible_v<A, std::tuple_element_t<I, params>> && ...);
            }(std::index_sequence_for<A...>{});
        }
    }

    template <class... A>
    static array args(A&&... a) {
        array out;
        out.reserve(sizeof...(A));
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (out.push_back(rivetkit::to_value(static_cast<std::tuple_element_t<I, params>>(std::forward<A>(a)))), ...);
        }(std::index_sequence_for<A...>{});
        return out;
    }

    static result convert(const value& v) {
        if constexpr (!std::is_void_v<result>) return rivetkit::from_value<result>(v);
    }
};

/// call<"name">(args...) / async_call<"name">(args...) checked against `Def`, for any class that
/// provides `send_action(name, args)` and `transport_ref()`.
template <class Def, class Derived>
class typed_calls {
public:
    template <fixed_string Name, class... A>
    auto call(A&&... args) {
        return block_on(self().transport_ref(), async_call<Name>(std::forward<A>(args)...));
    }
    template <fixed_string Name, class... A>
    auto async_call(A&&... args) -> task<typename typed_action<Def, Name>::result> {
        using act = typed_action<Def, Name>;
        static_assert(act::template accepts<A...>(), "rivetkit: these arguments do not match the action's parameters");
        return convert_result<act>(self().send_action(std::string(Name.view()), act::args(std::forward<A>(args)...)));
    }

private:
    Derived& self() { return static_cast<Derived&>(*this); }
    template <class Act>
    static task<typename Act::result> convert_result(task<value> t) {
        value v = co_await std::move(t);
        co_return Act::convert(v);
    }
};

}  // namespace detail

/// A client-side connection to one actor: events, and actions over the same connection.
class actor_connection {
public:
    /// Removes its listener when unsubscribe() is called (not on destruction).
    class subscription {
    public:
        subscription() = default;
        void unsubscribe() {
            if (auto c = conn_.lock()) c->remove_listener(id_);
        }

    private:
        friend class actor_connection;
        subscription(std::weak_ptr<detail::client_connection> c, std::uint64_t id) : conn_(std::move(c)), id_(id) {}
        std::weak_ptr<detail::client_connection> conn_;
        std::uint64_t id_ = 0;
    };

    actor_connection() = default;
    actor_connection(std::shared_ptr<detail::client_connection> impl, std::shared_ptr<detail::client_transport> tr)
        : impl_(std::move(impl)), transport_(std::move(tr)) {}

    /// Calls `fn(args)` for every `event` (subscribes on the first listener).
    subscription on(std::string event, std::function<void(const array&)> fn) {
        return {impl_, impl_->add_listener(std::move(event), std::move(fn), false)};
    }
    /// Like on(), for the next occurrence only.
    subscription once(std::string event, std::function<void(const array&)> fn) {
        return {impl_, impl_->add_listener(std::move(event), std::move(fn), true)};
    }
    void on_error(std::function<void(const client_error&)> fn) { impl_->add_error_listener(std::move(fn)); }
    void on_status(std::function<void(connection_status)> fn) { impl_->add_status_listener(std::move(fn)); }

    template <class... A>
    value call(std::string_view action, const A&... args) {
        return detail::block_on(*transport_, async_call(action, args...));
    }
    template <class... A>
    task<value> async_call(std::string_view action, const A&... args) {
        return impl_->action(std::string(action), detail::to_args(args...));
    }
    /// Calls `name` with an argument list built at run time (call() with each element).
    value action(std::string_view name, array args) {
        return detail::block_on(*transport_, async_action(name, std::move(args)));
    }
    task<value> async_action(std::string_view name, array args) {
        return impl_->action(std::string(name), std::move(args));
    }
    /// Blocks until the connection is established (throws if it cannot be).
    void wait_connected() { detail::block_on(*transport_, impl_->wait_connected()); }
    [[nodiscard]] connection_status status() const { return impl_->status(); }
    [[nodiscard]] std::string connection_id() const { return impl_->connection_id(); }
    /// Closes the connection for good.
    void dispose() {
        if (impl_) impl_->dispose();
    }

protected:
    std::shared_ptr<detail::client_connection> impl_;
    std::shared_ptr<detail::client_transport> transport_;
};

/// A connection whose actions are checked against the definition `Def`.
template <class Def>
class typed_actor_connection : public actor_connection,
                               public detail::typed_calls<Def, typed_actor_connection<Def>> {
    using typed = detail::typed_calls<Def, typed_actor_connection<Def>>;
    friend typed;

public:
    using actor_connection::actor_connection;
    using actor_connection::async_call;
    using actor_connection::call;
    using typed::async_call;
    using typed::call;

private:
    task<value> send_action(std::string name, array args) { return this->impl_->action(std::move(name), std::move(args)); }
    detail::client_transport& transport_ref() { return *this->transport_; }
};

/// A way to reach one actor (by key, by id, ...). Cheap to copy.
class actor_handle {
public:
    actor_handle(std::shared_ptr<detail::client_transport> tr, detail::actor_query q, value params)
        : transport_(std::move(tr)), query_(std::move(q)), params_(std::move(params)) {}

    /// The actor's id (creating the actor for get_or_create handles).
    [[nodiscard]] std::string resolve() { return detail::block_on(*transport_, async_resolve()); }
    task<std::string> async_resolve() { return transport_->resolve(query_); }

    /// Calls an action over a one-off request (no connection).
    template <class... A>
    value call(std::string_view action, const A&... args) {
        return detail::block_on(*transport_, async_call(action, args...));
    }
    template <class... A>
    task<value> async_call(std::string_view action, const A&... args) {
        return transport_->action(query_, params_, std::string(action), detail::to_args(args...));
    }
    /// Calls `name` with an argument list built at run time (call() with each element).
    value action(std::string_view name, array args) {
        return detail::block_on(*transport_, async_action(name, std::move(args)));
    }
    task<value> async_action(std::string_view name, array args) {
        return transport_->action(query_, params_, std::string(name), std::move(args));
    }
    /// Sends a raw HTTP request to the actor's on_request.
    http_response fetch(http_request request) { return detail::block_on(*transport_, async_fetch(std::move(request))); }
    task<http_response> async_fetch(http_request request) {
        return transport_->fetch(query_, params_, std::move(request));
    }
    /// Opens a raw WebSocket to the actor's on_websocket handler. `path` (optionally with a
    /// "?query") is appended to `/websocket`. Callbacks run on a registry io thread (in process)
    /// or on the client's io thread (remote).
    [[nodiscard]] std::shared_ptr<rivetkit::websocket> websocket(std::string path = {}) {
        return detail::block_on(*transport_, async_websocket(std::move(path)));
    }
    task<std::shared_ptr<rivetkit::websocket>> async_websocket(std::string path = {}) {
        return transport_->open_websocket(query_, params_, std::move(path));
    }
    /// Opens a connection (events + actions). It connects in the background; actions called
    /// before it is up are queued.
    [[nodiscard]] actor_connection connect() { return {transport_->connect(query_, params_), transport_}; }

    [[nodiscard]] const detail::actor_query& query() const noexcept { return query_; }

protected:
    std::shared_ptr<detail::client_transport> transport_;
    detail::actor_query query_;
    value params_;
};

/// A handle whose actions are checked against the definition `Def` at compile time.
template <class Def>
class typed_actor_handle : public actor_handle, public detail::typed_calls<Def, typed_actor_handle<Def>> {
    using typed = detail::typed_calls<Def, typed_actor_handle<Def>>;
    friend typed;

public:
    /// The same actor, now checked against `Def`.
    explicit typed_actor_handle(actor_handle untyped) : actor_handle(std::move(untyped)) {}
    using actor_handle::async_call;
    using actor_handle::call;
    using typed::async_call;
    using typed::call;

    [[nodiscard]] typed_actor_connection<Def> connect() {
        return {this->transport_->connect(this->query_, this->params_), this->transport_};
    }

private:
    task<value> send_action(std::string name, array args) {
        return this->transport_->action(this->query_, this->params_, std::move(name), std::move(args));
    }
    detail::client_transport& transport_ref() { return *this->transport_; }
};

class client {
public:
    explicit client(std::shared_ptr<detail::client_transport> transport) : transport_(std::move(transport)) {}

    /// An existing actor by name and key (actor/not_found on use if there is none).
    [[nodiscard]] actor_handle get(std::string name, actor_key key = {}, get_options opts = {}) const {
        return {transport_, query(detail::actor_query::kind::get, std::move(name), std::move(key)), std::move(opts.params)};
    }
    /// The actor by name and key, created on first use.
    [[nodiscard]] actor_handle get_or_create(std::string name, actor_key key = {}, create_options opts = {}) const {
        auto q = query(detail::actor_query::kind::get_or_create, std::move(name), std::move(key));
        q.input = std::move(opts.input);
        q.region = std::move(opts.region);
        return {transport_, std::move(q), std::move(opts.params)};
    }
    /// Creates the actor now (actor/duplicate_key if it exists) and returns a handle to it.
    [[nodiscard]] actor_handle create(std::string name, actor_key key = {}, create_options opts = {}) const {
        return {transport_, created(std::move(name), std::move(key), opts), std::move(opts.params)};
    }
    [[nodiscard]] actor_handle get_for_id(std::string name, std::string actor_id, get_options opts = {}) const {
        auto q = query(detail::actor_query::kind::get_for_id, std::move(name), {});
        q.actor_id = std::move(actor_id);
        return {transport_, std::move(q), std::move(opts.params)};
    }

    // Typed forms: the first argument is the actor's definition.
    template <class Def>
        requires is_actor_definition<Def>
    [[nodiscard]] typed_actor_handle<Def> get(const Def&, std::string name, actor_key key = {}, get_options opts = {}) const {
        return typed_actor_handle<Def>(get(std::move(name), std::move(key), std::move(opts)));
    }
    template <class Def>
        requires is_actor_definition<Def>
    [[nodiscard]] typed_actor_handle<Def> get_or_create(const Def&, std::string name, actor_key key = {},
                                                        create_options opts = {}) const {
        return typed_actor_handle<Def>(get_or_create(std::move(name), std::move(key), std::move(opts)));
    }
    template <class Def>
        requires is_actor_definition<Def>
    [[nodiscard]] typed_actor_handle<Def> create(const Def&, std::string name, actor_key key = {},
                                                 create_options opts = {}) const {
        return typed_actor_handle<Def>(create(std::move(name), std::move(key), std::move(opts)));
    }
    template <class Def>
        requires is_actor_definition<Def>
    [[nodiscard]] typed_actor_handle<Def> get_for_id(const Def&, std::string name, std::string actor_id,
                                                     get_options opts = {}) const {
        return typed_actor_handle<Def>(get_for_id(std::move(name), std::move(actor_id), std::move(opts)));
    }

    /// Closes every connection of this client.
    void dispose() { transport_->dispose(); }

    [[nodiscard]] const std::shared_ptr<detail::client_transport>& transport() const noexcept { return transport_; }

private:
    static detail::actor_query query(detail::actor_query::kind k, std::string name, actor_key key) {
        detail::actor_query q;
        q.how = k;
        q.name = std::move(name);
        q.key = std::move(key);
        q.memo = std::make_shared<detail::query_memo>();
        return q;
    }
    detail::actor_query created(std::string name, actor_key key, const create_options& opts) const {
        auto q = query(detail::actor_query::kind::create, std::move(name), std::move(key));
        q.input = opts.input;
        q.region = opts.region;
        q.actor_id = detail::block_on(*transport_, transport_->resolve(q));
        q.how = detail::actor_query::kind::get_for_id;
        return q;
    }

    std::shared_ptr<detail::client_transport> transport_;
};

/// A client for a RivetKit server over HTTP and WebSocket (TLS for https://), with every
/// unset option taken from the environment. It runs its own io thread(s); blocking calls work
/// from any other thread, and async_* tasks can be co_awaited from any executor (the work runs
/// on the client's threads, the awaiting coroutine resumes on its own executor).
[[nodiscard]] client create_client(client_options options = {});
/// create_client with this endpoint and every other option default.
[[nodiscard]] client create_client(std::string endpoint);

}  // namespace rivetkit
