#pragma once
// Actor definitions.
//
//   struct counter_state { std::int64_t count = 0; };
//   RIVETKIT_FIELDS(counter_state, count)
//
//   inline const auto counter = rivetkit::actor<counter_state>()
//       .action<"increment">([](auto& c, std::int64_t by) {
//           c.state().count += by;
//           c.broadcast("newCount", c.state().count);
//           return c.state().count;
//       })
//       .action<"getCount">([](auto& c) { return std::as_const(c).state().count; });
//
// An action's argument and result types are deduced from its callable (the context parameter
// may be `auto&`); they must be serializable (rivetkit/convert.hpp). An action returning
// rivetkit::task<T> is a coroutine: it may `co_await` timers and other actors, and other work
// for the same actor interleaves only at those points. The definition's type records every
// action's name and signature, so typed client handles are checked at compile time.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "rivetkit/context.hpp"
#include "rivetkit/convert.hpp"
#include "rivetkit/detail/fixed_string.hpp"
#include "rivetkit/error.hpp"
#include "rivetkit/http.hpp"
#include "rivetkit/options.hpp"
#include "rivetkit/task.hpp"
#include "rivetkit/websocket.hpp"

namespace rivetkit {

namespace detail {

// ---- callable introspection -----------------------------------------------------------------

template <class T>
struct task_traits {
    static constexpr bool is_task = false;
    using result = T;
};
template <class T>
struct task_traits<asio::awaitable<T, asio::any_io_executor>> {
    static constexpr bool is_task = true;
    using result = T;
};

template <class Sig>
struct signature;
template <class R, class C, class... A>
struct signature<R (C::*)(A...)> {
    using return_type = R;
    using args = std::tuple<A...>;
};
template <class R, class C, class... A>
struct signature<R (C::*)(A...) const> : signature<R (C::*)(A...)> {};
template <class R, class C, class... A>
struct signature<R (C::*)(A...) noexcept> : signature<R (C::*)(A...)> {};
template <class R, class C, class... A>
struct signature<R (C::*)(A...) const noexcept> : signature<R (C::*)(A...)> {};
template <class R, class... A>
struct signature<R (*)(A...)> {
    using return_type = R;
    using args = std::tuple<A...>;
};
template <class R, class... A>
struct signature<R (*)(A...) noexcept> : signature<R (*)(A...)> {};

template <class F, class Ctx>
constexpr auto call_operator() {
    if constexpr (std::is_pointer_v<F>) {
        return F{};
    } else if constexpr (requires { &F::operator(); }) {
        return &F::operator();
    } else if constexpr (requires { &F::template operator()<Ctx>; }) {
        // A generic lambda whose only `auto` parameter is the context.
        return &F::template operator()<Ctx>;
    } else {
        return static_cast<void*>(nullptr);
    }
}

template <class F, class Ctx>
using call_operator_t = decltype(call_operator<F, Ctx>());

template <class F, class Ctx>
concept introspectable = !std::is_same_v<call_operator_t<F, Ctx>, void*>;

template <class Tuple>
struct tail;
template <class First, class... Rest>
struct tail<std::tuple<First, Rest...>> {
    using type = std::tuple<Rest...>;
};
template <>
struct tail<std::tuple<>> {
    using type = std::tuple<>;
};

/// The signature of an action callable `F` given its context type.
template <class F, class Ctx>
struct action_signature {
    static_assert(introspectable<F, Ctx>,
                  "rivetkit: cannot deduce this action's signature. Use a lambda or function whose "
                  "parameters are (auto& c, concrete types...) - only the context may be `auto`.");
    using sig = signature<call_operator_t<F, Ctx>>;
    using raw_return = typename sig::return_type;
    static constexpr bool is_coroutine = task_traits<raw_return>::is_task;
    using result = typename task_traits<raw_return>::result;
    /// Argument types after the context, decayed.
    using arg_refs = typename tail<typename sig::args>::type;
};

template <class Tuple>
struct decay_tuple;
template <class... A>
struct decay_tuple<std::tuple<A...>> {
    using type = std::tuple<std::remove_cvref_t<A>...>;
};

template <class T>
inline constexpr bool valid_arg = serializable<std::remove_cvref_t<T>>;

template <class Tuple>
struct all_args_valid;
template <class... A>
struct all_args_valid<std::tuple<A...>> {
    static constexpr bool value = (valid_arg<A> && ...);
};

/// Converts wire arguments into the action's parameter types; missing arguments read as
/// undefined (so std::optional parameters may be omitted).
template <class Tuple>
Tuple convert_args(const array& args, std::string_view action) {
    Tuple out;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (
            [&] {
                static const value missing;
                const value& v = I < args.size() ? args[I] : missing;
                try {
                    rivetkit::from_value(v, std::get<I>(out));
                } catch (const conversion_error& e) {
                    throw errors::action_invalid_request("invalid argument " + std::to_string(I) +
                                                         " of action '" + std::string(action) +
                                                         "': " + e.what());
                }
            }(),
            ...);
    }(std::make_index_sequence<std::tuple_size_v<Tuple>>{});
    return out;
}

/// Calls an action with its converted arguments. A plain function, so coroutine bodies never hold
/// the lambda temporary (GCC 12 miscompiles those).
template <class F, class Ctx, class Tuple>
auto apply_action(F& f, Ctx& ctx, Tuple& args) {
    return std::apply([&](auto&... a) { return f(ctx, a...); }, args);
}

template <class R>
value result_to_value(R&& r) {
    return rivetkit::to_value(std::forward<R>(r));
}

/// Calls a hook that may be a plain function or a coroutine, as a coroutine.
template <class F, class... A>
task<void> call_hook(const F& f, A&... args) {
    using R = std::invoke_result_t<const F&, A&...>;
    if constexpr (task_traits<R>::is_task) {
        co_await std::invoke(f, args...);
    } else {
        std::invoke(f, args...);
    }
}

template <class T, class F, class... A>
task<T> call_hook_r(const F& f, A&... args) {
    using R = std::invoke_result_t<const F&, A&...>;
    if constexpr (task_traits<R>::is_task) {
        co_return co_await std::invoke(f, args...);
    } else {
        co_return std::invoke(f, args...);
    }
}

// ---- the erased definition the runtime runs -------------------------------------------------

struct action_entry {
    bool is_coroutine = false;
    /// Plain actions: runs to completion.
    std::function<value(actor_instance&, connection*, const array&)> call;
    /// Coroutine actions.
    std::function<task<value>(actor_instance&, std::shared_ptr<connection>, array)> call_async;
};

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct definition_base {
    virtual ~definition_base() = default;

    actor_options options;
    std::unordered_map<std::string, action_entry, string_hash, std::equal_to<>> actions;
    bool has_state = false;
    bool has_conn_state = false;
    bool has_vars = false;
    /// on_before_connect or create_conn_state is defined (prepare_conn runs user code).
    bool has_conn_hooks = false;
    /// The conn state (if any) converts to and from rivetkit::value, so connections can be
    /// persisted across sleep (hibernatable WebSockets).
    bool conn_state_serializable = true;

    /// A fresh behavior (typed storage) for one instance.
    [[nodiscard]] virtual std::unique_ptr<behavior> instantiate() const = 0;

    // State and input (typed inside).
    virtual task<void> init_state(actor_instance&, const value& input) const = 0;
    virtual void load_state(behavior&, const value& v) const = 0;
    [[nodiscard]] virtual value dump_state(const behavior&) const = 0;
    /// For an untyped input (`value`) the behaviour keeps a pointer to `v`, which must outlive it
    /// (the instance passes its own copy).
    virtual void load_input(behavior&, const value& v) const = 0;
    virtual task<void> init_vars(actor_instance&) const = 0;
    /// Hibernatable connections: the conn state as a value (undefined without one), and a
    /// restored connection's typed params and state from its params and that value.
    [[nodiscard]] virtual value dump_conn_state(const connection&) const = 0;
    virtual void restore_conn(connection&, const value& state) const = 0;

    // Hooks; empty when not defined.
    std::function<task<void>(actor_instance&)> on_create;
    std::function<task<void>(actor_instance&)> on_wake;
    std::function<task<void>(actor_instance&)> on_sleep;
    std::function<task<void>(actor_instance&)> on_destroy;
    std::function<void(actor_instance&)> on_state_change;
    /// Converts params, runs on_before_connect and creates the conn state.
    std::function<task<void>(actor_instance&, connection&)> prepare_conn;
    /// What prepare_conn does when there are no conn hooks (params conversion and the initial
    /// conn state), without a coroutine.
    std::function<void(actor_instance&, connection&)> prepare_conn_plain;
    std::function<task<void>(actor_instance&, std::shared_ptr<connection>)> on_connect;
    std::function<task<void>(actor_instance&, std::shared_ptr<connection>)> on_disconnect;
    std::function<task<value>(actor_instance&, std::string, array, value)> on_before_action_response;
    std::function<task<http_response>(actor_instance&, std::shared_ptr<connection>, http_request)> on_request;
    std::function<task<void>(actor_instance&, std::shared_ptr<connection>, std::shared_ptr<websocket>, http_request)>
        on_websocket;
};

}  // namespace detail

/// One action of a definition, recorded in its type.
template <detail::fixed_string Name, class F>
struct action_decl {
    static constexpr auto name = Name;
    using callable = F;
};

template <class Types, class... Actions>
class actor_definition;

namespace detail {

template <class Types>
struct definition_data {
    using state_t = typename Types::state;
    using conn_state_t = typename Types::conn_state;
    using conn_params_t = typename Types::conn_params;
    using vars_t = typename Types::vars;
    using input_t = typename Types::input;
    actor_options options;
    std::unordered_map<std::string, action_entry, string_hash, std::equal_to<>> actions;
    std::shared_ptr<void> initial_state;       // state_t
    std::shared_ptr<void> initial_vars;        // vars_t
    std::shared_ptr<void> initial_conn_state;  // conn_state_t
    std::function<task<void>(actor_instance&, const input_t&, void* out_state)> create_state;
    std::function<task<void>(actor_instance&, void* out_vars)> create_vars;
    std::function<task<void>(actor_instance&, const http_request*, const conn_params_t&, void* out_conn_state)>
        create_conn_state;
    std::function<task<void>(actor_instance&, const http_request*, const conn_params_t&)> on_before_connect;
    std::function<task<void>(actor_instance&)> on_create;
    std::function<task<void>(actor_instance&)> on_wake;
    std::function<task<void>(actor_instance&)> on_sleep;
    std::function<task<void>(actor_instance&)> on_destroy;
    std::function<void(actor_instance&)> on_state_change;
    std::function<task<void>(actor_instance&, std::shared_ptr<connection>)> on_connect;
    std::function<task<void>(actor_instance&, std::shared_ptr<connection>)> on_disconnect;
    std::function<task<value>(actor_instance&, std::string, array, value)> on_before_action_response;
    std::function<task<http_response>(actor_instance&, std::shared_ptr<connection>, http_request)> on_request;
    std::function<task<void>(actor_instance&, std::shared_ptr<connection>, std::shared_ptr<websocket>, http_request)>
        on_websocket;
};

template <class Types>
struct storage_behavior final : behavior {
    template <class T>
    using slot = std::conditional_t<std::is_void_v<T>, std::monostate, std::optional<T>>;
    slot<typename Types::state> state_slot;
    slot<typename Types::vars> vars_slot;
    // An untyped input (the default) is not copied: `input` points at the instance's own
    // (actor_instance::input(), which lives as long as the instance).
    std::conditional_t<std::is_same_v<typename Types::input, value>, std::monostate, typename Types::input> input_slot{};
};

template <class Types>
class typed_definition final : public definition_base {
    using state_t = typename Types::state;
    using conn_state_t = typename Types::conn_state;
    using conn_params_t = typename Types::conn_params;
    using vars_t = typename Types::vars;
    using input_t = typename Types::input;
    using storage = storage_behavior<Types>;

public:
    explicit typed_definition(definition_data<Types> d) : data_(std::move(d)) {
        options = data_.options;
        actions = data_.actions;
        has_state = !std::is_void_v<state_t>;
        has_conn_state = !std::is_void_v<conn_state_t>;
        if constexpr (!std::is_void_v<conn_state_t>) conn_state_serializable = serializable<conn_state_t>;
        has_vars = !std::is_void_v<vars_t>;
        on_create = data_.on_create;
        on_wake = data_.on_wake;
        on_sleep = data_.on_sleep;
        on_destroy = data_.on_destroy;
        on_state_change = data_.on_state_change;
        on_connect = data_.on_connect;
        on_disconnect = data_.on_disconnect;
        on_before_action_response = data_.on_before_action_response;
        on_request = data_.on_request;
        on_websocket = data_.on_websocket;
        has_conn_hooks = static_cast<bool>(data_.on_before_connect) || static_cast<bool>(data_.create_conn_state);
        prepare_conn = [this](actor_instance& inst, connection& c) { return prepare(inst, c); };
        prepare_conn_plain = [this](actor_instance&, connection& c) { prepare_plain(c); };
    }

    std::unique_ptr<behavior> instantiate() const override {
        auto b = std::make_unique<storage>();
        if constexpr (!std::is_same_v<input_t, value>) b->input = &b->input_slot;
        return b;
    }

    task<void> init_state(actor_instance& inst, const value& input) const override {
        if constexpr (!std::is_void_v<state_t>) {
            auto& b = static_cast<storage&>(inst.behavior());
            if (data_.create_state) {
                state_t s{};
                co_await data_.create_state(inst, *static_cast<const input_t*>(b.input), &s);
                b.state_slot.emplace(std::move(s));
            } else if (data_.initial_state) {
                b.state_slot.emplace(*static_cast<const state_t*>(data_.initial_state.get()));
            } else {
                b.state_slot.emplace();
            }
            b.state = &*b.state_slot;
        }
        (void)input;
        co_return;
    }

    void load_state(behavior& beh, const value& v) const override {
        if constexpr (!std::is_void_v<state_t>) {
            auto& b = static_cast<storage&>(beh);
            b.state_slot.emplace(rivetkit::from_value<state_t>(v));
            b.state = &*b.state_slot;
        }
    }

    value dump_state(const behavior& beh) const override {
        if constexpr (!std::is_void_v<state_t>) {
            const auto& b = static_cast<const storage&>(beh);
            return b.state_slot ? rivetkit::to_value(*b.state_slot) : value{};
        } else {
            (void)beh;
            return {};
        }
    }

    void load_input(behavior& beh, const value& v) const override {
        auto& b = static_cast<storage&>(beh);
        if constexpr (std::is_same_v<input_t, value>) {
            b.input = const_cast<value*>(&v);  // read only through const access (c.input())
        } else {
            b.input_slot = v.is_nullish() ? input_t{} : rivetkit::from_value<input_t>(v);
        }
    }

    task<void> init_vars(actor_instance& inst) const override {
        if constexpr (!std::is_void_v<vars_t>) {
            auto& b = static_cast<storage&>(inst.behavior());
            if (data_.create_vars) {
                vars_t v{};
                co_await data_.create_vars(inst, &v);
                b.vars_slot.emplace(std::move(v));
            } else if (data_.initial_vars) {
                b.vars_slot.emplace(*static_cast<const vars_t*>(data_.initial_vars.get()));
            } else {
                b.vars_slot.emplace();
            }
            b.vars = &*b.vars_slot;
        }
        co_return;
    }

    value dump_conn_state(const connection& c) const override {
        if constexpr (!std::is_void_v<conn_state_t> && serializable<conn_state_t>) {
            return c.state ? rivetkit::to_value(*static_cast<const conn_state_t*>(c.state.get())) : value{};
        } else {
            (void)c;
            return {};
        }
    }

    void restore_conn(connection& c, const value& state) const override {
        c.typed_params = convert_params(c.params);
        if constexpr (!std::is_void_v<conn_state_t> && serializable<conn_state_t>) {
            c.state = std::make_shared<conn_state_t>(state.is_undefined() ? conn_state_t{}
                                                                          : rivetkit::from_value<conn_state_t>(state));
        } else {
            (void)state;
        }
    }

private:
    static std::shared_ptr<conn_params_t> convert_params(const value& raw) {
        if constexpr (std::is_same_v<conn_params_t, value>) {
            return std::make_shared<value>(raw);
        } else {
            try {
                return std::make_shared<conn_params_t>(raw.is_nullish() ? conn_params_t{}
                                                                        : rivetkit::from_value<conn_params_t>(raw));
            } catch (const conversion_error& e) {
                throw errors::invalid_params(std::string("Invalid connection params: ") + e.what());
            }
        }
    }

    // No conn hooks: the params converted and the initial conn state (a copy of the definition's).
    void prepare_plain(connection& c) const {
        auto params = convert_params(c.params);
        c.typed_params = params;
        if constexpr (!std::is_void_v<conn_state_t>) {
            auto st = std::make_shared<conn_state_t>();
            if (data_.initial_conn_state) *st = *static_cast<const conn_state_t*>(data_.initial_conn_state.get());
            c.state = std::move(st);
        }
    }

    task<void> prepare(actor_instance& inst, connection& c) const {
        auto params = convert_params(c.params);
        c.typed_params = params;
        if (data_.on_before_connect) co_await data_.on_before_connect(inst, c.request, *params);
        if constexpr (!std::is_void_v<conn_state_t>) {
            auto st = std::make_shared<conn_state_t>();
            if (data_.create_conn_state) {
                co_await data_.create_conn_state(inst, c.request, *params, st.get());
            } else if (data_.initial_conn_state) {
                *st = *static_cast<const conn_state_t*>(data_.initial_conn_state.get());
            }
            c.state = std::move(st);
        }
    }

    definition_data<Types> data_;
};

template <detail::fixed_string Name, class... Actions>
struct find_action;
template <detail::fixed_string Name>
struct find_action<Name> {
    using type = void;
};
template <detail::fixed_string Name, class First, class... Rest>
struct find_action<Name, First, Rest...> {
    using type = std::conditional_t<First::name == Name, First, typename find_action<Name, Rest...>::type>;
};

}  // namespace detail

/// An actor definition: its types, actions, hooks and options. Build one with rivetkit::actor<>().
template <class Types, class... Actions>
class actor_definition {
public:
    using types = Types;
    using state_type = typename Types::state;
    using conn_state_type = typename Types::conn_state;
    using conn_params_type = typename Types::conn_params;
    using vars_type = typename Types::vars;
    using input_type = typename Types::input;
    using context = actor_context<Types>;
    using action_context_type = rivetkit::action_context<Types>;
    using conn_init_context_type = conn_init_context<Types>;
    using conn_type = conn<Types>;

    /// The declaration of action `Name` (void if there is none).
    template <detail::fixed_string Name>
    using action_t = typename detail::find_action<Name, Actions...>::type;

    actor_definition() = default;
    explicit actor_definition(detail::definition_data<Types> data) : data_(std::move(data)) {}

    /// Adds an action named `Name`.
    template <detail::fixed_string Name, class F>
    [[nodiscard]] auto action(F f) const {
        static_assert(std::is_void_v<action_t<Name>>, "rivetkit: an action with this name already exists");
        using sig = detail::action_signature<F, action_context_type>;
        using args_tuple = typename detail::decay_tuple<typename sig::arg_refs>::type;
        static_assert(detail::all_args_valid<args_tuple>::value,
                      "rivetkit: an action parameter type is not serializable. " RIVETKIT_NOT_SERIALIZABLE_MESSAGE);
        static_assert(std::is_void_v<typename sig::result> || to_value_convertible<typename sig::result>,
                      "rivetkit: the action's result type is not serializable. " RIVETKIT_NOT_SERIALIZABLE_MESSAGE);
        detail::definition_data<Types> d = data_;
        auto fn = std::make_shared<F>(std::move(f));
        detail::action_entry entry;
        entry.is_coroutine = sig::is_coroutine;
        constexpr std::string_view name = Name.view();
        if constexpr (sig::is_coroutine) {
            entry.call_async = [fn](actor_instance& inst, std::shared_ptr<detail::connection> c,
                                    array args) { return run_async<F, sig, args_tuple>(fn, inst, std::move(c), std::move(args), name); };
        } else {
            entry.call = [fn](actor_instance& inst, detail::connection* c, const array& args) -> value {
                action_context_type ctx(inst, c);
                auto converted = detail::convert_args<args_tuple>(args, name);
                return std::apply(
                    [&](auto&... a) -> value {
                        if constexpr (std::is_void_v<typename sig::result>) {
                            (*fn)(ctx, a...);
                            return value{};
                        } else {
                            return detail::result_to_value((*fn)(ctx, a...));
                        }
                    },
                    converted);
            };
        }
        d.actions.insert_or_assign(std::string(name), std::move(entry));
        return actor_definition<Types, Actions..., action_decl<Name, F>>(std::move(d));
    }

    /// The initial state of a new actor (copied). Default: a value-initialised State.
    template <class S = state_type>
        requires(!std::is_void_v<S>)
    [[nodiscard]] actor_definition state(S initial) const {
        return with([&](auto& d) { d.initial_state = std::make_shared<S>(std::move(initial)); });
    }
    /// Computes the initial state from the creation input: (c, const Input&) -> State.
    template <class F>
    [[nodiscard]] actor_definition create_state(F f) const {
        return with([&](auto& d) {
            d.create_state = [f = std::move(f)](actor_instance& inst, const input_type& in, void* out) -> task<void> {
                return create_state_impl(f, inst, in, out);
            };
        });
    }
    /// Runs once, when the actor is created, after its state exists: (c, const Input&).
    template <class F>
    [[nodiscard]] actor_definition on_create(F f) const {
        return with([&](auto& d) {
            d.on_create = [f = std::move(f)](actor_instance& inst) { return ctx_hook_input(f, inst); };
        });
    }
    /// The initial vars on every start (copied).
    template <class V = vars_type>
        requires(!std::is_void_v<V>)
    [[nodiscard]] actor_definition vars(V initial) const {
        return with([&](auto& d) { d.initial_vars = std::make_shared<V>(std::move(initial)); });
    }
    /// Builds vars on every start: (c, const value& driver_context) -> Vars.
    template <class F>
    [[nodiscard]] actor_definition create_vars(F f) const {
        return with([&](auto& d) {
            d.create_vars = [f = std::move(f)](actor_instance& inst, void* out) -> task<void> {
                return create_vars_impl(f, inst, out);
            };
        });
    }
    /// Runs on every start (create and wake), after vars: (c).
    template <class F>
    [[nodiscard]] actor_definition on_wake(F f) const {
        return with([&](auto& d) { d.on_wake = [f = std::move(f)](actor_instance& inst) { return ctx_hook(f, inst); }; });
    }
    /// Runs when the actor goes to sleep: (c). Bounded by on_sleep_timeout.
    template <class F>
    [[nodiscard]] actor_definition on_sleep(F f) const {
        return with([&](auto& d) { d.on_sleep = [f = std::move(f)](actor_instance& inst) { return ctx_hook(f, inst); }; });
    }
    /// Runs when the actor is destroyed: (c). Bounded by on_destroy_timeout.
    template <class F>
    [[nodiscard]] actor_definition on_destroy(F f) const {
        return with([&](auto& d) { d.on_destroy = [f = std::move(f)](actor_instance& inst) { return ctx_hook(f, inst); }; });
    }
    /// Called for every change of the state (never for reads): (c, const State&). Plain function.
    template <class F>
    [[nodiscard]] actor_definition on_state_change(F f) const {
        static_assert(!std::is_void_v<state_type>, "rivetkit: on_state_change needs a state type");
        return with([&](auto& d) {
            d.on_state_change = [f = std::move(f)](actor_instance& inst) {
                context c(inst);
                f(c, std::as_const(c).state());
            };
        });
    }
    /// Runs before a connection is accepted; throw to reject it: (c, const ConnParams&).
    template <class F>
    [[nodiscard]] actor_definition on_before_connect(F f) const {
        return with([&](auto& d) {
            d.on_before_connect = [f = std::move(f)](actor_instance& inst, const http_request* req,
                                                     const conn_params_type& p) -> task<void> {
                return before_connect_impl(f, inst, req, p);
            };
        });
    }
    /// The initial state of each connection (copied).
    template <class S = conn_state_type>
        requires(!std::is_void_v<S>)
    [[nodiscard]] actor_definition conn_state(S initial) const {
        return with([&](auto& d) { d.initial_conn_state = std::make_shared<S>(std::move(initial)); });
    }
    /// Builds each connection's state: (c, const ConnParams&) -> ConnState.
    template <class F>
    [[nodiscard]] actor_definition create_conn_state(F f) const {
        return with([&](auto& d) {
            d.create_conn_state = [f = std::move(f)](actor_instance& inst, const http_request* req,
                                                     const conn_params_type& p, void* out) -> task<void> {
                return create_conn_state_impl(f, inst, req, p, out);
            };
        });
    }
    /// Runs when a connection is added: (c, conn). A throw disconnects it.
    template <class F>
    [[nodiscard]] actor_definition on_connect(F f) const {
        return with([&](auto& d) {
            d.on_connect = [f = std::move(f)](actor_instance& inst, std::shared_ptr<detail::connection> cn) {
                return conn_hook(f, inst, std::move(cn));
            };
        });
    }
    /// Runs after a connection was removed: (c, conn).
    template <class F>
    [[nodiscard]] actor_definition on_disconnect(F f) const {
        return with([&](auto& d) {
            d.on_disconnect = [f = std::move(f)](actor_instance& inst, std::shared_ptr<detail::connection> cn) {
                return conn_hook(f, inst, std::move(cn));
            };
        });
    }
    /// Transforms every action's output: (c, std::string_view name, const array& args,
    /// const value& output) -> value. Errors are logged and the original output kept.
    template <class F>
    [[nodiscard]] actor_definition on_before_action_response(F f) const {
        return with([&](auto& d) {
            d.on_before_action_response = [f = std::move(f)](actor_instance& inst, std::string name, array args,
                                                              value output) -> task<value> {
                return before_response_impl(f, inst, std::move(name), std::move(args), std::move(output));
            };
        });
    }
    /// Handles raw HTTP requests sent to the actor (`/request/...`): (c, const http_request&)
    /// -> http_response (or task<http_response>). A handler returning std::optional<http_response>
    /// may answer std::nullopt: the caller then gets 500 handler/invalid_request_handler_response.
    template <class F>
    [[nodiscard]] actor_definition on_request(F f) const {
        return with([&](auto& d) {
            d.on_request = [f = std::move(f)](actor_instance& inst, std::shared_ptr<detail::connection> cn,
                                              http_request req) -> task<http_response> {
                return request_impl(f, inst, std::move(cn), std::move(req));
            };
        });
    }
    /// Handles raw WebSockets opened to the actor (`/websocket/...`): (c, std::shared_ptr<websocket>).
    /// Register on_message/on_close on the socket here; they run on the actor's strand, and state
    /// changes they make are persisted like an action's. The connection lasts until the socket closes.
    template <class F>
    [[nodiscard]] actor_definition on_websocket(F f) const {
        return with([&](auto& d) {
            d.on_websocket = [f = std::move(f)](actor_instance& inst, std::shared_ptr<detail::connection> cn,
                                                std::shared_ptr<websocket> ws, http_request req) -> task<void> {
                return websocket_impl(f, inst, std::move(cn), std::move(ws), std::move(req));
            };
        });
    }
    /// Replaces the options.
    [[nodiscard]] actor_definition options(actor_options opts) const {
        return with([&](auto& d) { d.options = opts; });
    }
    [[nodiscard]] const actor_options& options() const noexcept { return data_.options; }

    /// The runtime form of this definition.
    [[nodiscard]] std::shared_ptr<const detail::definition_base> erase() const {
        return std::make_shared<detail::typed_definition<Types>>(data_);
    }

private:
    template <class G>
    actor_definition with(G&& g) const {
        auto d = data_;
        g(d);
        return actor_definition(std::move(d));
    }

    template <class F, class Sig, class ArgsTuple>
    static task<value> run_async(std::shared_ptr<F> fn, actor_instance& inst,
                                 std::shared_ptr<detail::connection> c, array args, std::string_view name) {
        action_context_type ctx(inst, c.get());
        auto converted = detail::convert_args<ArgsTuple>(args, name);
        auto work = detail::apply_action(*fn, ctx, converted);
        if constexpr (std::is_void_v<typename Sig::result>) {
            co_await std::move(work);
            co_return value{};
        } else {
            auto r = co_await std::move(work);
            co_return detail::result_to_value(std::move(r));
        }
    }

    template <class F>
    static task<void> create_state_impl(const F& f, actor_instance& inst, const input_type& in, void* out) {
        context c(inst);
        *static_cast<state_type*>(out) = co_await detail::call_hook_r<state_type>(f, c, in);
    }
    template <class F>
    static task<void> create_vars_impl(const F& f, actor_instance& inst, void* out) {
        context c(inst);
        value dc = inst.driver_context();
        *static_cast<vars_type*>(out) = co_await detail::call_hook_r<vars_type>(f, c, dc);
    }
    template <class F>
    static task<void> ctx_hook(const F& f, actor_instance& inst) {
        context c(inst);
        co_await detail::call_hook(f, c);
    }
    template <class F>
    static task<void> ctx_hook_input(const F& f, actor_instance& inst) {
        context c(inst);
        if constexpr (std::is_invocable_v<const F&, context&, const input_type&>) {
            const input_type& in = c.input();
            co_await detail::call_hook(f, c, in);
        } else {
            co_await detail::call_hook(f, c);
        }
    }
    template <class F>
    static task<void> before_connect_impl(const F& f, actor_instance& inst, const http_request* req,
                                          const conn_params_type& p) {
        conn_init_context_type c(inst, req);
        co_await detail::call_hook(f, c, p);
    }
    template <class F>
    static task<void> create_conn_state_impl(const F& f, actor_instance& inst, const http_request* req,
                                             const conn_params_type& p, void* out) {
        conn_init_context_type c(inst, req);
        *static_cast<conn_state_type*>(out) = co_await detail::call_hook_r<conn_state_type>(f, c, p);
    }
    template <class F>
    static task<void> conn_hook(const F& f, actor_instance& inst, std::shared_ptr<detail::connection> cn) {
        context c(inst);
        conn_type handle(inst, *cn);
        co_await detail::call_hook(f, c, handle);
    }
    template <class F>
    static task<value> before_response_impl(const F& f, actor_instance& inst, std::string name, array args,
                                            value output) {
        context c(inst);
        std::string_view n = name;
        co_return co_await detail::call_hook_r<value>(f, c, n, args, output);
    }
    template <class F>
    static task<http_response> request_impl(const F& f, actor_instance& inst, std::shared_ptr<detail::connection> cn,
                                            http_request req) {
        action_context_type c(inst, cn.get(), &req);
        using R = typename detail::task_traits<std::invoke_result_t<const F&, action_context_type&, http_request&>>::result;
        if constexpr (std::is_same_v<std::remove_cvref_t<R>, std::optional<http_response>>) {
            // No response (nullopt): the reference's "returned nothing" (500).
            auto out = co_await detail::call_hook_r<std::optional<http_response>>(f, c, req);
            if (!out) throw errors::invalid_request_handler_response();
            co_return std::move(*out);
        } else {
            co_return co_await detail::call_hook_r<http_response>(f, c, req);
        }
    }

    template <class F>
    static task<void> websocket_impl(const F& f, actor_instance& inst, std::shared_ptr<detail::connection> cn,
                                     std::shared_ptr<websocket> ws, http_request req) {
        (void)req;  // the connection keeps its own copy, valid as long as the socket
        action_context_type c(inst, cn.get(), cn->upgrade_request.get());
        co_await detail::call_hook(f, c, ws);
    }

    detail::definition_data<Types> data_;
};

/// Starts an actor definition. State, ConnState and Vars are `void` when the actor has none;
/// ConnParams and Input default to the dynamic rivetkit::value.
template <class State = void, class ConnState = void, class ConnParams = value, class Vars = void,
          class Input = value>
[[nodiscard]] auto actor() {
    return actor_definition<actor_types<State, ConnState, ConnParams, Vars, Input>>();
}

/// The same with the types given as one actor_types<...> bundle.
template <class Types>
[[nodiscard]] auto actor_of() {
    return actor_definition<Types>();
}

template <class T>
inline constexpr bool is_actor_definition = false;
template <class Types, class... Actions>
inline constexpr bool is_actor_definition<actor_definition<Types, Actions...>> = true;

}  // namespace rivetkit
