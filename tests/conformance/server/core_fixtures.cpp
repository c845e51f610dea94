// The core fixture actors: counters, lifecycle hooks, scheduling, sleep, errors, the inline
// client, creation input, action timeouts and action kinds (driver-test-suite.md, Part 2).

#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"

namespace conformance {

namespace {

using std::chrono::milliseconds;

// ---- counter.ts --------------------------------------------------------------------------

struct counter_state {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(counter_state, count)

/// `counter`: a count, broadcast as `newCount` on every change.
const auto counter = rivetkit::actor<counter_state>()
    .action<"increment">([](auto& c, std::int64_t x) {
        c.state().count += x;
        c.broadcast("newCount", c.state().count);
        return c.state().count;
    })
    .action<"setCount">([](auto& c, std::int64_t x) {
        c.state().count = x;
        c.broadcast("newCount", x);
        return c.state().count;
    })
    .action<"getCount">([](auto& c) { return std::as_const(c).state().count; });

// ---- counter-conn.ts ---------------------------------------------------------------------

struct counter_conn_state {
    std::int64_t connectionCount = 0;
};
RIVETKIT_FIELDS(counter_conn_state, connectionCount)

struct per_conn_count {
    std::int64_t count = 0;
};
RIVETKIT_FIELDS(per_conn_count, count)

/// `counterConn`: a count per connection, and the number of open connections.
const auto counter_conn = rivetkit::actor<counter_conn_state, per_conn_count>()
    .on_connect([](auto& c, const auto&) { c.state().connectionCount += 1; })
    .on_disconnect([](auto& c, const auto&) { c.state().connectionCount -= 1; })
    .action<"increment">([](auto& c, std::int64_t x) {
        c.conn().state().count += x;
        c.broadcast("newCount", c.conn().state().count);
    })
    .action<"setCount">([](auto& c, std::int64_t x) {
        c.conn().state().count = x;
        c.broadcast("newCount", x);
    })
    .action<"getCount">([](auto& c) { return c.conn().state().count; })
    .action<"getConnectionCount">([](auto& c) { return std::as_const(c).state().connectionCount; });

// ---- lifecycle.ts ------------------------------------------------------------------------

struct lifecycle_state {
    std::int64_t count = 0;
    std::vector<std::string> events;
};
RIVETKIT_FIELDS(lifecycle_state, count, events)

struct lifecycle_params {
    bool trackLifecycle = false;
};
RIVETKIT_FIELDS(lifecycle_params, trackLifecycle)

struct lifecycle_conn_state {
    std::int64_t joinTime = 0;
};
RIVETKIT_FIELDS(lifecycle_conn_state, joinTime)

/// `counterWithLifecycle`: records every wake, and the connection hooks of connections whose
/// params ask for it (`{trackLifecycle: true}`).
const auto counter_with_lifecycle = rivetkit::actor<lifecycle_state, lifecycle_conn_state, lifecycle_params>()
    .create_conn_state([](auto& c, const lifecycle_params&) { return lifecycle_conn_state{c.now_ms()}; })
    .on_wake([](auto& c) { c.state().events.push_back("onWake"); })
    .on_before_connect([](auto& c, const lifecycle_params& params) {
        if (params.trackLifecycle) c.state().events.push_back("onBeforeConnect");
    })
    .on_connect([](auto& c, const auto& conn) {
        if (conn.params().trackLifecycle) c.state().events.push_back("onConnect");
    })
    .on_disconnect([](auto& c, const auto& conn) {
        if (conn.params().trackLifecycle) c.state().events.push_back("onDisconnect");
    })
    .action<"getEvents">([](auto& c) { return std::as_const(c).state().events; })
    .action<"increment">([](auto& c, std::int64_t x) {
        c.state().count += x;
        return c.state().count;
    });

// ---- scheduled.ts ------------------------------------------------------------------------

struct scheduled_state {
    std::int64_t lastRun = 0;
    std::int64_t scheduledCount = 0;
    std::vector<std::string> taskHistory;
};
RIVETKIT_FIELDS(scheduled_state, lastRun, scheduledCount, taskHistory)

struct scheduled_task {
    std::string taskId;
    std::int64_t scheduledFor = 0;
};
RIVETKIT_FIELDS(scheduled_task, taskId, scheduledFor)

/// `scheduled`: schedules `onScheduledTask` / `onScheduledTaskWithId` and records their runs.
const auto scheduled = rivetkit::actor<scheduled_state>()
    .action<"scheduleTaskAt">([](auto& c, std::int64_t ts) {
        c.schedule().at(ts, "onScheduledTask");
        return ts;
    })
    .action<"scheduleTaskAfter">([](auto& c, std::int64_t ms) {
        c.schedule().after(ms, "onScheduledTask");
        return c.now_ms() + ms;
    })
    .action<"scheduleTaskAfterWithId">([](auto& c, std::string taskId, std::int64_t ms) {
        c.schedule().after(ms, "onScheduledTaskWithId", taskId);
        return scheduled_task{std::move(taskId), c.now_ms() + ms};
    })
    .action<"scheduleTask">([](auto& c, std::int64_t ms) {
        const std::int64_t ts = c.now_ms() + ms;
        c.schedule().at(ts, "onScheduledTask");
        return ts;
    })
    .action<"getLastRun">([](auto& c) { return std::as_const(c).state().lastRun; })
    .action<"getScheduledCount">([](auto& c) { return std::as_const(c).state().scheduledCount; })
    .action<"getTaskHistory">([](auto& c) { return std::as_const(c).state().taskHistory; })
    .action<"clearHistory">([](auto& c) {
        c.state() = scheduled_state{};
        return true;
    })
    .action<"onScheduledTask">([](auto& c) {
        auto& s = c.state();
        s.lastRun = c.now_ms();
        s.scheduledCount += 1;
        c.broadcast("scheduled", rivetkit::object{{"time", s.lastRun}, {"count", s.scheduledCount}});
    })
    .action<"onScheduledTaskWithId">([](auto& c, std::string taskId) {
        auto& s = c.state();
        s.lastRun = c.now_ms();
        s.scheduledCount += 1;
        s.taskHistory.push_back(taskId);
        c.broadcast("scheduledWithId",
                    rivetkit::object{{"taskId", taskId}, {"time", s.lastRun}, {"count", s.scheduledCount}});
    });

// ---- sleep.ts ----------------------------------------------------------------------------

constexpr milliseconds sleep_timeout{1000};  // SLEEP_TIMEOUT

struct sleep_state {
    std::int64_t startCount = 0;
    std::int64_t sleepCount = 0;
};
RIVETKIT_FIELDS(sleep_state, startCount, sleepCount)

struct sleep_http_state {
    std::int64_t startCount = 0;
    std::int64_t sleepCount = 0;
    std::int64_t requestCount = 0;
};
RIVETKIT_FIELDS(sleep_http_state, startCount, sleepCount, requestCount)

struct sleep_websocket_state {
    std::int64_t startCount = 0;
    std::int64_t sleepCount = 0;
    std::int64_t connectionCount = 0;
};
RIVETKIT_FIELDS(sleep_websocket_state, startCount, sleepCount, connectionCount)

/// The hooks and action every sleep actor shares: count starts and sleeps, report the counts.
constexpr auto count_start = [](auto& c) { c.state().startCount += 1; };
constexpr auto count_sleep = [](auto& c) { c.state().sleepCount += 1; };
constexpr auto get_counts = [](auto& c) { return std::as_const(c).state(); };

/// `sleep`: sleeps on request or after 1 s idle; `setAlarm` schedules `onAlarm`.
const auto sleep_actor = rivetkit::actor<sleep_state>()
    .options({.sleep_timeout = sleep_timeout})
    .on_wake(count_start)
    .on_sleep(count_sleep)
    .action<"triggerSleep">([](auto& c) { c.sleep(); })
    .action<"getCounts">(get_counts)
    .action<"setAlarm">([](auto& c, std::int64_t duration) { c.schedule().after(duration, "onAlarm"); })
    .action<"onAlarm">([](auto& c) { c.log().info("alarm called"); });

/// Vars of `sleepWithLongRpc`: the pending `longRunningRpc`, released by cancelling its timer
/// (a timer that never expires on its own, used as a deferred).
struct long_rpc_vars {
    std::shared_ptr<asio::steady_timer> long_running;
};

/// `sleepWithLongRpc`: `longRunningRpc` broadcasts `waiting` and stays in flight until
/// `finishLongRunningRpc`.
const auto sleep_with_long_rpc = rivetkit::actor<sleep_state, void, rivetkit::value, long_rpc_vars>()
    .options({.sleep_timeout = sleep_timeout})
    .on_wake(count_start)
    .on_sleep(count_sleep)
    .action<"getCounts">(get_counts)
    .action<"longRunningRpc">([](auto& c) -> rivetkit::task<void> {
        c.log().info("starting long running rpc");
        const auto executor = co_await asio::this_coro::executor;
        auto pending = std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
        c.vars().long_running = pending;
        c.broadcast("waiting");
        std::error_code released;  // operation_aborted: finishLongRunningRpc cancelled the timer
        auto wait = pending->async_wait(asio::redirect_error(asio::use_awaitable, released));
        co_await std::move(wait);
        c.log().info("finished long running rpc");
    })
    .action<"finishLongRunningRpc">([](auto& c) {
        if (const auto& pending = c.vars().long_running) pending->cancel();
    });

/// The value of `name` in a raw query string ("a=1&b=2"), if present.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    return std::nullopt;
}

/// `sleepWithRawHttp`: `/long-request?duration=<ms>` answers after `duration` (default 1000).
const auto sleep_with_raw_http = rivetkit::actor<sleep_http_state>()
    .options({.sleep_timeout = sleep_timeout})
    .on_wake(count_start)
    .on_sleep(count_sleep)
    .on_request([](auto& c, const rivetkit::http_request& req) -> rivetkit::task<rivetkit::http_response> {
        c.state().requestCount += 1;
        if (req.path != "/long-request") co_return rivetkit::http_response::text("Not Found", 404);
        std::int64_t duration = 1000;
        if (const auto d = query_param(req.query, "duration")) std::from_chars(d->data(), d->data() + d->size(), duration);
        c.log().info("starting long fetch request", {{"duration", duration}});
        auto wait = c.sleep_for(milliseconds(duration));
        co_await std::move(wait);
        c.log().info("finished long fetch request");
        co_return rivetkit::http_response::json(R"({"completed":true})");
    })
    .action<"getCounts">(get_counts);

/// `sleepWithRawWebSocket`: counts open raw WebSockets; answers `getCounts` and `keepAlive`
/// messages and echoes text that is not JSON.
const auto sleep_with_raw_websocket = rivetkit::actor<sleep_websocket_state>()
    .options({.sleep_timeout = sleep_timeout})
    .on_wake(count_start)
    .on_sleep(count_sleep)
    .on_websocket([](auto& c, std::shared_ptr<rivetkit::websocket> ws) {
        c.state().connectionCount += 1;
        ws->send(nlohmann::json{{"type", "connected"}, {"connectionCount", c.state().connectionCount}}.dump());
        ws->on_message([c, ws](const rivetkit::websocket_message& m) {
            if (m.binary) return;
            const auto msg = nlohmann::json::parse(m.data, nullptr, false);
            if (msg.is_discarded()) {
                ws->send(m.data);
                return;
            }
            const auto type = msg.is_object() ? msg.value("type", nlohmann::json()) : nlohmann::json();
            if (type == "getCounts") {
                const auto& s = c.state();
                ws->send(nlohmann::json{{"type", "counts"},
                                        {"startCount", s.startCount},
                                        {"sleepCount", s.sleepCount},
                                        {"connectionCount", s.connectionCount}}
                             .dump());
            } else if (type == "keepAlive") {
                ws->send(R"({"type":"ack"})");
            }
        });
        ws->on_close([c](std::uint16_t, const std::string&) mutable { c.state().connectionCount -= 1; });
    })
    .action<"getCounts">(get_counts);

/// `sleepWithNoSleepOption`: never idles out.
const auto sleep_with_no_sleep_option = rivetkit::actor<sleep_state>()
    .options({.sleep_timeout = sleep_timeout, .no_sleep = true})
    .on_wake(count_start)
    .on_sleep(count_sleep)
    .action<"getCounts">(get_counts);

// ---- error-handling.ts -------------------------------------------------------------------

struct error_log_state {
    std::vector<std::string> errorLog;
};
RIVETKIT_FIELDS(error_log_state, errorLog)

/// `errorHandlingActor`: user errors with and without metadata, an internal error, and slow
/// actions against a 500 ms action timeout.
const auto error_handling_actor = rivetkit::actor<error_log_state>()
    .options({.action_timeout = milliseconds(500)})
    .action<"throwSimpleError">([](auto&) { throw rivetkit::user_error("Simple error message"); })
    .action<"throwDetailedError">([](auto& c) {
        throw rivetkit::user_error("Detailed error message", "detailed_error",
                                   rivetkit::object{{"reason", "test"}, {"timestamp", c.now_ms()}});
    })
    .action<"throwInternalError">([](auto&) { throw std::runtime_error("This is an internal error"); })
    .action<"successfulAction">([](auto&) { return std::string("success"); })
    .action<"timeoutAction">([](auto& c) -> rivetkit::task<std::string> {
        auto wait = c.sleep_for(milliseconds(10'000));
        co_await std::move(wait);
        co_return "This should not be reached if timeout works";
    })
    .action<"delayedAction">([](auto& c, std::int64_t ms) -> rivetkit::task<std::string> {
        auto wait = c.sleep_for(milliseconds(ms));
        co_await std::move(wait);
        co_return "Completed after " + std::to_string(ms) + "ms";
    })
    .action<"logError">([](auto& c, std::string error) {
        c.state().errorLog.push_back(std::move(error));
        return std::as_const(c).state().errorLog;
    })
    .action<"getErrorLog">([](auto& c) { return std::as_const(c).state().errorLog; })
    .action<"clearErrorLog">([](auto& c) {
        c.state().errorLog.clear();
        return true;
    });

/// `customTimeoutActor`: a quick and a slow action against a 200 ms action timeout.
const auto custom_timeout_actor = rivetkit::actor<>()
    .options({.action_timeout = milliseconds(200)})
    .action<"quickAction">([](auto& c) -> rivetkit::task<std::string> {
        auto wait = c.sleep_for(milliseconds(50));
        co_await std::move(wait);
        co_return "Quick action completed";
    })
    .action<"slowAction">([](auto& c) -> rivetkit::task<std::string> {
        auto wait = c.sleep_for(milliseconds(300));
        co_await std::move(wait);
        co_return "Slow action completed";
    });

// ---- inline-client.ts --------------------------------------------------------------------

struct messages_state {
    std::vector<std::string> messages;
};
RIVETKIT_FIELDS(messages_state, messages)

struct connected_results {
    std::int64_t result1 = 0;
    std::int64_t result2 = 0;
    std::vector<std::int64_t> events;
};
RIVETKIT_FIELDS(connected_results, result1, result2, events)

/// `inlineClientActor`: calls `counter` through `c.client()`, statelessly and over a connection
/// whose `newCount` events it collects.
const auto inline_client_actor = rivetkit::actor<messages_state>()
    .action<"callCounterIncrement">([](auto& c, std::int64_t amount) -> rivetkit::task<std::int64_t> {
        auto h = c.client().get_or_create(counter, "counter", {"inline-test"});
        auto call = h.template async_call<"increment">(amount);
        const std::int64_t result = co_await std::move(call);
        c.state().messages.push_back("Called counter.increment(" + std::to_string(amount) +
                                     "), result: " + std::to_string(result));
        co_return result;
    })
    .action<"getCounterState">([](auto& c) -> rivetkit::task<std::int64_t> {
        auto h = c.client().get_or_create(counter, "counter", {"inline-test"});
        auto call = h.template async_call<"getCount">();
        const std::int64_t count = co_await std::move(call);
        c.state().messages.push_back("Got counter state: " + std::to_string(count));
        co_return count;
    })
    .action<"connectToCounterAndIncrement">([](auto& c, std::int64_t amount) -> rivetkit::task<connected_results> {
        auto conn = c.client().get_or_create(counter, "counter", {"inline-test-stateful"}).connect();
        // Listeners run on a client thread; once dispose() returns none runs again.
        auto events = std::make_shared<std::vector<std::int64_t>>();
        conn.on("newCount", [events](const rivetkit::array& args) { events->push_back(args.at(0).as_int()); });
        auto first = conn.template async_call<"increment">(amount);
        const std::int64_t result1 = co_await std::move(first);
        auto second = conn.template async_call<"increment">(amount * 2);
        const std::int64_t result2 = co_await std::move(second);
        conn.dispose();
        c.state().messages.push_back("Connected to counter, incremented by " + std::to_string(amount) + " and " +
                                     std::to_string(amount * 2) + ", results: " + std::to_string(result1) + ", " +
                                     std::to_string(result2) + ", events: " + nlohmann::json(*events).dump());
        co_return connected_results{result1, result2, *events};
    })
    .action<"getMessages">([](auto& c) { return std::as_const(c).state().messages; })
    .action<"clearMessages">([](auto& c) { c.state().messages.clear(); });

// ---- action-inputs.ts --------------------------------------------------------------------

struct input_state {
    rivetkit::value initialInput;
    rivetkit::value onCreateInput;
};
RIVETKIT_FIELDS(input_state, initialInput, onCreateInput)

/// `inputActor`: keeps the creation input as create_state and on_create saw it (undefined when
/// there was none).
const auto input_actor = rivetkit::actor<input_state>()
    .create_state([](auto&, const rivetkit::value& input) { return input_state{input, rivetkit::undefined}; })
    .on_create([](auto& c, const rivetkit::value& input) { c.state().onCreateInput = input; })
    .action<"getInputs">([](auto& c) { return std::as_const(c).state(); });

// ---- action-timeout.ts and action-types.ts -----------------------------------------------

struct value_state {
    std::int64_t value = 0;
};
RIVETKIT_FIELDS(value_state, value)

/// `shortTimeoutActor`: 50 ms action timeout; `slowAction` (100 ms) times out.
const auto short_timeout_actor = rivetkit::actor<value_state>()
    .options({.action_timeout = milliseconds(50)})
    .action<"quickAction">([](auto&) -> rivetkit::task<std::string> { co_return "quick response"; })
    .action<"slowAction">([](auto& c) -> rivetkit::task<std::string> {
        auto wait = c.sleep_for(milliseconds(100));
        co_await std::move(wait);
        co_return "slow response";
    });

/// `longTimeoutActor`: 200 ms action timeout; `delayedAction` (100 ms) completes.
const auto long_timeout_actor = rivetkit::actor<value_state>()
    .options({.action_timeout = milliseconds(200)})
    .action<"delayedAction">([](auto& c) -> rivetkit::task<std::string> {
        auto wait = c.sleep_for(milliseconds(100));
        co_await std::move(wait);
        co_return "delayed response";
    });

/// `defaultTimeoutActor`: the default (60 s) action timeout.
const auto default_timeout_actor = rivetkit::actor<value_state>()
    .action<"normalAction">([](auto& c) -> rivetkit::task<std::string> {
        auto wait = c.sleep_for(milliseconds(50));
        co_await std::move(wait);
        co_return "normal response";
    });

/// `syncTimeoutActor`: a plain action, which no timeout applies to.
const auto sync_timeout_actor = rivetkit::actor<value_state>()
    .options({.action_timeout = milliseconds(50)})
    .action<"syncAction">([](auto&) { return std::string("sync response"); });

/// `syncActionActor`: plain actions returning a value, an object and nothing.
const auto sync_action_actor = rivetkit::actor<value_state>()
    .action<"increment">([](auto& c, std::optional<std::int64_t> amount) {
        c.state().value += amount.value_or(1);
        return c.state().value;
    })
    .action<"getInfo">([](auto& c) {
        return rivetkit::object{{"currentValue", std::as_const(c).state().value}, {"timestamp", c.now_ms()}};
    })
    .action<"reset">([](auto& c) { c.state().value = 0; });

struct fetched_data {
    std::string id;
    std::int64_t timestamp = 0;
};
RIVETKIT_FIELDS(fetched_data, id, timestamp)

struct async_action_state {
    std::int64_t value = 0;
    std::optional<fetched_data> data;  // null until fetchData
};
RIVETKIT_FIELDS(async_action_state, value, data)

/// Suspends a coroutine action once, as `await Promise.resolve()` does.
rivetkit::task<void> yield_once(const auto& c) {
    auto wait = c.sleep_for(milliseconds(0));
    co_await std::move(wait);
}

/// `asyncActionActor`: coroutine actions that suspend once before acting.
const auto async_action_actor = rivetkit::actor<async_action_state>()
    .action<"delayedIncrement">([](auto& c, std::optional<std::int64_t> amount) -> rivetkit::task<std::int64_t> {
        auto yield = yield_once(c);
        co_await std::move(yield);
        c.state().value += amount.value_or(1);
        co_return c.state().value;
    })
    .action<"fetchData">([](auto& c, std::string id) -> rivetkit::task<fetched_data> {
        auto yield = yield_once(c);
        co_await std::move(yield);
        c.state().data = fetched_data{std::move(id), c.now_ms()};
        co_return *std::as_const(c).state().data;
    })
    .action<"asyncWithError">([](auto& c, bool shouldError) -> rivetkit::task<std::string> {
        auto yield = yield_once(c);
        co_await std::move(yield);
        if (shouldError) throw rivetkit::user_error("Intentional error");
        co_return "Success";
    });

struct results_state {
    std::vector<std::string> results;
};
RIVETKIT_FIELDS(results_state, results)

/// `promiseActor`: coroutine actions that complete at once, with a value or an error.
const auto promise_actor = rivetkit::actor<results_state>()
    .action<"resolvedPromise">([](auto&) -> rivetkit::task<std::string> { co_return "resolved value"; })
    .action<"delayedPromise">([](auto& c) -> rivetkit::task<std::string> {
        c.state().results.push_back("delayed");
        co_return "delayed value";
    })
    .action<"rejectedPromise">([](auto&) -> rivetkit::task<std::string> {
        throw rivetkit::user_error("promised rejection");
        co_return "";  // makes this a coroutine: the error travels through its task
    })
    .action<"getResults">([](auto& c) { return std::as_const(c).state().results; });

}  // namespace

std::vector<rivetkit::registration> core_fixtures() {
    return {
        {"counter", counter},
        {"counterConn", counter_conn},
        {"counterWithLifecycle", counter_with_lifecycle},
        {"scheduled", scheduled},
        {"sleep", sleep_actor},
        {"sleepWithLongRpc", sleep_with_long_rpc},
        {"sleepWithRawHttp", sleep_with_raw_http},
        {"sleepWithRawWebSocket", sleep_with_raw_websocket},
        {"sleepWithNoSleepOption", sleep_with_no_sleep_option},
        {"errorHandlingActor", error_handling_actor},
        {"customTimeoutActor", custom_timeout_actor},
        {"inlineClientActor", inline_client_actor},
        {"inputActor", input_actor},
        {"shortTimeoutActor", short_timeout_actor},
        {"longTimeoutActor", long_timeout_actor},
        {"defaultTimeoutActor", default_timeout_actor},
        {"syncTimeoutActor", sync_timeout_actor},
        {"syncActionActor", sync_action_actor},
        {"asyncActionActor", async_action_actor},
        {"promiseActor", promise_actor},
    };
}

}  // namespace conformance
