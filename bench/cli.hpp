#pragma once
// The `--name value` options of the in-process benchmarks (inprocess_actions, inprocess_ceiling,
// durability): each names a number or a string to set; anything else stops the program.

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

namespace bench {

struct number_option {
    const char* name;
    std::size_t* target;
};

struct text_option {
    const char* name;
    std::string* target;
};

inline void parse_options(int argc, char** argv, std::initializer_list<number_option> numbers,
                          std::initializer_list<text_option> texts = {}) {
    for (int i = 1; i < argc; i += 2) {
        const std::string name = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "option %s needs a value\n", name.c_str());
            std::exit(2);
        }
        bool known = false;
        for (const auto& o : numbers) {
            if (name == o.name) {
                *o.target = std::strtoull(argv[i + 1], nullptr, 10);
                known = true;
            }
        }
        for (const auto& o : texts) {
            if (name == o.name) {
                *o.target = argv[i + 1];
                known = true;
            }
        }
        if (!known) {
            std::fprintf(stderr, "unknown option %s\n", name.c_str());
            std::exit(2);
        }
    }
}

}  // namespace bench
