// client_cli: a small command-line client for any RivetKit server (ours or the TypeScript
// reference), built on rivetkit::create_client.
//
//   client_cli [options] call    <actor> <key> <action> [arg...]
//   client_cli [options] connect <actor> <key> --on <event>... [--call <action> [arg...]]
//   client_cli [options] resolve <actor> <key>
//   client_cli [options] fetch   <actor> <key> <path> [--method M] [--body TEXT]
//
// <key> is one key component, or a JSON array of components ('["org","room 1"]'); each <arg>
// is JSON ('5', '"text"', '{"a":1}'). Results and events are printed as JSON on stdout, one per
// line; errors as "error <group>/<code>: <message>" on stderr (exit status 1).
//
// Options:
//   --endpoint URL      default: RIVET_ENGINE, else RIVET_ENDPOINT, else http://127.0.0.1:6420
//   --encoding E        bare (default), cbor or json
//   --token T           default: RIVET_TOKEN
//   --namespace N       default: RIVET_NAMESPACE, else "default"
//   --params JSON       connection params
//   --input JSON        creation input (when the actor is created)
//   --get               address an existing actor only (no creation)
//   --id                <key> is an actor id (get_for_id)
//   --count N           connect: exit after N events (default: run until Ctrl-C)
//   --timeout SECONDS   connect: exit after this long (status 0 if --count was reached)
//
// Example, against `counter` (examples/counter) on the default port:
//   client_cli call counter demo increment 5
//   client_cli connect counter demo --on newCount --count 1 --call increment 1

#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <rivetkit/client.hpp>

namespace cli {

using json = nlohmann::ordered_json;  // keeps object members in order

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

rivetkit::value to_value(const json& j) {
    switch (j.type()) {
        case json::value_t::null: return nullptr;
        case json::value_t::boolean: return j.get<bool>();
        case json::value_t::number_integer: return j.get<std::int64_t>();
        case json::value_t::number_unsigned: return j.get<std::uint64_t>();
        case json::value_t::number_float: return j.get<double>();
        case json::value_t::string: return j.get<std::string>();
        case json::value_t::array: {
            rivetkit::array a;
            for (const auto& e : j) a.push_back(to_value(e));
            return a;
        }
        case json::value_t::object: {
            rivetkit::object o;
            for (const auto& [k, v] : j.items()) o.insert_or_assign(k, to_value(v));
            return o;
        }
        default: return {};
    }
}

json to_json(const rivetkit::value& v) {
    switch (v.kind()) {
        case rivetkit::value_kind::undefined:
        case rivetkit::value_kind::null: return nullptr;
        case rivetkit::value_kind::boolean: return v.as_bool();
        case rivetkit::value_kind::integer: return v.as_int();
        case rivetkit::value_kind::number: return v.as_double();
        case rivetkit::value_kind::string: return v.as_string();
        case rivetkit::value_kind::array: {
            json a = json::array();
            for (const auto& e : v.as_array()) a.push_back(to_json(e));
            return a;
        }
        case rivetkit::value_kind::object: {
            json o = json::object();
            for (const auto& [k, e] : v.as_object()) o[k] = to_json(e);
            return o;
        }
        default: return v.to_debug_string();  // bigint, binary: shown, not round-tripped
    }
}

json parse_json(std::string_view what, const std::string& text) {
    try {
        return json::parse(text);
    } catch (const json::exception&) {
        throw usage_error(std::string(what) + " is not valid JSON: " + text);
    }
}

struct command_line {
    rivetkit::client_options options;
    std::string command;
    std::vector<std::string> positional;
    std::vector<std::string> events;
    std::optional<std::string> connect_call;
    std::vector<std::string> connect_call_args;
    rivetkit::value params;
    rivetkit::value input;
    bool get_only = false;
    bool by_id = false;
    std::optional<std::size_t> count;
    std::optional<std::chrono::milliseconds> timeout;
    std::string method = "GET";
    std::optional<std::string> body;
};

command_line parse(int argc, char** argv) {
    command_line cl;
    std::vector<std::string> args(argv + 1, argv + argc);
    auto value_of = [&](std::size_t& i) -> const std::string& {
        if (i + 1 >= args.size()) throw usage_error(args[i] + " needs a value");
        return args[++i];
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--endpoint") {
            cl.options.endpoint = value_of(i);
        } else if (a == "--encoding") {
            const std::string& e = value_of(i);
            if (e == "bare") {
                cl.options.encoding = rivetkit::client_encoding::bare;
            } else if (e == "cbor") {
                cl.options.encoding = rivetkit::client_encoding::cbor;
            } else if (e == "json") {
                cl.options.encoding = rivetkit::client_encoding::json;
            } else {
                throw usage_error("unknown encoding " + e + " (bare, cbor or json)");
            }
        } else if (a == "--token") {
            cl.options.token = value_of(i);
        } else if (a == "--namespace") {
            cl.options.namespace_name = value_of(i);
        } else if (a == "--params") {
            cl.params = to_value(parse_json("--params", value_of(i)));
        } else if (a == "--input") {
            cl.input = to_value(parse_json("--input", value_of(i)));
        } else if (a == "--get") {
            cl.get_only = true;
        } else if (a == "--id") {
            cl.by_id = true;
        } else if (a == "--on") {
            cl.events.push_back(value_of(i));
        } else if (a == "--count") {
            cl.count = static_cast<std::size_t>(std::stoul(value_of(i)));
        } else if (a == "--timeout") {
            cl.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(std::stod(value_of(i)) * 1000));
        } else if (a == "--method") {
            cl.method = value_of(i);
        } else if (a == "--body") {
            cl.body = value_of(i);
        } else if (a == "--call") {
            // Everything after --call is the action and its arguments.
            cl.connect_call = value_of(i);
            cl.connect_call_args.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            break;
        } else if (a == "--help" || a == "-h") {
            throw usage_error("");
        } else if (a.starts_with("--")) {
            throw usage_error("unknown option " + a);
        } else if (cl.command.empty()) {
            cl.command = a;
        } else {
            cl.positional.push_back(a);
        }
    }
    if (cl.command.empty()) throw usage_error("no command");
    if (cl.command != "call" && cl.command != "connect" && cl.command != "resolve" && cl.command != "fetch") {
        throw usage_error("unknown command " + cl.command);
    }
    return cl;
}

rivetkit::actor_key parse_key(const std::string& text) {
    if (!text.starts_with("[")) return rivetkit::actor_key{text};
    const json j = parse_json("the key", text);
    rivetkit::actor_key key;
    for (const auto& part : j) {
        if (!part.is_string()) throw usage_error("key components must be strings: " + text);
        key.push_back(part.get<std::string>());
    }
    return key;
}

rivetkit::array parse_args(const std::vector<std::string>& texts) {
    rivetkit::array out;
    for (const auto& t : texts) out.push_back(to_value(parse_json("an argument", t)));
    return out;
}

rivetkit::actor_handle handle_for(const rivetkit::client& client, const command_line& cl) {
    if (cl.positional.size() < 2) throw usage_error(cl.command + " needs <actor> <key>");
    const std::string& name = cl.positional[0];
    if (cl.by_id) return client.get_for_id(name, cl.positional[1], {cl.params});
    if (cl.get_only) return client.get(name, parse_key(cl.positional[1]), {cl.params});
    rivetkit::create_options co;
    co.input = cl.input;
    co.params = cl.params;
    return client.get_or_create(name, parse_key(cl.positional[1]), std::move(co));
}

/// Ctrl-C ends `connect`: the handler only sets a flag; the main thread polls it.
std::atomic<bool> interrupted{false};
extern "C" void on_signal(int) { interrupted.store(true); }

int run_connect(const rivetkit::client& client, const command_line& cl) {
    if (cl.events.empty() && !cl.connect_call) throw usage_error("connect needs --on <event> (or --call)");
    auto call_args = parse_args(cl.connect_call_args);
    auto conn = handle_for(client, cl).connect();
    std::mutex m;
    std::condition_variable cv;
    std::size_t seen = 0;
    for (const auto& event : cl.events) {
        conn.on(event, [&, event](const rivetkit::array& args) {
            std::lock_guard lock(m);
            std::cout << json{{"event", event}, {"args", to_json(rivetkit::value(args))}}.dump() << std::endl;
            ++seen;
            cv.notify_all();
        });
    }
    conn.on_status([](rivetkit::connection_status s) {
        static constexpr const char* names[] = {"connecting", "connected", "disconnected", "disposed"};
        std::cerr << "status " << names[static_cast<int>(s)] << std::endl;
    });
    conn.on_error([](const rivetkit::client_error& e) {
        std::cerr << "connection error " << e.group << "/" << e.code << ": " << e.message << std::endl;
    });
    conn.wait_connected();
    if (cl.connect_call) {
        const rivetkit::value result = conn.action(*cl.connect_call, std::move(call_args));
        std::lock_guard lock(m);
        std::cout << json{{"result", to_json(result)}}.dump() << std::endl;
    }
    const auto deadline = cl.timeout ? std::chrono::steady_clock::now() + *cl.timeout
                                     : std::chrono::steady_clock::time_point::max();
    bool reached = false;
    {
        std::unique_lock lock(m);
        // Wakes every 100 ms to notice Ctrl-C (a signal handler cannot notify a condition
        // variable safely).
        while (!interrupted.load()) {
            if (cl.count && seen >= *cl.count) {
                reached = true;
                break;
            }
            if (cl.events.empty() || std::chrono::steady_clock::now() >= deadline) break;
            cv.wait_for(lock, std::chrono::milliseconds(100));
        }
    }
    conn.dispose();
    if (cl.count && !reached) {
        std::cerr << "got " << seen << " of " << *cl.count << " events" << std::endl;
        return 1;
    }
    return 0;
}

int run(const command_line& cl) {
    if (cl.command == "call") {
        if (cl.positional.size() < 3) throw usage_error("call needs <actor> <key> <action> [arg...]");
        auto args = parse_args(std::vector<std::string>(cl.positional.begin() + 3, cl.positional.end()));
        auto client = rivetkit::create_client(cl.options);
        const rivetkit::value result = handle_for(client, cl).action(cl.positional[2], std::move(args));
        std::cout << to_json(result).dump() << std::endl;
        return 0;
    }
    auto client = rivetkit::create_client(cl.options);
    if (cl.command == "connect") return run_connect(client, cl);
    if (cl.command == "resolve") {
        std::cout << handle_for(client, cl).resolve() << std::endl;
        return 0;
    }
    if (cl.command == "fetch") {
        if (cl.positional.size() < 3) throw usage_error("fetch needs <actor> <key> <path>");
        rivetkit::http_request req;
        req.method = cl.method;
        const std::string& target = cl.positional[2];
        const auto q = target.find('?');
        req.path = target.substr(0, q);
        if (q != std::string::npos) req.query = target.substr(q + 1);
        if (cl.body) req.body = *cl.body;
        const auto res = handle_for(client, cl).fetch(std::move(req));
        std::cerr << "status " << res.status << std::endl;
        std::cout << res.body << std::endl;
        return res.status < 400 ? 0 : 1;
    }
    throw usage_error("unknown command " + cl.command);
}

}  // namespace cli

int main(int argc, char** argv) {
    try {
        const auto cl = cli::parse(argc, argv);
        ::signal(SIGINT, cli::on_signal);
        ::signal(SIGTERM, cli::on_signal);
        return cli::run(cl);
    } catch (const cli::usage_error& e) {
        if (*e.what()) std::cerr << "client_cli: " << e.what() << "\n";
        std::cerr << "usage: client_cli [options] call <actor> <key> <action> [json-arg...]\n"
                     "       client_cli [options] connect <actor> <key> --on <event>... [--count N]"
                     " [--timeout S] [--call <action> [json-arg...]]\n"
                     "       client_cli [options] resolve <actor> <key>\n"
                     "       client_cli [options] fetch <actor> <key> <path> [--method M] [--body TEXT]\n"
                     "options: --endpoint URL --encoding bare|cbor|json --token T --namespace N\n"
                     "         --params JSON --input JSON --get --id\n";
        return 2;
    } catch (const rivetkit::error& e) {
        std::cerr << "error " << e.group() << "/" << e.code() << ": " << e.message() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "client_cli: " << e.what() << "\n";
        return 1;
    }
}
