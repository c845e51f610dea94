#pragma once
// A string usable as a template argument: action names are part of a definition's type, so a
// typed client handle can check them at compile time.

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace rivetkit::detail {

template <std::size_t N>
struct fixed_string {
    char chars[N]{};

    constexpr fixed_string(const char (&s)[N]) { std::copy_n(s, N, chars); }
    [[nodiscard]] constexpr std::string_view view() const noexcept { return {chars, N - 1}; }
    template <std::size_t M>
    constexpr bool operator==(const fixed_string<M>& other) const noexcept {
        return view() == other.view();
    }
};

}  // namespace rivetkit::detail
