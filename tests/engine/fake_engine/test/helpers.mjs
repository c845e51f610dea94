// Test helpers: a fresh fake engine per test, and the official TypeScript runner
// (@rivetkit/engine-runner 2.0.33) with a small test app: HTTP routes, an echo WebSocket, and
// hibernatable WebSockets whose metadata it persists in actor KV the way the runner's docs ask.
import { EventEmitter, once } from "node:events";
import { randomUUID } from "node:crypto";
import { Runner } from "@rivetkit/engine-runner";
import WebSocket from "ws";
import { startFakeEngine } from "../fake_engine.mjs";

export { WebSocket };

const cleanups = new WeakMap();

/** Registers teardown work for the test; run in reverse order of registration (runners before the engine). */
export function defer(t, fn) {
	let stack = cleanups.get(t);
	if (!stack) {
		stack = [];
		cleanups.set(t, stack);
		t.after(async () => {
			while (stack.length) await stack.pop()();
		});
	}
	stack.push(fn);
}

/** A fake engine on an ephemeral port with fast pings; closed after the test. */
export async function withEngine(t, options = {}) {
	const engine = await startFakeEngine({ port: 0, pingIntervalMs: 200, ...options });
	defer(t, () => engine.close());
	return engine;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
export const bytes = (s) => enc.encode(s);
export const text = (b) => dec.decode(b);
export const hex = (b) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString("hex");

/**
 * Starts a TS runner against the engine. Returns { runner, app, events } where `events` emits
 * connected / disconnected({code, reason}) / shutdown / actorStart({actorId, generation, config})
 * / actorStop({actorId, generation}) / wsMessage(...) / wsClose(...). The runner is shut down
 * (immediately) after the test.
 */
export function startRunner(t, engine, overrides = {}) {
	const events = new EventEmitter();
	events.setMaxListeners(0);
	const app = {
		starts: [],
		stops: [],
		disconnects: [],
		shutdown: false,
		connected: 0,
		/** Last generation started per actor. */
		generation: new Map(),
		/** Routes: path -> async (ctx) => Response. */
		routes: new Map(),
		startHook: null,
		/** onActorStart calls in progress. */
		inflight: new Set(),
		/** `${actorId}:${generation}` whose onActorStart completed. */
		started: new Set(),
	};
	let runner;
	const config = {
		version: 1,
		endpoint: engine.url,
		namespace: "default",
		totalSlots: 10,
		runnerName: "default",
		runnerKey: `key-${randomUUID()}`,
		prepopulateActorNames: { counter: { metadata: {} } },
		metadata: { inspectorToken: "tok" },
		noAutoShutdown: true,
		onConnected: () => {
			app.connected++;
			events.emit("connected");
		},
		onDisconnected: (code, reason) => {
			app.disconnects.push({ code, reason });
			events.emit("disconnected", { code, reason });
		},
		onShutdown: () => {
			app.shutdown = true;
			events.emit("shutdown");
		},
		onActorStart: (actorId, generation, actorConfig) => {
			const p = onActorStart(actorId, generation, actorConfig);
			app.inflight.add(p);
			p.catch(() => {}).finally(() => app.inflight.delete(p));
			return p;
		},
		onActorStop: async (actorId, generation) => {
			app.stops.push({ actorId, generation });
			events.emit("actorStop", { actorId, generation });
		},
		fetch: async (_runner, actorId, gatewayId, requestId, request) => {
			const url = new URL(request.url);
			const route = app.routes.get(url.pathname) ?? defaultRoutes.get(url.pathname);
			if (!route) return new Response("not found", { status: 404 });
			return route({ runner, actorId, gatewayId, requestId, request, url, app });
		},
		hibernatableWebSocket: {
			canHibernate: (_actorId, _gatewayId, _requestId, request) => new URL(request.url).pathname.startsWith("/hws"),
		},
		websocket: (...args) => websocket(...args),
		...overrides,
	};
	async function onActorStart(actorId, generation, actorConfig) {
			app.starts.push({ actorId, generation, config: actorConfig });
			app.generation.set(actorId, generation);
			// KV from the start callback: write then read back.
			await runner.kvPut(actorId, [[bytes("started"), bytes(String(generation))]]);
			const [got] = await runner.kvGet(actorId, [bytes("started")]);
			app.lastStartKv = got && text(got);
			if (app.startHook) await app.startHook(actorId, generation, actorConfig);
			// Restore hibernatable WebSockets persisted under "hws/".
			const persisted = await runner.kvListPrefix(actorId, bytes("hws/"));
			const metas = persisted.map(([, v]) => {
				const m = JSON.parse(text(v));
				return {
					gatewayId: hexToAb(m.gatewayId),
					requestId: hexToAb(m.requestId),
					serverMessageIndex: m.serverMessageIndex,
					clientMessageIndex: m.clientMessageIndex,
					path: m.path,
					headers: m.headers,
				};
			});
			await runner.restoreHibernatingRequests(actorId, metas);
			app.started.add(`${actorId}:${generation}`);
			events.emit("actorStart", { actorId, generation, config: actorConfig });
	}
	async function websocket(_runner, actorId, ws, gatewayId, requestId, request, path, headers, isHibernatable, isRestoring) {
			const key = bytes(`hws/${hex(requestId)}`);
			const meta = { gatewayId: hex(gatewayId), requestId: hex(requestId), serverMessageIndex: 0, clientMessageIndex: 0, path, headers };
			if (isHibernatable && !isRestoring) {
				// Requirement 1: persist immediately (not awaited: listeners must be attached synchronously).
				runner.kvPut(actorId, [[key, bytes(JSON.stringify(meta))]]).catch(() => {});
			}
			events.emit("wsOpen", { actorId, requestId: hex(requestId), path, headers, isHibernatable, isRestoring });
			ws.addEventListener("message", async (ev) => {
				const data = typeof ev.data === "string" ? ev.data : `bin:${hex(ev.data)}`;
				events.emit("wsMessage", { actorId, requestId: hex(requestId), data, index: ev.rivetMessageIndex });
				if (data === "close-me") return ws.close(4001, "server-bye");
				ws.send(`echo:${data}`);
				if (isHibernatable && !data.startsWith("noack:")) {
					// Requirement 2: persist the message index, then ack it.
					meta.serverMessageIndex = ev.rivetMessageIndex;
					await runner.kvPut(actorId, [[key, bytes(JSON.stringify(meta))]]).catch(() => {});
					runner.sendHibernatableWebSocketMessageAck(gatewayId, requestId, ev.rivetMessageIndex);
				}
			});
			ws.addEventListener("close", (ev) => {
				events.emit("wsClose", { actorId, requestId: hex(requestId), code: ev.code, reason: ev.reason });
				// Requirement 3: forget it on close.
				if (isHibernatable) runner.kvDelete(actorId, [key]).catch(() => {});
			});
	}
	runner = new Runner(config);
	defer(t, async () => {
		// Let onActorStart calls finish first: the runner rejects KV calls made during shutdown.
		await Promise.race([Promise.allSettled([...app.inflight]), new Promise((r) => setTimeout(r, 2000).unref())]);
		await runner.shutdown(true);
	});
	runner.start();
	return { runner, app, events, config };
}

export const defaultRoutes = new Map([
	[
		"/echo",
		async ({ request, url, actorId, app }) => {
			const body = request.body ? text(new Uint8Array(await request.arrayBuffer())) : null;
			return new Response(
				JSON.stringify({
					actorId,
					generation: app.generation.get(actorId),
					method: request.method,
					path: url.pathname + url.search,
					body,
					headers: Object.fromEntries(request.headers),
				}),
				{ status: 201, headers: { "content-type": "application/json", "x-test": "yes" } },
			);
		},
	],
	[
		"/sleep",
		async ({ runner, actorId }) => {
			setTimeout(() => runner.sleepActor(actorId), 0);
			return new Response("sleeping");
		},
	],
	[
		"/destroy",
		async ({ runner, actorId }) => {
			setTimeout(() => runner.stopActor(actorId), 0);
			return new Response("destroying");
		},
	],
	[
		"/alarm",
		async ({ runner, actorId, url }) => {
			const ms = Number(url.searchParams.get("ms") ?? 200);
			runner.setAlarm(actorId, Date.now() + ms);
			if (url.searchParams.get("sleep")) setTimeout(() => runner.sleepActor(actorId), 0);
			return new Response("alarm set");
		},
	],
	[
		"/slow",
		async ({ url }) => {
			await new Promise((r) => setTimeout(r, Number(url.searchParams.get("ms") ?? 500)));
			return new Response("slow done");
		},
	],
]);

function hexToAb(h) {
	const b = Buffer.from(h, "hex");
	return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

/** Waits for the runner's onConnected. */
export async function connected(r) {
	if (r.app.connected > 0 && r.runner.runnerId) return;
	await once(r.events, "connected");
}

/** Creates an actor through the control API; waits until it runs and (given the runner) its onActorStart finished. */
export async function runningActor(engine, opts = {}, r = null) {
	const actor = engine.createActor({ name: "counter", key: `k-${randomUUID()}`, crashPolicy: "sleep", ...opts });
	await started(engine, actor.actorId, r);
	return actor.actorId;
}

/** Waits until the actor runs and, given the runner, its onActorStart for that generation completed. */
export async function started(engine, actorId, r = null) {
	const a = await engine.waitForActorState(actorId, "running");
	if (r) await engine.waitFor(() => r.app.started.has(`${actorId}:${a.generation}`), { description: "onActorStart done" });
	return engine.getActor(actorId);
}

/** Opens a client WebSocket through the gateway; resolves once open, with a message queue. */
export async function openClientWs(engine, actorId, path = "/ws", protocols = ["rivet"]) {
	const ws = new WebSocket(`${engine.url.replace("http", "ws")}/gateway/${actorId}${path}`, protocols);
	const received = [];
	const waiters = [];
	ws.on("message", (data, isBinary) => {
		received.push(isBinary ? data : data.toString());
		for (const w of [...waiters]) w();
	});
	const closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
	await once(ws, "open");
	return {
		ws,
		received,
		closed,
		/** Resolves once `n` messages have been received in total. */
		async waitCount(n, timeoutMs = 10000) {
			if (received.length >= n) return received.slice();
			await new Promise((resolve, reject) => {
				const timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} ws messages (got ${received.length})`)), timeoutMs);
				const w = () => {
					if (received.length >= n) {
						clearTimeout(timer);
						waiters.splice(waiters.indexOf(w), 1);
						resolve();
					}
				};
				waiters.push(w);
			});
			return received.slice();
		},
	};
}

/** A plain fetch to the gateway. */
export function gatewayFetch(engine, actorId, path, init) {
	return fetch(`${engine.url}/gateway/${actorId}${path}`, init);
}

/** Tunnel messages of one request in the engine's log, as [dir, kind tag, messageIndex]. */
export function tunnelTrace(engine, requestHex) {
	return engine
		.messages()
		.filter((e) => (e.tag === "ToClientTunnelMessage" || e.tag === "ToServerTunnelMessage") && hex(e.msg.val.messageId.requestId) === requestHex)
		.map((e) => [e.dir, e.msg.val.messageKind.tag, e.msg.val.messageId.messageIndex, e.dropped ?? false]);
}
