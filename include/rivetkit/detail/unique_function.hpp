#pragma once
// A move-only std::function (std::move_only_function is C++23): completion handlers of Asio
// coroutines are move-only, and timers and events must store them.
//
// Callables of up to `inline_size` bytes whose move cannot throw are kept inside the object
// (a resumed coroutine's handler, a lambda holding a shared_ptr or two); larger ones go to the
// heap.

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace rivetkit::detail {

template <class Signature>
class unique_function;

template <class R, class... Args>
class unique_function<R(Args...)> {
public:
    static constexpr std::size_t inline_size = 48;

    unique_function() noexcept = default;
    unique_function(std::nullptr_t) noexcept {}
    template <class F>
        requires(!std::is_same_v<std::decay_t<F>, unique_function> && std::is_invocable_r_v<R, F&, Args...>)
    unique_function(F&& f) {
        using fn = std::decay_t<F>;
        if constexpr (stored_inline<fn>) {
            ::new (static_cast<void*>(buffer_)) fn(std::forward<F>(f));
            ops_ = &inline_ops<fn>;
        } else {
            ::new (static_cast<void*>(buffer_)) fn*(new fn(std::forward<F>(f)));
            ops_ = &heap_ops<fn>;
        }
    }

    unique_function(unique_function&& other) noexcept { take(other); }
    unique_function& operator=(unique_function&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    unique_function(const unique_function&) = delete;
    unique_function& operator=(const unique_function&) = delete;
    ~unique_function() { reset(); }

    explicit operator bool() const noexcept { return ops_ != nullptr; }
    R operator()(Args... args) { return ops_->call(buffer_, std::forward<Args>(args)...); }

private:
    template <class F>
    static constexpr bool stored_inline = sizeof(F) <= inline_size && alignof(F) <= alignof(std::max_align_t) &&
                                          std::is_nothrow_move_constructible_v<F>;

    struct operations {
        R (*call)(unsigned char*, Args&&...);
        // Moves the callable from `from` into the empty `to`, leaving `from` empty.
        void (*relocate)(unsigned char* from, unsigned char* to) noexcept;
        void (*destroy)(unsigned char*) noexcept;
    };

    template <class F>
    static F& inline_object(unsigned char* b) noexcept {
        return *std::launder(reinterpret_cast<F*>(b));
    }
    template <class F>
    static constexpr operations inline_ops{
        [](unsigned char* b, Args&&... args) -> R { return inline_object<F>(b)(std::forward<Args>(args)...); },
        [](unsigned char* from, unsigned char* to) noexcept {
            ::new (static_cast<void*>(to)) F(std::move(inline_object<F>(from)));
            inline_object<F>(from).~F();
        },
        [](unsigned char* b) noexcept { inline_object<F>(b).~F(); },
    };

    template <class F>
    static F*& heap_object(unsigned char* b) noexcept {
        return *std::launder(reinterpret_cast<F**>(b));
    }
    template <class F>
    static constexpr operations heap_ops{
        [](unsigned char* b, Args&&... args) -> R { return (*heap_object<F>(b))(std::forward<Args>(args)...); },
        [](unsigned char* from, unsigned char* to) noexcept { ::new (static_cast<void*>(to)) F*(heap_object<F>(from)); },
        [](unsigned char* b) noexcept { delete heap_object<F>(b); },
    };

    void take(unique_function& other) noexcept {
        if (!other.ops_) return;
        other.ops_->relocate(other.buffer_, buffer_);
        ops_ = std::exchange(other.ops_, nullptr);
    }
    void reset() noexcept {
        if (ops_) std::exchange(ops_, nullptr)->destroy(buffer_);
    }

    alignas(std::max_align_t) unsigned char buffer_[inline_size];
    const operations* ops_ = nullptr;
};

}  // namespace rivetkit::detail
