#!/usr/bin/env node
// The benchmark server of the side-by-side benchmarks on the TypeScript reference implementation
// (npm rivetkit@2.0.33): the same actors as bench/bench_server.cpp, so one load generator drives
// identical workloads against both.
//
//   bench/reference/install.sh
//   PORT=0 RIVETKIT_DATA_PATH=/tmp/d node bench/reference/server.mjs
//
// Environment:
//   PORT                the port to listen on; 0 (the default) picks a free one.
//   HOST                the address to listen on (default 127.0.0.1).
//   DRIVER              file-system (the default) or memory: the reference's
//                       createFileSystemDriver() / createMemoryDriver().
//   RIVETKIT_DATA_PATH  the file-system driver's storage directory; unset: the reference's default
//                       (~/.local/share/rivetkit/<cwd name>-<hash>).
//   LOG_LEVEL           the reference's log level (default warn: logging costs throughput).
//
// Once it accepts connections it prints exactly `listening on <port>` on stdout; everything else
// goes to stderr. SIGTERM / SIGINT: exits at once (status 0), without saving state.
//
// Actors (as in bench_server.cpp), with the reference's default actor options:
//   counter   state {count}. increment(by) -> count (broadcasts "newCount"), getCount() -> count,
//             ping() -> "pong" (touches no state), goToSleep() (c.sleep()).
//   chatRoom  state {messages}. sendMessage(text) broadcasts "message" {text}, returns the count.
//
// Notes on the reference (2.0.33) that matter when comparing:
//   - State is saved after an action on a throttle (actor option stateSaveInterval, default
//     10 s): the reply does not wait for the write. The file-system driver rewrites the actor's
//     whole file (temp file + rename, no fsync).
//   - The memory driver cannot sleep actors: c.sleep() (and the idle sleep timer, sleepTimeout
//     30 s) fail there with "cannot sleep actor with memory driver" (logged, not fatal: see the
//     unhandledRejection handler below); the actor stays awake.

import { serve } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import { actor, createFileSystemDriver, createMemoryDriver, setup } from "rivetkit";
import { InvalidActionRequest } from "rivetkit/errors";
import { WebSocket } from "ws";

// stdout carries only the "listening on" line; the reference logs through console.log.
const toStderr = (...args) => console.error(...args);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;

// Node 20 has no global WebSocket (the reference's built-in client may need one).
if (typeof globalThis.WebSocket === "undefined") globalThis.WebSocket = WebSocket;

const host = process.env.HOST || "127.0.0.1";
const port = process.env.PORT === undefined || process.env.PORT === "" ? 0 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
	console.error(`invalid PORT: ${process.env.PORT}`);
	process.exit(2);
}
const driverName = process.env.DRIVER || "file-system";
if (driverName !== "file-system" && driverName !== "memory") {
	console.error(`invalid DRIVER: ${driverName} (file-system or memory)`);
	process.exit(2);
}
const dataPath = process.env.RIVETKIT_DATA_PATH || undefined;

// The reference starts a sleep without awaiting it (FileSystemActorDriver.startSleep); on the
// memory driver that promise rejects, and Node would exit on the unhandled rejection.
process.on("unhandledRejection", (err) => {
	console.error(`unhandled rejection: ${err?.message ?? err}`);
});

// The C++ actions take typed arguments; a value of another type is action/invalid_request.
function integerArg(v) {
	if (typeof v === "number" && Number.isInteger(v)) return v;
	if (typeof v === "bigint") return Number(v);
	throw new InvalidActionRequest("invalid argument: expected an integer");
}
function stringArg(v) {
	if (typeof v === "string") return v;
	throw new InvalidActionRequest("invalid argument: expected a string");
}

const counter = actor({
	state: { count: 0 },
	actions: {
		increment: (c, by) => {
			c.state.count += integerArg(by);
			c.broadcast("newCount", c.state.count);
			return c.state.count;
		},
		getCount: (c) => c.state.count,
		ping: () => "pong",
		// null, not undefined: the reference drops an undefined output from a JSON reply
		// (`{}`), which its own client rejects; a C++ void action replies null.
		goToSleep: (c) => {
			c.sleep();
			return null;
		},
	},
});

const chatRoom = actor({
	state: { messages: 0 },
	actions: {
		sendMessage: (c, text) => {
			const t = stringArg(text);
			c.state.messages += 1;
			c.broadcast("message", { text: t });
			return c.state.messages;
		},
	},
});

const registry = setup({ use: { counter, chatRoom } });

let upgradeWebSocket;
const { fetch } = registry.start({
	driver:
		driverName === "memory"
			? createMemoryDriver()
			: createFileSystemDriver(dataPath ? { path: dataPath } : undefined),
	disableDefaultServer: true,
	noWelcome: true,
	getUpgradeWebSocket: () => upgradeWebSocket,
});

// What registry.start's own Node server does, plus the host and the real port for PORT=0.
const nodeWs = createNodeWebSocket({
	// @hono/node-ws routes upgrade requests through app.request(url, init, env).
	app: { request: (url, init, env) => fetch(new Request(url, init), env) },
});
upgradeWebSocket = nodeWs.upgradeWebSocket;
const server = serve({ fetch, port, hostname: host }, (info) => {
	process.stdout.write(`listening on ${info.port}\n`);
});
nodeWs.injectWebSocket(server);
server.on("error", (err) => {
	console.error(`listen failed: ${err.message}`);
	process.exit(1);
});

const stop = () => process.exit(0);
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
