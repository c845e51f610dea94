// The serverless driver: for a runner name with a serverless config the engine keeps outbound
// `GET {url}/start` requests open (headers x-rivet-endpoint, -total-slots, -runner-name,
// -namespace-name, -namespace-id, and -token when auth is on), reads the response as
// Server-Sent Events, decodes the first event's data (base64 of u16le version ‖ BARE
// ToServerlessServer) to learn the runner id, and expects that runner's WebSocket. At
// lifespan − 5 s, on scale-down or on request, it drains: runner Stop (StopActor to all), up
// to 5 s for the stream to end, then the runner socket is evicted (ws.eviction).
import http from "node:http";
import https from "node:https";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { parseEngineId } from "./ids.mjs";
import { Errors } from "./errors.mjs";

const DRAIN_GRACE_MS = 5000;

export class Serverless {
	#engine;
	#configs = new Map(); // `${ns}\0${name}` -> config
	#conns = new Set();
	#nextConnId = 1;

	constructor(engine) {
		this.#engine = engine;
	}

	configFor(namespace, runnerName) {
		return this.#configs.get(`${namespace}\0${runnerName}`) ?? null;
	}

	listConfigs() {
		return [...this.#configs.values()];
	}

	/**
	 * Registers (or replaces) the serverless config of a runner name. Returns whether the endpoint
	 * (url/headers) changed; the metadata probe GET {url}/metadata runs then, in the background.
	 */
	configure(runnerName, c) {
		const namespace = c.namespace ?? "default";
		if (!this.#engine.namespaces.has(namespace)) throw Errors.namespaceNotFound();
		if (typeof c.url !== "string" || !c.url) throw Errors.invalidInput("serverless url is required");
		const key = `${namespace}\0${runnerName}`;
		const old = this.#configs.get(key);
		const config = {
			runnerName,
			namespace,
			url: c.url,
			headers: c.headers ?? {},
			requestLifespan: c.requestLifespan ?? 900,
			slotsPerRunner: c.slotsPerRunner ?? 1,
			minRunners: c.minRunners ?? 0,
			maxRunners: c.maxRunners ?? 100,
			runnersMargin: c.runnersMargin ?? 0,
			metadata: c.metadata ?? null,
			probe: old?.probe ?? null,
		};
		this.#configs.set(key, config);
		const changed = !old || old.url !== config.url || JSON.stringify(old.headers) !== JSON.stringify(config.headers);
		if (changed) {
			config.probe = { state: "pending" };
			this.#probeMetadata(config);
		}
		this.bump(namespace, runnerName);
		this.#engine.changed();
		return changed;
	}

	remove(runnerName, namespace = "default") {
		const removed = this.#configs.delete(`${namespace}\0${runnerName}`);
		for (const conn of this.#conns) if (conn.namespace === namespace && conn.runnerName === runnerName) this.#drain(conn);
		this.#engine.changed();
		return removed;
	}

	describe() {
		return {
			configs: this.listConfigs().map((c) => ({ ...c })),
			connections: [...this.#conns].map((c) => ({
				id: c.id,
				namespace: c.namespace,
				runnerName: c.runnerName,
				state: c.state,
				runnerId: c.runnerId,
				manual: c.manual,
				status: c.status,
				startedTs: c.startedTs,
				error: c.error,
			})),
		};
	}

	close() {
		for (const conn of this.#conns) this.#abort(conn, "closed");
		this.#conns.clear();
	}

	/** Actors of this runner name that need or hold a serverless slot. */
	#desiredSlots(namespace, runnerName) {
		let n = 0;
		for (const a of this.#engine.actors.values()) {
			if (a.destroyed || a.namespace !== namespace || a.runnerNameSelector !== runnerName) continue;
			if (a.pending) n++;
			else if (a.runnerId && this.#engine.runners.get(a.runnerId)?.serverless) n++;
		}
		return n;
	}

	/** Autoscaler: clamp(margin + ceil(desired slots / slots per runner), min, max) outbound requests. */
	bump(namespace, runnerName) {
		const config = this.configFor(namespace, runnerName);
		if (!config) return;
		const slots = this.#desiredSlots(namespace, runnerName);
		const desired = Math.min(
			Math.max(config.runnersMargin + Math.ceil(slots / Math.max(1, config.slotsPerRunner)), config.minRunners),
			config.maxRunners,
		);
		const active = [...this.#conns].filter(
			(c) => c.namespace === namespace && c.runnerName === runnerName && c.state !== "draining" && c.state !== "closed" && !c.manual,
		);
		for (let i = active.length; i < desired; i++) this.#open(this.#newConn(config, false));
		if (active.length > desired) {
			// Drain the ones holding the fewest actors first.
			const byLoad = active
				.map((c) => ({ c, load: c.runnerId ? (this.#engine.runners.get(c.runnerId)?.actors.size ?? 0) : 0 }))
				.sort((x, y) => x.load - y.load);
			for (const { c } of byLoad.slice(0, active.length - desired)) this.#drain(c);
		}
	}

	/**
	 * Opens one outbound /start request (not subject to autoscaling) and resolves once the init
	 * packet named a runner id and that runner's socket is connected: { runnerId, connectionId }.
	 */
	async startRunner(runnerName, { namespace = "default", timeoutMs = 10000 } = {}) {
		const config = this.configFor(namespace, runnerName);
		if (!config) throw Errors.invalidInput(`no serverless config for runner name ${runnerName}`);
		const conn = this.#newConn(config, true);
		this.#open(conn);
		await this.#engine.waitFor(
			() => {
				if (conn.error && conn.state === "closed") throw new Error(`serverless start failed: ${conn.error}`);
				const r = conn.runnerId && this.#engine.runners.get(conn.runnerId);
				return r && r.conn ? true : null;
			},
			{ timeoutMs, description: `serverless runner for ${runnerName}` },
		);
		return { runnerId: conn.runnerId, connectionId: conn.id };
	}

	/** Drains the serverless connection whose runner is `runnerId`. */
	drainRunner(runnerId) {
		for (const c of this.#conns) if (c.runnerId === runnerId) return this.#drain(c);
		return Promise.resolve(false);
	}

	onRunnerConnected(_runner) {
		this.#engine.changed();
	}

	onRunnerStopped(runner) {
		for (const c of this.#conns) if (c.runnerId === runner.runnerId && c.state !== "closed") this.#abort(c, "runner stopped");
	}

	#newConn(config, manual) {
		return {
			id: this.#nextConnId++,
			namespace: config.namespace,
			runnerName: config.runnerName,
			config,
			manual,
			state: "connecting",
			runnerId: null,
			status: null,
			error: null,
			req: null,
			res: null,
			lifespanTimer: null,
			retryTimer: null,
			retryCount: 0,
			startedTs: Date.now(),
		};
	}

	#open(conn) {
		const engine = this.#engine;
		const config = conn.config;
		this.#conns.add(conn);
		conn.state = "connecting";
		conn.runnerId = null;
		conn.error = null;
		const target = new URL(`${config.url.replace(/\/+$/, "")}/start`);
		const headers = {
			...config.headers,
			"x-rivet-endpoint": engine.publicUrl,
			"x-rivet-total-slots": String(config.slotsPerRunner),
			"x-rivet-runner-name": config.runnerName,
			"x-rivet-namespace-name": config.namespace,
			"x-rivet-namespace-id": config.namespace,
			accept: "text/event-stream",
		};
		if (engine.options.token) headers["x-rivet-token"] = engine.options.token;
		const lib = target.protocol === "https:" ? https : http;
		const req = lib.get(target, { headers });
		conn.req = req;
		engine.emit("serverless.request", { connectionId: conn.id, url: target.href, headers });
		req.on("error", (err) => this.#failed(conn, err.message));
		req.on("response", (res) => {
			conn.res = res;
			conn.status = res.statusCode;
			if (res.statusCode < 200 || res.statusCode >= 300) {
				let body = "";
				res.setEncoding("utf8");
				res.on("data", (d) => (body += d));
				res.on("end", () => this.#failed(conn, `invalid status code (${res.statusCode}):\n${body.slice(0, 512)}`));
				return;
			}
			conn.state = "streaming";
			const lifespanMs = config.requestLifespan * 1000 - DRAIN_GRACE_MS;
			conn.lifespanTimer = setTimeout(() => this.#drain(conn), Math.max(0, lifespanMs));
			conn.lifespanTimer.unref?.();
			const parser = sseParser((ev) => this.#onEvent(conn, ev));
			res.setEncoding("utf8");
			res.on("data", parser);
			res.on("end", () => this.#ended(conn));
			res.on("error", (err) => this.#failed(conn, err.message));
			engine.changed();
		});
	}

	#onEvent(conn, ev) {
		const engine = this.#engine;
		engine.emit("serverless.event", { connectionId: conn.id, event: ev.event, data: ev.data });
		if (conn.runnerId) return; // only the first message matters; later ones (pings) are ignored
		let runnerId;
		try {
			const bytes = Buffer.from(ev.data, "base64");
			const version = bytes.readUInt16LE(0);
			if (version !== 5) throw new Error(`unsupported serverless protocol version ${version}`);
			const payload = protocol.decodeToServerlessServer(new Uint8Array(bytes.subarray(2)));
			engine.recordExternal("fromServerless", { tag: payload.tag, val: payload.val }, { connectionId: conn.id, version });
			runnerId = payload.val.runnerId;
			parseEngineId(runnerId);
		} catch (err) {
			return this.#failed(conn, `invalid payload: ${err.message}`);
		}
		conn.runnerId = runnerId;
		const runner = engine.runners.get(runnerId);
		if (runner) runner.serverless = { connectionId: conn.id };
		else engine.log("warn", "serverless init named an unknown runner", { runnerId });
		engine.emit("serverless.init", { connectionId: conn.id, runnerId });
		if (conn.state === "draining") this.#engine.startDrainingRunner(runnerId);
		engine.changed();
	}

	#ended(conn) {
		clearTimeout(conn.lifespanTimer);
		if (conn.state === "closed") return;
		const wasDraining = conn.state === "draining";
		conn.state = "closed";
		this.#conns.delete(conn);
		this.#engine.emit("serverless.ended", { connectionId: conn.id, runnerId: conn.runnerId });
		this.#engine.changed();
		conn.onEnded?.();
		// A stream that ends by itself is simply reopened if the pool still wants it.
		if (!wasDraining && !conn.manual) this.bump(conn.namespace, conn.runnerName);
	}

	#failed(conn, error) {
		clearTimeout(conn.lifespanTimer);
		if (conn.state === "closed") return;
		const wasDraining = conn.state === "draining";
		conn.error = error;
		conn.state = "closed";
		this.#engine.log("warn", "serverless outbound request failed", { connectionId: conn.id, error });
		this.#engine.emit("serverless.error", { connectionId: conn.id, error });
		conn.req?.destroy();
		this.#conns.delete(conn);
		this.#engine.changed();
		conn.onEnded?.();
		if (wasDraining || conn.manual || !this.configFor(conn.namespace, conn.runnerName)) return;
		// Retry with backoff: base × 2^n (capped), plus up to 500 ms jitter.
		const delay = this.#engine.options.serverlessRetryBaseMs * 2 ** Math.min(conn.retryCount, 8) + Math.floor(Math.random() * 500);
		const retry = this.#newConn(conn.config, false);
		retry.retryCount = conn.retryCount + 1;
		this.#conns.add(retry);
		retry.state = "backoff";
		retry.retryTimer = setTimeout(() => {
			if (retry.state === "backoff") this.#open(retry);
		}, delay);
	}

	/** Drain: runner Stop, up to 5 s for the SSE stream to end, then evict the runner's socket. */
	async #drain(conn) {
		if (conn.state === "draining" || conn.state === "closed") return false;
		if (conn.state === "backoff" || conn.state === "connecting") {
			this.#abort(conn, "drained before start");
			return true;
		}
		conn.state = "draining";
		clearTimeout(conn.lifespanTimer);
		this.#engine.emit("serverless.draining", { connectionId: conn.id, runnerId: conn.runnerId });
		if (conn.runnerId) this.#engine.startDrainingRunner(conn.runnerId);
		const ended = new Promise((resolve) => (conn.onEnded = resolve));
		const grace = new Promise((resolve) => setTimeout(resolve, this.#engine.options.serverlessDrainGraceMs));
		await Promise.race([ended, grace]);
		if (conn.runnerId) this.#engine.closeRunnerSocket(conn.runnerId);
		this.#abort(conn, "drained");
		this.#engine.changed();
		return true;
	}

	#abort(conn, why) {
		clearTimeout(conn.lifespanTimer);
		clearTimeout(conn.retryTimer);
		if (conn.state !== "closed") {
			conn.state = "closed";
			conn.error ??= null;
			this.#engine.emit("serverless.ended", { connectionId: conn.id, runnerId: conn.runnerId, why });
		}
		conn.req?.destroy();
		this.#conns.delete(conn);
		conn.onEnded?.();
	}

	async #probeMetadata(config) {
		const engine = this.#engine;
		const url = `${config.url.trim().replace(/\/+$/, "")}/metadata`;
		let probe;
		try {
			const res = await fetch(url, { headers: config.headers, signal: AbortSignal.timeout(10000) });
			const text = await res.text();
			if (!res.ok) {
				probe = { state: "error", error: { non_success_status: { status_code: res.status, body: text.slice(0, 1024) } } };
			} else {
				let json;
				try {
					json = JSON.parse(text);
				} catch {
					json = null;
				}
				if (!json || typeof json.runtime !== "string" || typeof json.version !== "string") {
					probe = { state: "error", error: { invalid_response_json: { body: text.slice(0, 1024) } } };
				} else if (json.runtime !== "rivetkit" || !json.version.trim()) {
					probe = { state: "error", error: { invalid_response_schema: { runtime: json.runtime, version: json.version } } };
				} else {
					probe = { state: "ok", runtime: json.runtime, version: json.version.trim(), actorNames: json.actorNames ?? {} };
					const names = engine.actorNames.get(config.namespace) ?? new Map();
					for (const [name, v] of Object.entries(probe.actorNames)) names.set(name, v?.metadata ?? {});
					engine.actorNames.set(config.namespace, names);
				}
			}
		} catch (err) {
			probe = { state: "error", error: err.name === "TimeoutError" ? { request_timed_out: {} } : { request_failed: {} } };
		}
		config.probe = probe;
		engine.emit("serverless.metadata", { runnerName: config.runnerName, probe });
		engine.changed();
	}
}

/** A streaming text/event-stream parser: calls onEvent({ event, data, id }) per dispatched event. */
export function sseParser(onEvent) {
	let buf = "";
	let data = [];
	let event = "";
	let id = null;
	return (chunk) => {
		buf += chunk;
		for (;;) {
			const nl = buf.search(/\r\n|\r|\n/);
			if (nl < 0) break;
			const line = buf.slice(0, nl);
			buf = buf.slice(buf[nl] === "\r" && buf[nl + 1] === "\n" ? nl + 2 : nl + 1);
			if (line === "") {
				if (data.length) onEvent({ event: event || "message", data: data.join("\n"), id });
				data = [];
				event = "";
				continue;
			}
			if (line.startsWith(":")) continue;
			const colon = line.indexOf(":");
			const field = colon < 0 ? line : line.slice(0, colon);
			let value = colon < 0 ? "" : line.slice(colon + 1);
			if (value.startsWith(" ")) value = value.slice(1);
			if (field === "data") data.push(value);
			else if (field === "event") event = value;
			else if (field === "id") id = value;
		}
	};
}
