#pragma once
// Conversions between C++ types and rivetkit::value.
//
//   rivetkit::value v = rivetkit::to_value(x);
//   auto y = rivetkit::from_value<T>(v);          // throws rivetkit::conversion_error
//
// Built in: rivetkit::value, bool, integers, floating point, std::string (and string_view /
// const char* one way), rivetkit::bytes (binary), std::vector<T> and std::array<T, N> (arrays),
// std::optional<T> (nullopt <-> null; undefined also reads as nullopt), std::map and
// std::unordered_map with string keys (objects), std::pair and std::tuple (arrays), and
// rivetkit::array / rivetkit::object.
//
// Your own types, either way:
//   struct point { int x = 0; int y = 0; };
//   RIVETKIT_FIELDS(point, x, y)                    // in point's namespace
// or, for full control, in the type's namespace:
//   rivetkit::value to_value(const point&);
//   void from_value(const rivetkit::value&, point&);
//
// A type with neither fails to compile with a message naming both ways.

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rivetkit/error.hpp"
#include "rivetkit/value.hpp"

namespace rivetkit {

/// Specialise for a type you cannot touch: `static value to(const T&)` and
/// `static void from(const value&, T&)`.
template <class T, class = void>
struct converter;

namespace detail {
[[noreturn]] void throw_kind_mismatch(std::string_view expected, const value& got);
[[noreturn]] void throw_out_of_range(std::string_view type_name, const value& got);

namespace adl {
void to_value() = delete;
void from_value() = delete;

template <class T>
concept has_to = requires(const T& t) {
    { to_value(t) } -> std::convertible_to<value>;
};
template <class T>
concept has_from = requires(const value& v, T& t) { from_value(v, t); };

template <class T>
value call_to(const T& t) {
    return to_value(t);
}
template <class T>
void call_from(const value& v, T& t) {
    from_value(v, t);
}
}  // namespace adl

template <class T>
concept has_converter_to = requires(const T& t) {
    { converter<T>::to(t) } -> std::convertible_to<value>;
};
template <class T>
concept has_converter_from = requires(const value& v, T& t) { converter<T>::from(v, t); };
}  // namespace detail

/// A type that converts to a value.
template <class T>
concept to_value_convertible =
    detail::has_converter_to<std::remove_cvref_t<T>> || detail::adl::has_to<std::remove_cvref_t<T>>;

/// A type that can be built from a value (and default-constructed).
template <class T>
concept from_value_convertible =
    std::is_default_constructible_v<T> &&
    (detail::has_converter_from<T> || detail::adl::has_from<T>);

/// Both ways: what state, arguments, results and events need.
template <class T>
concept serializable = to_value_convertible<T> && from_value_convertible<std::remove_cvref_t<T>>;

#define RIVETKIT_NOT_SERIALIZABLE_MESSAGE                                                         \
    "rivetkit: this type cannot be converted to or from rivetkit::value. Declare "                \
    "RIVETKIT_FIELDS(Type, member...) in the type's namespace, or define "                       \
    "`rivetkit::value to_value(const Type&)` and `void from_value(const rivetkit::value&, Type&)` " \
    "there (see rivetkit/convert.hpp)."

/// Converts any convertible type to a value.
template <class T>
[[nodiscard]] value to_value(const T& t) {
    using U = std::remove_cvref_t<T>;
    static_assert(to_value_convertible<U>, RIVETKIT_NOT_SERIALIZABLE_MESSAGE);
    if constexpr (detail::has_converter_to<U>) {
        return converter<U>::to(t);
    } else {
        return detail::adl::call_to(t);
    }
}

/// Converts a value into an existing object.
template <class T>
void from_value(const value& v, T& out) {
    static_assert(detail::has_converter_from<T> || detail::adl::has_from<T>,
                  RIVETKIT_NOT_SERIALIZABLE_MESSAGE);
    if constexpr (detail::has_converter_from<T>) {
        converter<T>::from(v, out);
    } else {
        detail::adl::call_from(v, out);
    }
}

/// Converts a value into a new T.
template <class T>
[[nodiscard]] T from_value(const value& v) {
    T out{};
    from_value(v, out);
    return out;
}

// ---- built-in converters --------------------------------------------------------------------

template <>
struct converter<value> {
    static value to(const value& v) { return v; }
    static void from(const value& v, value& out) { out = v; }
};

template <>
struct converter<bool> {
    static value to(bool b) { return b; }
    static void from(const value& v, bool& out) { out = v.as_bool(); }
};

template <class I>
struct converter<I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>>> {
    static value to(I i) {
        if constexpr (std::is_same_v<I, char>) {
            return value(static_cast<std::int64_t>(i));
        } else {
            return value(i);
        }
    }
    static void from(const value& v, I& out) {
        if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
            // The one type whose range exceeds int64: accept large integral numbers.
            if (v.is_number()) {
                double d = v.as_double();
                if (d < 0 || d >= 18446744073709551616.0 || std::trunc(d) != d) {
                    detail::throw_out_of_range("unsigned 64-bit integer", v);
                }
                out = static_cast<I>(d);
                return;
            }
        }
        std::int64_t i = v.as_int();
        if constexpr (std::is_signed_v<I>) {
            if (i < static_cast<std::int64_t>(std::numeric_limits<I>::min()) ||
                i > static_cast<std::int64_t>(std::numeric_limits<I>::max())) {
                detail::throw_out_of_range("integer", v);
            }
        } else {
            if (i < 0 || static_cast<std::uint64_t>(i) > std::numeric_limits<I>::max()) {
                detail::throw_out_of_range("unsigned integer", v);
            }
        }
        out = static_cast<I>(i);
    }
};

template <class F>
struct converter<F, std::enable_if_t<std::is_floating_point_v<F>>> {
    static value to(F f) { return value(static_cast<double>(f)); }
    static void from(const value& v, F& out) { out = static_cast<F>(v.as_double()); }
};

template <>
struct converter<std::string> {
    static value to(const std::string& s) { return s; }
    static void from(const value& v, std::string& out) { out = v.as_string(); }
};
template <>
struct converter<std::string_view> {
    static value to(std::string_view s) { return value(s); }
};
template <>
struct converter<const char*> {
    static value to(const char* s) { return value(s); }
};
template <std::size_t N>
struct converter<char[N]> {
    static value to(const char (&s)[N]) { return value(std::string_view(s)); }
};

template <>
struct converter<bytes> {
    static value to(const bytes& b) { return b; }
    static void from(const value& v, bytes& out) { out = v.as_binary(); }
};

template <>
struct converter<array> {
    static value to(const array& a) { return a; }
    static void from(const value& v, array& out) { out = v.as_array(); }
};

template <>
struct converter<object> {
    static value to(const object& o) { return o; }
    static void from(const value& v, object& out) { out = v.as_object(); }
};

template <>
struct converter<undefined_t> {
    static value to(undefined_t) { return undefined; }
    static void from(const value&, undefined_t&) {}
};
template <>
struct converter<null_t> {
    static value to(null_t) { return null; }
    static void from(const value&, null_t&) {}
};
template <>
struct converter<bigint> {
    static value to(bigint b) { return b; }
    static void from(const value& v, bigint& out) { out = bigint{v.as_int()}; }
};

namespace detail {
inline std::string index_segment(std::size_t i) {
    // Appended piece by piece: `"[" + std::to_string(i)` makes GCC 12 at -O3 print a false
    // -Wrestrict warning in every program that includes this header.
    std::string s = "[";
    s += std::to_string(i);
    s += ']';
    return s;
}
inline std::string member_segment(std::string_view name) {
    std::string s = ".";
    s += name;
    return s;
}
}  // namespace detail

template <class T>
struct converter<std::optional<T>> {
    static value to(const std::optional<T>& o) { return o ? rivetkit::to_value(*o) : value(null); }
    static void from(const value& v, std::optional<T>& out) {
        if (v.is_nullish()) {
            out.reset();
        } else {
            out = rivetkit::from_value<T>(v);
        }
    }
};

template <class T, class A>
struct converter<std::vector<T, A>, std::enable_if_t<!std::is_same_v<std::vector<T, A>, bytes>>> {
    static value to(const std::vector<T, A>& xs) {
        array a;
        a.reserve(xs.size());
        for (const auto& x : xs) a.push_back(rivetkit::to_value(x));
        return a;
    }
    static void from(const value& v, std::vector<T, A>& out) {
        const array& a = v.as_array();
        out.clear();
        out.reserve(a.size());
        for (std::size_t i = 0; i < a.size(); ++i) {
            try {
                out.push_back(rivetkit::from_value<T>(a[i]));
            } catch (const conversion_error& e) {
                throw e.within(detail::index_segment(i));
            }
        }
    }
};

template <class T, std::size_t N>
struct converter<std::array<T, N>> {
    static value to(const std::array<T, N>& xs) {
        array a;
        a.reserve(N);
        for (const auto& x : xs) a.push_back(rivetkit::to_value(x));
        return a;
    }
    static void from(const value& v, std::array<T, N>& out) {
        const array& a = v.as_array();
        if (a.size() != N) {
            throw conversion_error("", "expected an array of " + std::to_string(N) +
                                           " elements, got " + std::to_string(a.size()));
        }
        for (std::size_t i = 0; i < N; ++i) {
            try {
                rivetkit::from_value(a[i], out[i]);
            } catch (const conversion_error& e) {
                throw e.within(detail::index_segment(i));
            }
        }
    }
};

namespace detail {
template <class Map>
struct string_map_converter {
    using mapped = typename Map::mapped_type;
    static value to(const Map& m) {
        object o;
        o.reserve(m.size());
        for (const auto& [k, x] : m) o.insert_or_assign(k, rivetkit::to_value(x));
        return o;
    }
    static void from(const value& v, Map& out) {
        out.clear();
        for (const auto& [k, x] : v.as_object()) {
            try {
                out.emplace(k, rivetkit::from_value<mapped>(x));
            } catch (const conversion_error& e) {
                throw e.within(member_segment(k));
            }
        }
    }
};
}  // namespace detail

template <class T, class C, class A>
struct converter<std::map<std::string, T, C, A>>
    : detail::string_map_converter<std::map<std::string, T, C, A>> {};
template <class T, class H, class E, class A>
struct converter<std::unordered_map<std::string, T, H, E, A>>
    : detail::string_map_converter<std::unordered_map<std::string, T, H, E, A>> {};

template <class... Ts>
struct converter<std::tuple<Ts...>> {
    static value to(const std::tuple<Ts...>& t) {
        array a;
        a.reserve(sizeof...(Ts));
        std::apply([&](const auto&... xs) { (a.push_back(rivetkit::to_value(xs)), ...); }, t);
        return a;
    }
    static void from(const value& v, std::tuple<Ts...>& out) {
        const array& a = v.as_array();
        if (a.size() != sizeof...(Ts)) {
            throw conversion_error("", "expected an array of " + std::to_string(sizeof...(Ts)) +
                                           " elements, got " + std::to_string(a.size()));
        }
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (from_one<I>(a, out), ...);
        }(std::index_sequence_for<Ts...>{});
    }

private:
    template <std::size_t I>
    static void from_one(const array& a, std::tuple<Ts...>& out) {
        try {
            rivetkit::from_value(a[I], std::get<I>(out));
        } catch (const conversion_error& e) {
            throw e.within("[" + std::to_string(I) + "]");
        }
    }
};

template <class A, class B>
struct converter<std::pair<A, B>> {
    static value to(const std::pair<A, B>& p) {
        return array{rivetkit::to_value(p.first), rivetkit::to_value(p.second)};
    }
    static void from(const value& v, std::pair<A, B>& out) {
        std::tuple<A, B> t;
        converter<std::tuple<A, B>>::from(v, t);
        out = {std::move(std::get<0>(t)), std::move(std::get<1>(t))};
    }
};

namespace detail {
/// Reads object member `name` into `field`; a missing or undefined member keeps the default.
template <class F>
void read_field(const object& o, std::string_view name, F& field) {
    const value* m = o.find(name);
    if (m == nullptr || m->is_undefined()) return;
    try {
        rivetkit::from_value(*m, field);
    } catch (const conversion_error& e) {
        throw e.within(member_segment(name));
    }
}
}  // namespace detail

}  // namespace rivetkit

// ---- RIVETKIT_FIELDS ------------------------------------------------------------------------

#define RIVETKIT_DETAIL_PARENS ()
#define RIVETKIT_DETAIL_EXPAND(...) \
    RIVETKIT_DETAIL_EXPAND3(RIVETKIT_DETAIL_EXPAND3(RIVETKIT_DETAIL_EXPAND3(__VA_ARGS__)))
#define RIVETKIT_DETAIL_EXPAND3(...) \
    RIVETKIT_DETAIL_EXPAND2(RIVETKIT_DETAIL_EXPAND2(RIVETKIT_DETAIL_EXPAND2(__VA_ARGS__)))
#define RIVETKIT_DETAIL_EXPAND2(...) \
    RIVETKIT_DETAIL_EXPAND1(RIVETKIT_DETAIL_EXPAND1(RIVETKIT_DETAIL_EXPAND1(__VA_ARGS__)))
#define RIVETKIT_DETAIL_EXPAND1(...) __VA_ARGS__
#define RIVETKIT_DETAIL_FOR_EACH(macro, ...) \
    __VA_OPT__(RIVETKIT_DETAIL_EXPAND(RIVETKIT_DETAIL_FOR_EACH_STEP(macro, __VA_ARGS__)))
#define RIVETKIT_DETAIL_FOR_EACH_STEP(macro, first, ...) \
    macro(first) __VA_OPT__(RIVETKIT_DETAIL_FOR_EACH_AGAIN RIVETKIT_DETAIL_PARENS(macro, __VA_ARGS__))
#define RIVETKIT_DETAIL_FOR_EACH_AGAIN() RIVETKIT_DETAIL_FOR_EACH_STEP

#define RIVETKIT_DETAIL_FIELD_TO(field) o.insert_or_assign(#field, ::rivetkit::to_value(x.field));
#define RIVETKIT_DETAIL_FIELD_FROM(field) ::rivetkit::detail::read_field(o, #field, x.field);

/// Makes a struct convertible to and from an object with the named members (in this order).
/// Use it in the struct's namespace, after the struct. Missing members keep their defaults.
#define RIVETKIT_FIELDS(Type, ...)                                                   \
    [[maybe_unused]] inline ::rivetkit::value to_value(const Type& x) {              \
        ::rivetkit::object o;                                                        \
        RIVETKIT_DETAIL_FOR_EACH(RIVETKIT_DETAIL_FIELD_TO, __VA_ARGS__)              \
        return o;                                                                    \
    }                                                                                \
    [[maybe_unused]] inline void from_value(const ::rivetkit::value& v, Type& x) {   \
        const ::rivetkit::object& o = v.as_object();                                 \
        RIVETKIT_DETAIL_FOR_EACH(RIVETKIT_DETAIL_FIELD_FROM, __VA_ARGS__)            \
    }
