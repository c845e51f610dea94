#!/usr/bin/env node
// The TypeScript reference implementation (npm rivetkit@2.0.33) serving the two test actors of
// the C++ client tests (tests/unit/client/client_test_support.hpp: `counter` and `plain`), so
// those tests can run against the reference server instead of ours.
//
//   PORT=0 HOST=127.0.0.1 RIVETKIT_DATA_PATH=/tmp/x node tests/interop/reference_server/server.mjs
//
// (It is executable too, so it can stand in for a server binary; the packages come from
// tests/interop/node_modules: `npm install --no-audit --no-fund` in tests/interop first.)
//
// Environment:
//   PORT                the port to listen on; 0 (the default) picks a free one.
//   HOST                the address to listen on (default 127.0.0.1).
//   RIVETKIT_DATA_PATH  the file-system driver's storage directory (state persists there across
//                       restarts); unset: the reference's default path (~/.local/share/rivetkit/…).
//   BASE_PATH           optional prefix of the whole manager API, e.g. /api/rivet (the reference's
//                       run-config `basePath`; default /).
//   LOG_LEVEL           the reference's log level (default warn).
//
// Once it accepts connections it prints exactly `listening on <port>` on stdout; everything else
// (the reference's logs, which it writes with console.log) goes to stderr. SIGTERM / SIGINT: saves
// the state of every awake actor, then exits.
//
// The registry runs with `disableDefaultServer` and is served here with the same packages the
// reference's own Node server uses (@hono/node-server + @hono/node-ws; registry.start's built-in
// server cannot take a host nor report the port it got for PORT=0).

import { serve } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import { WebSocket } from "ws";
import { actor, createFileSystemDriver, setup, UserError } from "rivetkit-2.0.33";
import { InvalidActionRequest } from "rivetkit-2.0.33/errors";

// stdout carries only the "listening on" line: the reference logs through console.log (nothing
// logs while the imports above load; this runs before registry.start).
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
const dataPath = process.env.RIVETKIT_DATA_PATH || undefined;
// "/api/rivet/" → "/api/rivet"; "" or "/" → "/".
const basePath = "/" + (process.env.BASE_PATH || "").split("/").filter(Boolean).join("/");

/** The string `v` or null (C++: `p.is_string() ? p : nullptr`). */
const stringOrNull = (v) => (typeof v === "string" ? v : null);
/** `params.token` when params is an object and token a string, else null. */
const paramToken = (params) =>
	params !== null && typeof params === "object" ? stringOrNull(params.token) : null;

/** The C++ actions take typed arguments; a value of another type is action/invalid_request. */
function want(ok, what) {
	if (!ok) throw new InvalidActionRequest(`invalid argument: expected ${what}`);
}
const isInteger = (v) => (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";

/**
 * The path of a raw WebSocket as the actor sees it (C++ `c.request()->path`), e.g.
 * "/websocket/room/1": the upgrade request the reference hands onWebSocket carries the
 * external URL, so the base path and the gateway's "/gateway/{actorId}" are removed here.
 */
function actorPath(pathname) {
	let p = pathname;
	if (basePath !== "/" && (p === basePath || p.startsWith(basePath + "/"))) p = p.slice(basePath.length);
	const m = /^\/gateway\/[^/]+(\/.*)?$/.exec(p);
	if (m) p = m[1] ?? "";
	return p.startsWith("/") ? p : "/" + p;
}

/** Actors awake in this process, to save their state on SIGTERM. */
const awake = new Set();

const counter = actor({
	createState: (_c, input) => ({ count: 0, input }),
	onWake: (c) => {
		awake.add(c);
	},
	onSleep: (c) => {
		awake.delete(c);
	},
	onBeforeConnect: (_c, params) => {
		if (params !== null && typeof params === "object" && params.reject === true) {
			throw new UserError("not allowed", { code: "forbidden" });
		}
	},
	actions: {
		increment: (c, by) => {
			want(isInteger(by), "an integer");
			c.state.count += Number(by);
			c.broadcast("newCount", c.state.count);
			return c.state.count;
		},
		getCount: (c) => c.state.count,
		echo: (_c, v) => v,
		echoArgs: (_c, a, b) => {
			want(typeof b === "string", "a string");
			return [a, b];
		},
		noop: () => {},
		getParams: (c) => c.conn.params,
		// Exactly the creation input, falsy ones included; null without one (undefined would be
		// dropped from a JSON response, which the official JS client rejects).
		getInput: (c) => (c.state.input === undefined ? null : c.state.input),
		emit: (c, name, payload) => {
			want(typeof name === "string", "a string");
			c.broadcast(name, payload);
		},
		sendToMe: (c, name) => {
			want(typeof name === "string", "a string");
			c.conn.send(name, 1);
		},
		kickMe: (c) => {
			c.conn.disconnect("kicked");
		},
		throwUser: () => {
			throw new UserError("bad thing", { code: "my_code", metadata: { a: 1 } });
		},
		throwInternal: () => {
			throw new Error("secret detail");
		},
	},
	// The reference hands onRequest the request with the URL after /request (e.g.
	// http://actor/users/1?x=1), and the conn made from the x-rivet-conn-params header.
	onRequest: async (c, request) => {
		const url = new URL(request.url);
		const body = {
			method: request.method,
			path: url.pathname,
			query: url.search.startsWith("?") ? url.search.slice(1) : url.search,
			body: await request.text(),
			xTest: request.headers.get("x-test"),
			xExtra: request.headers.get("x-extra"),
			xRivetToken: request.headers.get("x-rivet-token"),
			paramToken: paramToken(c.conn.params),
		};
		return new Response(JSON.stringify(body), {
			status: 201,
			headers: { "content-type": "application/json", "x-actor": "counter" },
		});
	},
	// `websocket` is the server side socket (the `ws` package's WebSocket); `c.request` the
	// upgrade request.
	onWebSocket: (c, websocket) => {
		let where = "?";
		if (c.request) {
			const url = new URL(c.request.url);
			where = actorPath(url.pathname) + "?" + url.search.replace(/^\?/, "");
		}
		const token = paramToken(c.conn.params);
		websocket.send("hello " + where + (token !== null ? " token=" + token : ""));
		websocket.addEventListener("message", (event) => {
			const data = event.data;
			if (typeof data !== "string") {
				websocket.send(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
			} else if (data === "close") {
				websocket.close(4000, "asked");
			} else {
				websocket.send("echo:" + data);
			}
		});
	},
});

/** An actor without onRequest / onWebSocket. */
const plain = actor({
	actions: {
		ping: () => "pong",
	},
});

const registry = setup({ use: { counter, plain } });

let upgradeWebSocket;
const { fetch } = registry.start({
	driver: createFileSystemDriver(dataPath ? { path: dataPath } : undefined),
	disableDefaultServer: true,
	noWelcome: true,
	basePath,
	getUpgradeWebSocket: () => upgradeWebSocket,
});

// What registry.start's own Node server does (serveNode), plus the host and the real port.
const ws = createNodeWebSocket({
	// @hono/node-ws routes upgrade requests through app.request(url, init, env).
	app: { request: (url, init, env) => fetch(new Request(url, init), env) },
});
upgradeWebSocket = ws.upgradeWebSocket;
const server = serve({ fetch, port, hostname: host }, (info) => {
	process.stdout.write(`listening on ${info.port}\n`);
});
ws.injectWebSocket(server);
server.on("error", (err) => {
	console.error(`listen failed: ${err.message}`);
	process.exit(1);
});

let stopping = false;
async function shutdown() {
	if (stopping) return;
	stopping = true;
	server.close();
	// The reference saves state on a throttle (at most every 10 s; the save an action triggers
	// runs after its reply) and has no signal handling of its own: write every awake actor's
	// state now, so a restart with the same data path sees every acknowledged change. The state
	// is marked changed first (a key set and deleted again) so that saveState always queues a
	// write: the actor's writes run one after another, so once this one is done, a save still in
	// flight from the last action is on disk too.
	const saves = [...awake].map(async (c) => {
		try {
			c.state.__flush = true;
			delete c.state.__flush;
			await c.saveState({ immediate: true, allowStoppingState: true });
		} catch (err) {
			console.error(`saving state failed: ${err?.message ?? err}`);
		}
	});
	await Promise.race([Promise.all(saves), new Promise((r) => setTimeout(r, 2000))]);
	process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
