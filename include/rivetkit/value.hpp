#pragma once
// rivetkit::value: the dynamic value model of everything that crosses the wire or is persisted.
//
// It is the JavaScript data model the official client speaks, made explicit:
//   undefined, null, bool, integer (a JS number that is integral), number (a double),
//   bigint (a JS BigInt within 64 bits), string, binary (Uint8Array), array, object.
// `undefined` and `null` are distinct because JS clients tell them apart. Objects keep their
// insertion order, as JS objects do.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace rivetkit {

struct undefined_t {
    friend constexpr bool operator==(undefined_t, undefined_t) noexcept { return true; }
};
struct null_t {
    friend constexpr bool operator==(null_t, null_t) noexcept { return true; }
};
inline constexpr undefined_t undefined{};
inline constexpr null_t null{};

/// A JS BigInt restricted to the signed 64-bit range.
struct bigint {
    std::int64_t value = 0;
    friend constexpr bool operator==(bigint, bigint) noexcept = default;
};

/// Raw bytes (a JS Uint8Array).
using bytes = std::vector<std::uint8_t>;

class value;
using array = std::vector<value>;

/// An insertion-ordered string-keyed map (a JS plain object).
class object {
public:
    using entry = std::pair<std::string, value>;
    using iterator = std::vector<entry>::iterator;
    using const_iterator = std::vector<entry>::const_iterator;

    object() noexcept;
    object(std::initializer_list<entry> entries);
    object(const object& other);
    object(object&&) noexcept;
    object& operator=(const object& other);
    object& operator=(object&&) noexcept;
    ~object();

    /// The member named `key`, or nullptr.
    [[nodiscard]] value* find(std::string_view key) noexcept;
    [[nodiscard]] const value* find(std::string_view key) const noexcept;
    [[nodiscard]] bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
    /// Inserts `undefined` under `key` when missing (keeps the position of an existing key).
    value& operator[](std::string_view key);
    /// Sets `key` to `v`; an existing member keeps its position.
    void insert_or_assign(std::string_view key, value v);
    bool erase(std::string_view key);

    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
    void reserve(std::size_t n) { entries_.reserve(n); }
    // Iterators give access to values; changing a key through one is not supported.
    iterator begin() noexcept { return entries_.begin(); }
    iterator end() noexcept { return entries_.end(); }
    const_iterator begin() const noexcept { return entries_.begin(); }
    const_iterator end() const noexcept { return entries_.end(); }

    friend bool operator==(const object& a, const object& b);

private:
    // Small objects are searched linearly; past index_threshold members a hash index (hash of
    // key -> position) keeps lookups and inserts O(1), so decoding a large map is linear.
    static constexpr std::size_t index_threshold = 16;
    struct index;
    void rebuild_index();
    void index_new_entry();

    std::vector<entry> entries_;
    std::unique_ptr<index> index_;
};

enum class value_kind : std::uint8_t {
    undefined,
    null,
    boolean,
    integer,
    number,
    bigint,
    string,
    binary,
    array,
    object,
};

/// The name of a kind, for error messages ("integer", "string", ...).
[[nodiscard]] std::string_view kind_name(value_kind kind) noexcept;

class value {
public:
    value() noexcept = default;  // undefined
    value(undefined_t) noexcept {}
    value(null_t) noexcept : data_(null_t{}) {}
    value(std::nullptr_t) noexcept : data_(null_t{}) {}
    value(bool b) noexcept : data_(b) {}
    /// Integers; an unsigned value above INT64_MAX becomes a number (double), as in JS.
    template <class I>
        requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && !std::is_same_v<I, char>)
    value(I i) noexcept {
        if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
            if (i > static_cast<I>(INT64_MAX)) {
                data_ = static_cast<double>(i);
                return;
            }
        }
        data_ = static_cast<std::int64_t>(i);
    }
    value(double d) noexcept : data_(d) {}
    value(float f) noexcept : data_(static_cast<double>(f)) {}
    value(bigint b) noexcept : data_(b) {}
    value(std::string s) noexcept : data_(std::move(s)) {}
    value(std::string_view s) : data_(std::string(s)) {}
    value(const char* s) : data_(std::string(s)) {}
    value(bytes b) noexcept : data_(std::move(b)) {}
    value(rivetkit::array a) noexcept : data_(std::move(a)) {}
    value(rivetkit::object o) noexcept : data_(std::move(o)) {}

    [[nodiscard]] value_kind kind() const noexcept { return static_cast<value_kind>(data_.index()); }

    [[nodiscard]] bool is_undefined() const noexcept { return kind() == value_kind::undefined; }
    [[nodiscard]] bool is_null() const noexcept { return kind() == value_kind::null; }
    /// null or undefined.
    [[nodiscard]] bool is_nullish() const noexcept { return is_undefined() || is_null(); }
    [[nodiscard]] bool is_bool() const noexcept { return kind() == value_kind::boolean; }
    [[nodiscard]] bool is_integer() const noexcept { return kind() == value_kind::integer; }
    [[nodiscard]] bool is_number() const noexcept { return kind() == value_kind::number; }
    [[nodiscard]] bool is_bigint() const noexcept { return kind() == value_kind::bigint; }
    /// integer, number or bigint.
    [[nodiscard]] bool is_numeric() const noexcept {
        return is_integer() || is_number() || is_bigint();
    }
    [[nodiscard]] bool is_string() const noexcept { return kind() == value_kind::string; }
    [[nodiscard]] bool is_binary() const noexcept { return kind() == value_kind::binary; }
    [[nodiscard]] bool is_array() const noexcept { return kind() == value_kind::array; }
    [[nodiscard]] bool is_object() const noexcept { return kind() == value_kind::object; }

    // Checked accessors: throw rivetkit::conversion_error on a kind mismatch.
    [[nodiscard]] bool as_bool() const;
    /// integer, integral number in range, or bigint.
    [[nodiscard]] std::int64_t as_int() const;
    /// any numeric kind as a double.
    [[nodiscard]] double as_double() const;
    [[nodiscard]] const std::string& as_string() const;
    [[nodiscard]] std::string& as_string();
    [[nodiscard]] const bytes& as_binary() const;
    [[nodiscard]] bytes& as_binary();
    [[nodiscard]] const rivetkit::array& as_array() const;
    [[nodiscard]] rivetkit::array& as_array();
    [[nodiscard]] const rivetkit::object& as_object() const;
    [[nodiscard]] rivetkit::object& as_object();

    /// Object member access; a non-object or a missing member reads as undefined.
    [[nodiscard]] const value& operator[](std::string_view key) const noexcept;
    /// Object member access; turns undefined/null into an empty object first.
    value& operator[](std::string_view key);
    value& operator[](const char* key) { return (*this)[std::string_view(key)]; }
    const value& operator[](const char* key) const noexcept { return (*this)[std::string_view(key)]; }
    /// Array element access; out of range reads as undefined.
    [[nodiscard]] const value& at(std::size_t index) const noexcept;

    /// Number of array elements or object members; 0 otherwise.
    [[nodiscard]] std::size_t size() const noexcept;

    friend bool operator==(const value& a, const value& b);

    /// A compact human-readable rendering (JSON-like), for logs and error messages.
    [[nodiscard]] std::string to_debug_string() const;

private:
    std::variant<undefined_t, null_t, bool, std::int64_t, double, bigint, std::string, bytes,
                 rivetkit::array, rivetkit::object>
        data_;
};

}  // namespace rivetkit
