#!/usr/bin/env node
// RivetKit 2.0.33 (npm rivetkit, TypeScript) as a runner on an engine: its engine driver connects
// to ENGINE_ENDPOINT as a runner and serves the `counter` actor there. The C++ client's tests
// through an engine (tests/unit/engine/client_via_engine_test.cpp) run it against the fake engine
// (tests/engine/fake_engine) and reach the actor the way a client reaches it through a real engine:
// the engine's REST API (`/actors`) and its gateway (`/gateway/{actorId}/...`).
//
//   ENGINE_ENDPOINT=http://127.0.0.1:6420 node tests/engine/ts_runner_app/app.mjs
//
// Environment:
//   ENGINE_ENDPOINT   the engine (required)
//   ENGINE_TOKEN      the engine's admin token (optional)
//   ENGINE_NAMESPACE  default "default"
//   RUNNER_NAME       the runner name (pool) it registers under; default "default"
//   RUNNER_KEY        the runner key; default a random one
//   LOG_LEVEL         RivetKit's log level (default warn)
//
// The app listens on no port of its own: once the runner is started it prints exactly
// `listening on 0` on stdout (the line the tests' process helper waits for; the tests then wait
// for the runner in the engine). RivetKit's logs go to stderr. SIGTERM / SIGINT exit at once.
//
// The packages come from tests/engine/ts_runner_app/node_modules (scripts/npm-install.sh).

// Before rivetkit: RivetKit 2.0.33's engine driver uses iterator helpers, which Node 20 lacks.
import "../fake_engine/test/iterator_helpers_shim.mjs";
import { actor, setup } from "rivetkit";

// stdout carries only the "listening on" line.
const toStderr = (...args) => console.error(...args);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;

const endpoint = process.env.ENGINE_ENDPOINT;
if (!endpoint) {
	console.error("ENGINE_ENDPOINT is required");
	process.exit(2);
}

// Before the runner adds its own (graceful, non-exiting) handlers: a test stopping the app wants
// it gone now.
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));

const counter = actor({
	// The creation input (optional) is the starting count.
	createState: (_c, input) => ({ count: typeof input === "number" ? input : 0 }),
	// Raw HTTP (`/request/...` through the gateway): echoes what it got as JSON.
	onRequest: async (c, request) => {
		const url = new URL(request.url);
		const body = {
			method: request.method,
			path: url.pathname,
			query: url.search.replace(/^\?/, ""),
			body: await request.text(),
			xTest: request.headers.get("x-test"),
			count: c.state.count,
		};
		return new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
	},
	// Raw WebSocket (`/websocket/...` through the gateway): greets, then echoes.
	onWebSocket: (_c, websocket) => {
		websocket.send("hello");
		websocket.addEventListener("message", (event) => websocket.send(`echo:${event.data}`));
	},
	actions: {
		increment: (c, by) => {
			c.state.count += by;
			c.broadcast("newCount", c.state.count);
			return c.state.count;
		},
		getCount: (c) => c.state.count,
	},
});

const registry = setup({ use: { counter } });
registry.start({
	endpoint,
	token: process.env.ENGINE_TOKEN || undefined,
	namespace: process.env.ENGINE_NAMESPACE || "default",
	runnerName: process.env.RUNNER_NAME || "default",
	runnerKey: process.env.RUNNER_KEY || undefined,
	totalSlots: 100,
	noWelcome: true,
	disableMetadataLookup: true,
	logging: { level: process.env.LOG_LEVEL || "warn" },
});

process.stdout.write("listening on 0\n");
