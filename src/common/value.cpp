#include "rivetkit/value.hpp"

#include <cmath>
#include <limits>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "common/json.hpp"
#include "rivetkit/convert.hpp"
#include "rivetkit/error.hpp"

namespace rivetkit {

struct object::index {
    std::unordered_multimap<std::size_t, std::size_t> positions;  // hash(key) -> entry position
};

namespace {
std::size_t key_hash(std::string_view key) noexcept { return std::hash<std::string_view>{}(key); }
}  // namespace

object::object(std::initializer_list<entry> entries) {
    entries_.reserve(entries.size());
    for (const auto& e : entries) insert_or_assign(e.first, e.second);
}

object::object(const object& other) : entries_(other.entries_) {
    if (other.index_) index_ = std::make_unique<index>(*other.index_);
}

object& object::operator=(const object& other) {
    if (this != &other) {
        entries_ = other.entries_;
        index_ = other.index_ ? std::make_unique<index>(*other.index_) : nullptr;
    }
    return *this;
}

object::object() noexcept = default;
object::object(object&&) noexcept = default;
object& object::operator=(object&&) noexcept = default;
object::~object() = default;

void object::rebuild_index() {
    if (entries_.size() <= index_threshold) {
        index_.reset();
        return;
    }
    if (!index_) index_ = std::make_unique<index>();
    index_->positions.clear();
    index_->positions.reserve(entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i) index_->positions.emplace(key_hash(entries_[i].first), i);
}

void object::index_new_entry() {
    if (index_) {
        index_->positions.emplace(key_hash(entries_.back().first), entries_.size() - 1);
    } else if (entries_.size() > index_threshold) {
        rebuild_index();
    }
}

value* object::find(std::string_view key) noexcept {
    return const_cast<value*>(std::as_const(*this).find(key));
}

const value* object::find(std::string_view key) const noexcept {
    if (index_) {
        auto [first, last] = index_->positions.equal_range(key_hash(key));
        for (auto it = first; it != last; ++it) {
            const auto& e = entries_[it->second];
            if (e.first == key) return &e.second;
        }
        return nullptr;
    }
    for (const auto& e : entries_) {
        if (e.first == key) return &e.second;
    }
    return nullptr;
}

value& object::operator[](std::string_view key) {
    if (value* v = find(key)) return *v;
    entries_.emplace_back(std::string(key), value{});
    index_new_entry();
    return entries_.back().second;
}

void object::insert_or_assign(std::string_view key, value v) {
    if (value* existing = find(key)) {
        *existing = std::move(v);
    } else {
        entries_.emplace_back(std::string(key), std::move(v));
        index_new_entry();
    }
}

bool object::erase(std::string_view key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->first == key) {
            entries_.erase(it);
            rebuild_index();  // positions after it shifted
            return true;
        }
    }
    return false;
}

// Objects compare like JS structural equality of plain objects: same members, any order.
bool operator==(const object& a, const object& b) {
    if (a.size() != b.size()) return false;
    for (const auto& [k, v] : a) {
        const value* other = b.find(k);
        if (other == nullptr || !(*other == v)) return false;
    }
    return true;
}

std::string_view kind_name(value_kind kind) noexcept {
    switch (kind) {
        case value_kind::undefined: return "undefined";
        case value_kind::null: return "null";
        case value_kind::boolean: return "boolean";
        case value_kind::integer: return "integer";
        case value_kind::number: return "number";
        case value_kind::bigint: return "bigint";
        case value_kind::string: return "string";
        case value_kind::binary: return "binary";
        case value_kind::array: return "array";
        case value_kind::object: return "object";
    }
    return "unknown";
}

namespace detail {
void throw_kind_mismatch(std::string_view expected, const value& got) {
    throw conversion_error("", fmt::format("expected {}, got {}", expected, kind_name(got.kind())));
}
void throw_out_of_range(std::string_view type_name, const value& got) {
    throw conversion_error("", fmt::format("{} out of range of {}", got.to_debug_string(), type_name));
}
}  // namespace detail

bool value::as_bool() const {
    if (!is_bool()) detail::throw_kind_mismatch("boolean", *this);
    return std::get<bool>(data_);
}

std::int64_t value::as_int() const {
    switch (kind()) {
        case value_kind::integer: return std::get<std::int64_t>(data_);
        case value_kind::bigint: return std::get<bigint>(data_).value;
        case value_kind::number: {
            double d = std::get<double>(data_);
            // 2^63 is exactly representable; anything >= it does not fit.
            if (std::trunc(d) != d || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
                detail::throw_out_of_range("integer", *this);
            }
            return static_cast<std::int64_t>(d);
        }
        default: detail::throw_kind_mismatch("integer", *this);
    }
}

double value::as_double() const {
    switch (kind()) {
        case value_kind::integer: return static_cast<double>(std::get<std::int64_t>(data_));
        case value_kind::bigint: return static_cast<double>(std::get<bigint>(data_).value);
        case value_kind::number: return std::get<double>(data_);
        default: detail::throw_kind_mismatch("number", *this);
    }
}

#define RIVETKIT_VALUE_ACCESSOR(ret, fn, alt, name)                   \
    const ret& value::fn() const {                                    \
        if (!std::holds_alternative<alt>(data_)) {                    \
            detail::throw_kind_mismatch(name, *this);                 \
        }                                                             \
        return std::get<alt>(data_);                                  \
    }                                                                 \
    ret& value::fn() {                                                \
        if (!std::holds_alternative<alt>(data_)) {                    \
            detail::throw_kind_mismatch(name, *this);                 \
        }                                                             \
        return std::get<alt>(data_);                                  \
    }

RIVETKIT_VALUE_ACCESSOR(std::string, as_string, std::string, "string")
RIVETKIT_VALUE_ACCESSOR(bytes, as_binary, bytes, "binary")
RIVETKIT_VALUE_ACCESSOR(rivetkit::array, as_array, rivetkit::array, "array")
RIVETKIT_VALUE_ACCESSOR(rivetkit::object, as_object, rivetkit::object, "object")
#undef RIVETKIT_VALUE_ACCESSOR

namespace {
const value& undefined_value() {
    static const value v;
    return v;
}
}  // namespace

const value& value::operator[](std::string_view key) const noexcept {
    if (const auto* o = std::get_if<rivetkit::object>(&data_)) {
        if (const value* v = o->find(key)) return *v;
    }
    return undefined_value();
}

value& value::operator[](std::string_view key) {
    if (is_nullish()) data_ = rivetkit::object{};
    return as_object()[key];
}

const value& value::at(std::size_t index) const noexcept {
    if (const auto* a = std::get_if<rivetkit::array>(&data_)) {
        if (index < a->size()) return (*a)[index];
    }
    return undefined_value();
}

std::size_t value::size() const noexcept {
    if (const auto* a = std::get_if<rivetkit::array>(&data_)) return a->size();
    if (const auto* o = std::get_if<rivetkit::object>(&data_)) return o->size();
    return 0;
}

bool operator==(const value& a, const value& b) { return a.data_ == b.data_; }

namespace {

void append_debug(std::string& out, const value& v) {
    switch (v.kind()) {
        case value_kind::undefined: out += "undefined"; break;
        case value_kind::null: out += "null"; break;
        case value_kind::boolean: out += v.as_bool() ? "true" : "false"; break;
        case value_kind::integer: out += std::to_string(v.as_int()); break;
        case value_kind::number: out += fmt::format("{}", v.as_double()); break;
        case value_kind::bigint: out += std::to_string(v.as_int()) + "n"; break;
        case value_kind::string: json::append_string(out, v.as_string()); break;
        case value_kind::binary: out += fmt::format("<{} bytes>", v.as_binary().size()); break;
        case value_kind::array: {
            out += '[';
            bool first = true;
            for (const auto& x : v.as_array()) {
                if (!first) out += ',';
                first = false;
                append_debug(out, x);
            }
            out += ']';
            break;
        }
        case value_kind::object: {
            out += '{';
            bool first = true;
            for (const auto& [k, x] : v.as_object()) {
                if (!first) out += ',';
                first = false;
                json::append_string(out, k);
                out += ':';
                append_debug(out, x);
            }
            out += '}';
            break;
        }
    }
}
}  // namespace

std::string value::to_debug_string() const {
    std::string out;
    append_debug(out, *this);
    return out;
}

}  // namespace rivetkit
