// The fake engine's core: runner connections (runner protocol v5), actor lifecycle and
// allocation, commands/events with checkpoints, KV, and the wiring of the HTTP server (REST API,
// gateway, control API). Behaviour follows the Rivet Engine v2.0.33 as described in
// shared/reference/engine-protocol.md; README.md lists what is simplified.
import { EventEmitter } from "node:events";
import http from "node:http";
import { randomBytes } from "node:crypto";
import { WebSocketServer } from "ws";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { newEngineId, parseEngineId } from "./ids.mjs";
import { KvStore, KvError, KV_VERSION } from "./kv_store.mjs";
import { RivetError, Errors, errorCloseFrame } from "./errors.mjs";
import { toArrayBuffer } from "./json.mjs";
import { Gateway } from "./gateway.mjs";
import { Serverless } from "./serverless.mjs";
import { handleHttp } from "./http_api.mjs";

export const PROTOCOL_VERSION = 5;

export const DEFAULT_OPTIONS = Object.freeze({
	host: "127.0.0.1",
	port: 0,
	/** When set: runners must offer subprotocol rivet_token.<token>, REST calls need Bearer <token>. */
	token: null,
	namespaces: ["default"],
	datacenter: "default",
	dcLabel: 1,
	/** URL runners and clients use to reach this engine (x-rivet-endpoint); default http://host:port. */
	publicUrl: null,
	pingIntervalMs: 3000,
	runnerLostThresholdMs: 15000,
	initTimeoutMs: 5000,
	actorStartThresholdMs: 30000,
	actorStopThresholdMs: 30000,
	/** 0 = ack every event batch at once; the real engine acks when > 250 events are unacked. */
	eventAckBatchSize: 0,
	rescheduleBaseMs: 2000,
	rescheduleMaxExponent: 8,
	rescheduleResetMs: 10 * 60 * 1000,
	actorReadyTimeoutMs: 10000,
	wakePendingTimeoutMs: 60000,
	gatewayResponseTimeoutMs: 15000,
	gatewayWebSocketOpenTimeoutMs: 15000,
	gatewayRetryAttempts: 7,
	gatewayRetryInitialMs: 150,
	hwsAckTimeoutMs: 30000,
	hwsMaxPendingBytes: 1024 * 1024,
	serverlessDrainGraceMs: 5000,
	serverlessRetryBaseMs: 2000,
	/** Append "#<rayId>" to error close reasons, as guard does. */
	rayIds: true,
	/** Keep at most this many protocol messages in the log (oldest dropped). */
	maxLoggedMessages: 100000,
	/** (level, msg, fields) => void; default: stderr when FAKE_ENGINE_DEBUG is set. */
	logger: null,
});

const OPEN = 1;

export class FakeEngine extends EventEmitter {
	options;
	server = null;
	port = null;
	/** Gateway id (4 bytes) used on every tunnel message this gateway sends. */
	gatewayId = toArrayBuffer(randomBytes(4));
	namespaces = new Map();
	/** namespace -> Map(actor name -> metadata object), from ToServerInit.prepopulateActorNames. */
	actorNames = new Map();
	runners = new Map();
	actors = new Map();
	gateway;
	serverless;

	#runnersByKey = new Map();
	#pending = new Map(); // `${ns}\0${selector}` -> [{ actorId, generation, timer }]
	#conns = new Set();
	#messages = [];
	#seq = 0;
	#nextConnId = 1;
	#wssRunner;
	#closed = false;

	constructor(options = {}) {
		super();
		this.setMaxListeners(0);
		this.options = { ...DEFAULT_OPTIONS, ...options };
		const now = Date.now();
		for (const name of this.options.namespaces) this.createNamespace(name, name, now);
		this.#wssRunner = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024, handleProtocols: () => "rivet" });
		this.gateway = new Gateway(this);
		this.serverless = new Serverless(this);
	}

	// MARK: lifecycle

	async listen() {
		this.server = http.createServer((req, res) => handleHttp(this, req, res));
		this.server.on("upgrade", (req, socket, head) => this.#onUpgrade(req, socket, head));
		await new Promise((resolve, reject) => {
			this.server.once("error", reject);
			this.server.listen(this.options.port, this.options.host, () => {
				this.server.off("error", reject);
				resolve();
			});
		});
		this.port = this.server.address().port;
		return this;
	}

	get url() {
		const host = this.options.host.includes(":") ? `[${this.options.host}]` : this.options.host;
		return `http://${host}:${this.port}`;
	}

	get publicUrl() {
		return this.options.publicUrl ?? this.url;
	}

	/** Stops everything. Runner sockets get 1011 ws.going_away (the engine process terminating). */
	async close() {
		if (this.#closed) return;
		this.#closed = true;
		this.serverless.close();
		this.gateway.close();
		for (const runner of this.runners.values()) this.#clearRunnerTimers(runner);
		for (const actor of this.actors.values()) this.#clearActorTimers(actor);
		for (const list of this.#pending.values()) for (const p of list) clearTimeout(p.timer);
		for (const conn of this.#conns) this.#closeConn(conn, Errors.ws("going_away", "The Rivet Engine is migrating."));
		const closing = [...this.#conns].map(
			(conn) =>
				new Promise((resolve) => {
					if (conn.ws.readyState === 3) return resolve();
					const t = setTimeout(() => {
						conn.ws.terminate();
						resolve();
					}, 1000);
					conn.ws.once("close", () => {
						clearTimeout(t);
						resolve();
					});
				}),
		);
		await Promise.all(closing);
		if (this.server) {
			this.server.closeAllConnections?.();
			await new Promise((resolve) => this.server.close(() => resolve()));
		}
		this.emit("closed");
	}

	log(level, msg, fields = {}) {
		if (this.options.logger) return this.options.logger(level, msg, fields);
		if (process.env.FAKE_ENGINE_DEBUG) {
			const kv = Object.entries(fields)
				.map(([k, v]) => `${k}=${typeof v === "string" ? JSON.stringify(v) : String(v)}`)
				.join(" ");
			process.stderr.write(`[fake-engine] level=${level} msg=${JSON.stringify(msg)} ${kv}\n`);
		}
	}

	/** Emits "change"; every state mutation ends with it (waitFor re-evaluates on it). */
	changed() {
		this.emit("change");
	}

	// MARK: message log and waiting

	#record(dir, conn, msg, extra = {}) {
		const entry = {
			seq: ++this.#seq,
			ts: Date.now(),
			dir,
			runnerId: conn?.runnerId ?? null,
			connId: conn?.connId ?? null,
			tag: msg.tag,
			msg,
			...extra,
		};
		this.#messages.push(entry);
		if (this.#messages.length > this.options.maxLoggedMessages) this.#messages.shift();
		this.emit("message", entry);
		return entry;
	}

	/** Logs a message that did not travel on a runner socket (e.g. the serverless init packet). */
	recordExternal(dir, msg, extra = {}) {
		return this.#record(dir, null, msg, extra);
	}

	/** Protocol messages exchanged with runners: { seq, ts, dir: "toRunner"|"fromRunner", runnerId, connId, tag, msg, dropped? }. */
	messages(filter = {}) {
		return this.#messages.filter((e) => matchEntry(e, filter));
	}

	get lastSeq() {
		return this.#seq;
	}

	clearMessages() {
		this.#messages = [];
	}

	/**
	 * Resolves with the predicate's first truthy result; re-evaluated on every state change and
	 * every logged message. Rejects after timeoutMs.
	 */
	waitFor(predicate, { timeoutMs = 10000, description = "condition" } = {}) {
		return new Promise((resolve, reject) => {
			let timer;
			const check = () => {
				let v;
				try {
					v = predicate(this);
				} catch (err) {
					cleanup();
					reject(err);
					return true;
				}
				if (v) {
					cleanup();
					resolve(v);
					return true;
				}
				return false;
			};
			// Evaluated once the current synchronous operation is over, never on a half-applied state.
			let scheduled = false;
			const schedule = () => {
				if (scheduled) return;
				scheduled = true;
				queueMicrotask(() => {
					scheduled = false;
					if (!done) check();
				});
			};
			let done = false;
			const cleanup = () => {
				done = true;
				clearTimeout(timer);
				this.off("change", schedule);
				this.off("message", schedule);
			};
			if (check()) return;
			this.on("change", schedule);
			this.on("message", schedule);
			timer = setTimeout(() => {
				cleanup();
				reject(new Error(`timed out after ${timeoutMs} ms waiting for ${description}`));
			}, timeoutMs);
		});
	}

	/**
	 * Resolves with the first logged message (seq > since) matching `filter`: a function or an
	 * object of { dir, tag, runnerId, actorId, kind (tunnel message kind / event / command tag) }.
	 */
	waitForMessage(filter, { since = 0, timeoutMs = 10000 } = {}) {
		const match = (e) => e.seq > since && (typeof filter === "function" ? filter(e) : matchEntry(e, filter));
		return this.waitFor(() => this.#messages.find(match), {
			timeoutMs,
			description: `message ${typeof filter === "function" ? "(predicate)" : JSON.stringify(filter)}`,
		});
	}

	waitForActorState(actorId, states, opts = {}) {
		const wanted = Array.isArray(states) ? states : [states];
		return this.waitFor(
			() => {
				const a = this.actors.get(actorId);
				return a && wanted.includes(actorState(a)) ? this.describeActor(a) : null;
			},
			{ description: `actor ${actorId} in state ${wanted.join("|")}`, ...opts },
		);
	}

	// MARK: namespaces

	createNamespace(name, displayName = name, now = Date.now()) {
		if (!this.namespaces.has(name)) {
			this.namespaces.set(name, { namespace_id: newEngineId(this.options.dcLabel), name, display_name: displayName, create_ts: now });
		}
		return this.namespaces.get(name);
	}

	// MARK: runner connections

	#onUpgrade(req, socket, head) {
		const url = new URL(req.url, "http://fake");
		if (url.pathname === "/runners/connect" || req.headers["x-rivet-target"] === "runner" || hasProtocol(req, "rivet_target.runner")) {
			if (this.options.token && !hasProtocol(req, `rivet_token.${this.options.token}`)) {
				return rejectUpgrade(socket, Errors.forbidden());
			}
			this.#wssRunner.handleUpgrade(req, socket, head, (ws) => this.#onRunnerSocket(ws, url));
			return;
		}
		this.gateway.handleUpgrade(req, socket, head, url);
	}

	#onRunnerSocket(ws, url) {
		const conn = { connId: this.#nextConnId++, ws, runnerId: null, initTimer: null, pingTimer: null, namespace: null, runnerKey: null };
		this.#conns.add(conn);
		ws.on("close", (code, reason) => this.#onConnClose(conn, code, reason.toString()));
		ws.on("error", (err) => this.log("warn", "runner socket error", { connId: conn.connId, err: err.message }));
		ws.on("message", (data, isBinary) => this.#onConnMessage(conn, data, isBinary));

		const pv = url.searchParams.get("protocol_version");
		const namespace = url.searchParams.get("namespace");
		const runnerKey = url.searchParams.get("runner_key");
		if (pv === null || !/^\d+$/.test(pv) || Number(pv) > 0xffff || namespace === null || runnerKey === null) {
			return this.#closeConn(conn, Errors.ws("invalid_url", "Invalid url"));
		}
		if (Number(pv) !== PROTOCOL_VERSION) {
			return this.#closeConn(conn, Errors.ws("invalid_packet", `Invalid packet: the fake engine only speaks protocol version ${PROTOCOL_VERSION}`));
		}
		if (!this.namespaces.has(namespace)) return this.#closeConn(conn, Errors.namespaceNotFound());
		conn.namespace = namespace;
		conn.runnerKey = runnerKey;
		conn.initTimer = setTimeout(
			() => this.#closeConn(conn, Errors.ws("timed_out_waiting_for_init", "Timed out waiting for the init packet to be sent.")),
			this.options.initTimeoutMs,
		);
		this.emit("runner.socket", { connId: conn.connId });
		this.changed();
	}

	/** Closes a runner socket with an error's close frame (ws.eviction → 1000, others → 1011). */
	#closeConn(conn, err) {
		const frame = errorCloseFrame(err, this.options.rayIds);
		this.#closeConnRaw(conn, frame.code, frame.reason);
	}

	#closeConnRaw(conn, code, reason) {
		clearTimeout(conn.initTimer);
		clearInterval(conn.pingTimer);
		if (conn.ws.readyState <= OPEN) conn.ws.close(code, reason);
	}

	#onConnMessage(conn, data, isBinary) {
		if (!conn.runnerId) {
			if (!conn.initTimer) return; // already rejected
			clearTimeout(conn.initTimer);
			conn.initTimer = null;
			if (!isBinary) return this.#closeConn(conn, Errors.ws("invalid_initial_packet", "Invalid initial packet: must be a binary blob."));
			let msg;
			try {
				msg = protocol.decodeToServer(new Uint8Array(data));
			} catch (err) {
				return this.#closeConn(conn, Errors.ws("invalid_packet", `Invalid packet: ${err.message}`));
			}
			this.#record("fromRunner", conn, msg);
			if (msg.tag !== "ToServerInit") {
				return this.#closeConn(conn, Errors.ws("invalid_initial_packet", "Invalid initial packet: must be `ToServer::Init`."));
			}
			this.#handleInit(conn, msg.val);
			this.changed();
			return;
		}
		if (!isBinary) return; // the engine ignores non-binary frames after init
		let msg;
		try {
			msg = protocol.decodeToServer(new Uint8Array(data));
		} catch (err) {
			this.log("warn", "failed to deserialize runner message", { err: err.message });
			return;
		}
		this.#record("fromRunner", conn, msg);
		const runner = this.runners.get(conn.runnerId);
		try {
			this.#handleRunnerMessage(conn, runner, msg);
		} catch (err) {
			this.log("error", "error handling runner message", { tag: msg.tag, err: err.stack });
		}
		this.changed();
	}

	#handleInit(conn, init) {
		const key = runnerKeyOf(conn.namespace, init.name, conn.runnerKey);
		let runner = this.runners.get(this.#runnersByKey.get(key));
		if (!runner || runner.stopped) {
			runner = {
				runnerId: newEngineId(this.options.dcLabel),
				namespace: conn.namespace,
				name: init.name,
				key: conn.runnerKey,
				version: init.version,
				totalSlots: init.totalSlots,
				remainingSlots: init.totalSlots,
				metadata: null,
				createTs: Date.now(),
				conn: null,
				draining: false,
				stopped: false,
				lastPingTs: Date.now(),
				lastRtt: null,
				pongs: 0,
				commands: [],
				actors: new Set(),
				lostTimer: null,
				drainTimer: null,
				serverless: null,
				inits: 0,
			};
			this.runners.set(runner.runnerId, runner);
			this.#runnersByKey.set(key, runner.runnerId);
		}
		runner.inits++;
		if (init.prepopulateActorNames) {
			const names = this.actorNames.get(conn.namespace) ?? new Map();
			for (const [name, data] of init.prepopulateActorNames) names.set(name, parseJsonObject(data.metadata));
			this.actorNames.set(conn.namespace, names);
		}
		if (init.metadata != null) runner.metadata = parseJsonObject(init.metadata);

		const previous = runner.conn;
		runner.conn = conn;
		conn.runnerId = runner.runnerId;
		clearTimeout(runner.lostTimer);
		runner.lostTimer = null;
		runner.lastPingTs = Date.now();

		this.sendToRunner(runner, {
			tag: "ToClientInit",
			val: { runnerId: runner.runnerId, metadata: { runnerLostThreshold: BigInt(this.options.runnerLostThresholdMs) } },
		});
		const missed = [...runner.commands].sort(compareCommands);
		if (missed.length) this.sendToRunner(runner, { tag: "ToClientCommands", val: missed });

		// Runner-key takeover: evict every other live socket of this runner id or of this key.
		for (const other of this.#conns) {
			if (other === conn || !other.runnerId || other.ws.readyState > OPEN) continue;
			const r = this.runners.get(other.runnerId);
			if (other === previous || (r && runnerKeyOf(r.namespace, r.name, r.key) === key)) {
				this.#closeConn(other, Errors.ws("eviction", "The websocket has been evicted and should not attempt to reconnect."));
			}
		}

		conn.pingTimer = setInterval(() => this.#ping(conn), this.options.pingIntervalMs);
		conn.pingTimer.unref?.();
		this.emit("runner.connected", { runnerId: runner.runnerId, connId: conn.connId });
		if (!runner.draining) this.allocatePending(runner.namespace, runner.name);
		if (runner.serverless) this.serverless.onRunnerConnected(runner);
	}

	#ping(conn) {
		if (conn.ws.readyState !== OPEN) return;
		const runner = this.runners.get(conn.runnerId);
		if (runner && runner.conn === conn) runner.lastPingTs = Date.now();
		this.#sendOnConn(conn, { tag: "ToClientPing", val: { ts: BigInt(Date.now()) } });
	}

	#onConnClose(conn, code, reason) {
		this.#conns.delete(conn);
		clearTimeout(conn.initTimer);
		clearInterval(conn.pingTimer);
		const runner = this.runners.get(conn.runnerId);
		this.emit("runner.socket.closed", { connId: conn.connId, runnerId: conn.runnerId, code, reason });
		if (!runner || runner.conn !== conn) return this.changed();
		runner.conn = null;
		this.emit("runner.disconnected", { runnerId: runner.runnerId, code, reason });
		if (!runner.stopped && !runner.draining && !this.#closed) {
			// The runner stays known (not allocatable) until the lost threshold passes.
			runner.lostTimer = setTimeout(() => this.#stopRunner(runner, "lost"), this.options.runnerLostThresholdMs);
		}
		this.changed();
	}

	#handleRunnerMessage(conn, runner, msg) {
		if (!runner) return;
		switch (msg.tag) {
			case "ToServerInit":
				this.log("debug", "received additional init packet, ignoring");
				break;
			case "ToServerEvents":
				this.#handleEvents(runner, msg.val);
				break;
			case "ToServerAckCommands":
				for (const cp of msg.val.lastCommandCheckpoints) {
					runner.commands = runner.commands.filter(
						(c) => !(c.checkpoint.actorId === cp.actorId && c.checkpoint.generation === cp.generation && c.checkpoint.index <= cp.index),
					);
				}
				break;
			case "ToServerStopping":
				this.#startDraining(runner, false);
				break;
			case "ToServerPong": {
				const rtt = Date.now() - Number(msg.val.ts);
				if (rtt >= 0) {
					runner.lastRtt = rtt;
					runner.pongs++;
				}
				break;
			}
			case "ToServerKvRequest":
				this.#handleKv(conn, runner, msg.val);
				break;
			case "ToServerTunnelMessage":
				this.gateway.onRunnerTunnelMessage(runner, msg.val);
				break;
		}
	}

	/** Encodes and sends a ToClient message on the runner's current socket; logged (dropped: true when not connected). */
	sendToRunner(runnerOrId, msg) {
		const runner = typeof runnerOrId === "string" ? this.runners.get(runnerOrId) : runnerOrId;
		if (!runner?.conn || runner.conn.ws.readyState !== OPEN) {
			this.#record("toRunner", { runnerId: runner?.runnerId ?? runnerOrId, connId: null }, msg, { dropped: true });
			return false;
		}
		return this.#sendOnConn(runner.conn, msg);
	}

	#sendOnConn(conn, msg) {
		this.#record("toRunner", conn, msg);
		conn.ws.send(protocol.encodeToClient(msg));
		return true;
	}

	// MARK: runner draining / stopping

	#startDraining(runner, resetRescheduling) {
		if (runner.draining || runner.stopped) return;
		runner.draining = true;
		this.#forgetRunnerKey(runner);
		clearTimeout(runner.lostTimer);
		runner.lostTimer = null;
		for (const actorId of [...runner.actors]) {
			const actor = this.actors.get(actorId);
			if (actor) this.#goingAway(actor, resetRescheduling);
		}
		// The runner workflow ends once it has been quiet for the lost threshold.
		if (!this.#closed) runner.drainTimer = setTimeout(() => this.#stopRunner(runner, "drained"), this.options.runnerLostThresholdMs);
		this.emit("runner.draining", { runnerId: runner.runnerId });
	}

	/** Runner Stop as the engine sends it on serverless drain (resets actor rescheduling). */
	startDrainingRunner(runnerId) {
		const r = this.runners.get(runnerId);
		if (r) this.#startDraining(r, true);
		this.changed();
	}

	/** ToRunnerClose: closes the runner's socket with ws.eviction (if it has one). */
	closeRunnerSocket(runnerId) {
		const r = this.runners.get(runnerId);
		if (r?.conn) this.#closeConn(r.conn, Errors.ws("eviction", "The websocket has been evicted and should not attempt to reconnect."));
	}

	#forgetRunnerKey(runner) {
		const key = runnerKeyOf(runner.namespace, runner.name, runner.key);
		if (this.#runnersByKey.get(key) === runner.runnerId) this.#runnersByKey.delete(key);
	}

	/** The runner workflow ends: its actors are lost, its socket (if any) is evicted. */
	#stopRunner(runner, why) {
		if (runner.stopped) return;
		runner.stopped = true;
		this.#clearRunnerTimers(runner);
		this.#forgetRunnerKey(runner);
		runner.commands = [];
		for (const actorId of [...runner.actors]) {
			const actor = this.actors.get(actorId);
			if (actor && actor.runnerId === runner.runnerId) this.#handleStopped(actor, { kind: "lost", forceReschedule: false });
		}
		if (runner.conn) this.#closeConn(runner.conn, Errors.ws("eviction", "The websocket has been evicted and should not attempt to reconnect."));
		this.emit(`runner.${why}`, { runnerId: runner.runnerId });
		this.emit("runner.stopped", { runnerId: runner.runnerId, why });
		this.serverless.onRunnerStopped(runner);
		this.changed();
	}

	#clearRunnerTimers(runner) {
		clearTimeout(runner.lostTimer);
		clearTimeout(runner.drainTimer);
		runner.lostTimer = runner.drainTimer = null;
	}

	// MARK: actors

	/**
	 * Creates an actor. crashPolicy: "sleep" | "restart" | "destroy" (the engine's API default;
	 * RivetKit always sends "sleep"). input: bytes (what the runner receives; RivetKit puts CBOR there).
	 */
	createActor({ namespace = "default", name, key = null, input = null, crashPolicy = "destroy", runnerNameSelector = "default" }) {
		if (!this.namespaces.has(namespace)) throw Errors.namespaceNotFound();
		if (typeof name !== "string" || !name) throw Errors.invalidInput("name is required");
		if (!["sleep", "restart", "destroy"].includes(crashPolicy)) throw Errors.invalidInput(`invalid crash_policy: ${crashPolicy}`);
		if (key != null) {
			const existing = this.findActorByKey(namespace, name, key);
			if (existing) throw Errors.duplicateKey(key, existing.actorId);
		}
		const now = Date.now();
		const actor = {
			actorId: newEngineId(this.options.dcLabel),
			namespace,
			name,
			key,
			input: input == null ? null : Buffer.from(input),
			crashPolicy,
			runnerNameSelector,
			createTs: now,
			startTs: null,
			connectableTs: null,
			sleepTs: null,
			destroyTs: null,
			pendingAllocationTs: null,
			rescheduleTs: null,
			generation: 0,
			runnerId: null,
			connectable: false,
			sleeping: false,
			stopping: false,
			goingAway: false,
			willWake: false,
			destroyed: false,
			pending: false,
			alarmTs: null,
			alarmTimer: null,
			gcTimer: null,
			rescheduleTimer: null,
			lastCommandIdx: -1n,
			lastEventIdx: -1n,
			lastEventAckIdx: -1n,
			retryCount: 0,
			lastRetryTs: 0,
			forServerless: false,
			kv: new KvStore(),
		};
		this.actors.set(actor.actorId, actor);
		const res = this.#spawn(actor, 0, {});
		if (res === "sleep") this.#setSleeping(actor);
		this.emit("actor.created", { actorId: actor.actorId });
		this.changed();
		return actor;
	}

	findActorByKey(namespace, name, key) {
		for (const a of this.actors.values()) {
			if (!a.destroyed && a.namespace === namespace && a.name === name && a.key === key) return a;
		}
		return null;
	}

	/** Returns "allocated" | "pending" | "sleep". generation: the generation to start on allocation. */
	#spawn(actor, generation, { dontSleep = false, pendingTimeoutMs = null }) {
		const qkey = runnerKeyOf(actor.namespace, actor.runnerNameSelector, "");
		const queue = this.#pending.get(qkey) ?? [];
		const runner = queue.length ? null : this.#pickRunner(actor.namespace, actor.runnerNameSelector);
		if (runner) {
			this.#allocate(actor, runner, generation);
			return "allocated";
		}
		const serverless = this.serverless.configFor(actor.namespace, actor.runnerNameSelector);
		const hasServerless = !!serverless && serverless.maxRunners !== 0;
		if (actor.crashPolicy === "sleep" && !dontSleep && !hasServerless) return "sleep";
		const entry = { actorId: actor.actorId, generation, timer: null };
		if (pendingTimeoutMs != null) {
			entry.timer = setTimeout(() => {
				const q = this.#pending.get(qkey) ?? [];
				const i = q.indexOf(entry);
				if (i < 0) return;
				q.splice(i, 1);
				actor.pending = false;
				actor.pendingAllocationTs = null;
				this.#setSleeping(actor);
				this.emit("actor.stopped", { actorId: actor.actorId, generation: actor.generation });
				this.changed();
			}, pendingTimeoutMs);
		}
		queue.push(entry);
		this.#pending.set(qkey, queue);
		actor.pending = true;
		actor.pendingAllocationTs = Date.now();
		actor.forServerless = hasServerless;
		if (hasServerless) this.serverless.bump(actor.namespace, actor.runnerNameSelector);
		return "pending";
	}

	#pickRunner(namespace, name) {
		let best = null;
		for (const r of this.runners.values()) {
			if (r.namespace !== namespace || r.name !== name) continue;
			if (r.stopped || r.draining || !r.conn || r.conn.ws.readyState !== OPEN || r.remainingSlots <= 0) continue;
			if (
				!best ||
				r.version > best.version ||
				(r.version === best.version && r.remainingSlots / r.totalSlots > best.remainingSlots / best.totalSlots)
			) {
				best = r;
			}
		}
		return best;
	}

	/** Allocates queued actors of (namespace, runner name) to runners with free slots, in queue order. */
	allocatePending(namespace, name) {
		const qkey = runnerKeyOf(namespace, name, "");
		const queue = this.#pending.get(qkey);
		while (queue?.length) {
			const runner = this.#pickRunner(namespace, name);
			if (!runner) break;
			const entry = queue.shift();
			clearTimeout(entry.timer);
			const actor = this.actors.get(entry.actorId);
			if (!actor || actor.destroyed) continue;
			actor.pending = false;
			this.#allocate(actor, runner, entry.generation);
		}
	}

	#removeFromPending(actor) {
		const qkey = runnerKeyOf(actor.namespace, actor.runnerNameSelector, "");
		const queue = this.#pending.get(qkey);
		if (!queue) return;
		const i = queue.findIndex((e) => e.actorId === actor.actorId);
		if (i >= 0) {
			clearTimeout(queue[i].timer);
			queue.splice(i, 1);
		}
		actor.pending = false;
	}

	#allocate(actor, runner, generation) {
		runner.remainingSlots--;
		runner.actors.add(actor.actorId);
		actor.runnerId = runner.runnerId;
		actor.generation = generation;
		actor.lastCommandIdx = -1n;
		actor.lastEventIdx = -1n;
		actor.lastEventAckIdx = -1n;
		actor.sleeping = false;
		actor.sleepTs = null;
		actor.pending = false;
		actor.pendingAllocationTs = null;
		actor.rescheduleTs = null;
		actor.connectable = false;
		actor.forServerless = !!runner.serverless;
		this.#setGcTimer(actor, this.options.actorStartThresholdMs);
		this.#sendCommands(actor, [
			{
				tag: "CommandStartActor",
				val: {
					config: {
						name: actor.name,
						key: actor.key,
						createTs: BigInt(Date.now()),
						input: actor.input ? toArrayBuffer(actor.input) : null,
					},
					hibernatingRequests: [],
				},
			},
		]);
		this.emit("actor.allocated", { actorId: actor.actorId, runnerId: runner.runnerId, generation });
	}

	/**
	 * Stores the commands for the actor's runner (replayed after a reconnect until acked) and sends
	 * them. StartActor gets the actor's current hibernating requests filled in at send time.
	 */
	#sendCommands(actor, inners, runnerId = actor.runnerId) {
		const runner = this.runners.get(runnerId);
		if (!runner) return;
		const wrappers = inners.map((inner) => {
			actor.lastCommandIdx += 1n;
			return { checkpoint: { actorId: actor.actorId, generation: actor.generation, index: actor.lastCommandIdx }, inner };
		});
		if (!runner.stopped) runner.commands.push(...wrappers);
		const sent = wrappers.map((w) =>
			w.inner.tag === "CommandStartActor"
				? { ...w, inner: { tag: w.inner.tag, val: { ...w.inner.val, hibernatingRequests: this.gateway.hibernatingRequestsFor(actor.actorId) } } }
				: w,
		);
		this.sendToRunner(runner, { tag: "ToClientCommands", val: sent });
	}

	#setGcTimer(actor, ms) {
		clearTimeout(actor.gcTimer);
		const generation = actor.generation;
		actor.gcTimer = setTimeout(() => {
			actor.gcTimer = null;
			if (actor.destroyed || actor.generation !== generation || !actor.runnerId) return;
			this.log("warn", "actor lost (start/stop threshold passed)", { actorId: actor.actorId });
			this.#handleStopped(actor, { kind: "lost", forceReschedule: false });
			this.changed();
		}, ms);
		actor.gcTimer.unref?.();
	}

	#clearActorTimers(actor) {
		clearTimeout(actor.gcTimer);
		clearTimeout(actor.alarmTimer);
		clearTimeout(actor.rescheduleTimer);
		actor.gcTimer = actor.alarmTimer = actor.rescheduleTimer = null;
	}

	#setSleeping(actor) {
		actor.sleeping = true;
		actor.connectable = false;
		actor.sleepTs = Date.now();
	}

	#handleEvents(runner, events) {
		const touched = new Map();
		for (const ev of events) {
			const { actorId, generation, index } = ev.checkpoint;
			const actor = this.actors.get(actorId);
			if (!actor || actor.destroyed) continue;
			if (actor.runnerId !== runner.runnerId) {
				this.log("debug", "events not from current runner, ignoring", { actorId });
				continue;
			}
			if (generation !== actor.generation || index <= actor.lastEventIdx) {
				this.log("debug", "ignored event due to generation/index filter", { actorId, generation, index: String(index) });
				continue;
			}
			actor.lastEventIdx = index;
			touched.set(actor, actor.generation);
			this.#applyEvent(actor, ev.inner);
		}
		for (const [actor, generation] of touched) {
			// The actor may have been rescheduled by the event; ack against the generation acted on.
			const batch = this.options.eventAckBatchSize;
			if (actor.generation !== generation || actor.runnerId !== runner.runnerId) continue;
			if (batch > 0 && !(actor.lastEventIdx > actor.lastEventAckIdx + BigInt(batch))) continue;
			actor.lastEventAckIdx = actor.lastEventIdx;
			this.sendToRunner(runner, {
				tag: "ToClientAckEvents",
				val: { lastEventCheckpoints: [{ actorId: actor.actorId, generation, index: actor.lastEventIdx }] },
			});
		}
	}

	#applyEvent(actor, inner) {
		switch (inner.tag) {
			case "EventActorIntent":
				if (inner.val.intent.tag === "ActorIntentSleep") {
					if (!actor.sleeping) {
						this.#setGcTimer(actor, this.options.actorStopThresholdMs);
						this.#setSleeping(actor);
						this.#sendCommands(actor, [{ tag: "CommandStopActor", val: null }]);
					}
				} else if (!actor.stopping) {
					this.#setGcTimer(actor, this.options.actorStopThresholdMs);
					actor.stopping = true;
					actor.connectable = false;
					this.#sendCommands(actor, [{ tag: "CommandStopActor", val: null }]);
				}
				break;
			case "EventActorStateUpdate":
				if (inner.val.state.tag === "ActorStateRunning") {
					clearTimeout(actor.gcTimer);
					actor.gcTimer = null;
					const now = Date.now();
					actor.startTs ??= now;
					actor.connectableTs = now;
					actor.connectable = true;
					this.emit("actor.ready", { actorId: actor.actorId, runnerId: actor.runnerId, generation: actor.generation });
				} else {
					this.#handleStopped(actor, { kind: "normal", code: inner.val.state.val.code, message: inner.val.state.val.message });
				}
				break;
			case "EventActorSetAlarm":
				this.#setAlarm(actor, inner.val.alarmTs == null ? null : Number(inner.val.alarmTs));
				break;
		}
	}

	#setAlarm(actor, ts) {
		clearTimeout(actor.alarmTimer);
		actor.alarmTimer = null;
		actor.alarmTs = ts;
		if (ts == null) return;
		actor.alarmTimer = setTimeout(() => this.#fireAlarm(actor), Math.max(0, ts - Date.now()));
		actor.alarmTimer.unref?.();
	}

	/** The alarm is due: a sleeping actor is woken ("don't sleep"); for a running actor it is a no-op. */
	#fireAlarm(actor) {
		clearTimeout(actor.alarmTimer);
		actor.alarmTimer = null;
		if (actor.destroyed || actor.alarmTs == null) return;
		this.emit("actor.alarm", { actorId: actor.actorId, alarmTs: actor.alarmTs, sleeping: actor.sleeping });
		// Fires once: consumed whether or not the actor was asleep.
		actor.alarmTs = null;
		if (actor.sleeping) this.wakeActor(actor.actorId, { dontSleep: true });
		this.changed();
	}

	/** Wake signal: reallocates a sleeping actor (or defers it until a pending sleep-stop completes). */
	wakeActor(actorId, { dontSleep = true, pendingTimeoutMs = null } = {}) {
		const actor = this.actors.get(actorId);
		if (!actor || actor.destroyed) throw Errors.actorNotFound();
		if (!actor.sleeping) return false;
		if (!actor.runnerId) {
			actor.alarmTs = null;
			clearTimeout(actor.alarmTimer);
			actor.alarmTimer = null;
			actor.sleeping = false;
			actor.willWake = false;
			this.#reschedule(actor, { dontSleep, pendingTimeoutMs });
		} else {
			actor.willWake = true;
		}
		this.changed();
		return true;
	}

	/**
	 * Guard's route resolution for actor traffic: wakes a sleeping actor ("don't sleep", pending
	 * timeout 60 s) and waits up to actorReadyTimeoutMs until it runs. Resolves with its runner id.
	 */
	resolveGatewayActor(actorId) {
		const actor = this.actors.get(actorId);
		if (!actor || actor.destroyed) return Promise.reject(Errors.actorNotFound());
		if (actor.sleeping) this.wakeActor(actorId, { dontSleep: true, pendingTimeoutMs: this.options.wakePendingTimeoutMs });
		if (actor.runnerId && actor.connectable) return Promise.resolve(actor.runnerId);
		return new Promise((resolve, reject) => {
			let wakeRetries = 0;
			const done = () => {
				clearTimeout(timer);
				this.off("actor.ready", onReady);
				this.off("actor.stopped", onStopped);
				this.off("actor.destroyed", onDestroyed);
			};
			const onReady = (e) => {
				if (e.actorId !== actorId) return;
				done();
				resolve(e.runnerId);
			};
			const onStopped = (e) => {
				if (e.actorId !== actorId) return;
				if (wakeRetries < 16) {
					wakeRetries++;
					try {
						this.wakeActor(actorId, { dontSleep: true, pendingTimeoutMs: this.options.wakePendingTimeoutMs });
					} catch {}
				} else {
					done();
					reject(Errors.serviceUnavailable());
				}
			};
			const onDestroyed = (e) => {
				if (e.actorId !== actorId) return;
				done();
				reject(Errors.destroyedWhileWaiting());
			};
			const timer = setTimeout(() => {
				done();
				reject(Errors.actorReadyTimeout(actorId));
			}, this.options.actorReadyTimeoutMs);
			this.on("actor.ready", onReady);
			this.on("actor.stopped", onStopped);
			this.on("actor.destroyed", onDestroyed);
		});
	}

	#goingAway(actor, resetRescheduling) {
		if (resetRescheduling) actor.retryCount = 0;
		if (actor.goingAway || !actor.runnerId) return;
		this.#setGcTimer(actor, this.options.actorStopThresholdMs);
		actor.goingAway = true;
		actor.connectable = false;
		this.#sendCommands(actor, [{ tag: "CommandStopActor", val: null }]);
	}

	/** The actor's allocation ended (Stopped event, or lost). Applies sleep / crash policy / destroy. */
	#handleStopped(actor, variant) {
		if (variant.kind === "normal" && variant.code === protocol.StopCode.Ok) actor.retryCount = 0;
		clearTimeout(actor.gcTimer);
		actor.gcTimer = null;
		actor.stopping = false;
		const oldRunnerId = actor.runnerId;
		this.#deallocate(actor);

		if (variant.kind === "lost" && oldRunnerId) {
			// The previous allocation's state is unknown: tell its runner to stop it, in case.
			const r = this.runners.get(oldRunnerId);
			if (r && !r.stopped) this.#sendCommands(actor, [{ tag: "CommandStopActor", val: null }], oldRunnerId);
		}

		let destroyed = false;
		if (variant.kind === "lost" && variant.forceReschedule) {
			this.#reschedule(actor, { dontSleep: true });
		} else if (!actor.sleeping) {
			const graceful = !actor.goingAway && variant.kind === "normal" && variant.code === protocol.StopCode.Ok;
			if (actor.crashPolicy === "restart" && !graceful) {
				this.#reschedule(actor, {});
			} else if (actor.crashPolicy === "sleep" && !graceful) {
				this.#setSleeping(actor);
			} else {
				destroyed = true;
			}
		} else if (actor.willWake) {
			actor.sleeping = false;
			this.#reschedule(actor, {});
		}
		actor.willWake = false;
		actor.goingAway = false;
		if (destroyed) return this.#destroy(actor);
		this.emit("actor.stopped", { actorId: actor.actorId, generation: actor.generation, variant });
	}

	#deallocate(actor) {
		const runner = this.runners.get(actor.runnerId);
		if (runner && runner.actors.delete(actor.actorId)) runner.remainingSlots++;
		actor.runnerId = null;
		actor.connectable = false;
		actor.connectableTs = null;
		if (!runner) return;
		// The freed slot goes to queued actors first (as the engine does, before any reschedule).
		this.allocatePending(runner.namespace, runner.name);
		if (runner.serverless) this.serverless.bump(runner.namespace, runner.name);
	}

	#reschedule(actor, override) {
		const now = Date.now();
		const oldCount = actor.retryCount;
		actor.retryCount = actor.lastRetryTs < now - this.options.rescheduleResetMs ? 0 : actor.retryCount + 1;
		actor.lastRetryTs = now;
		const run = () => {
			actor.rescheduleTimer = null;
			actor.rescheduleTs = null;
			if (actor.destroyed) return;
			const res = this.#spawn(actor, actor.generation + 1, override);
			if (res === "sleep") this.#setSleeping(actor);
			this.changed();
		};
		if (actor.retryCount > 0) {
			const delay = this.options.rescheduleBaseMs * 2 ** Math.min(oldCount, this.options.rescheduleMaxExponent) + Math.floor(Math.random() * 500);
			actor.rescheduleTs = now + delay;
			actor.rescheduleTimer = setTimeout(run, delay);
		} else {
			run();
		}
	}

	/** Destroys an actor (API delete, or a graceful exit): StopActor if allocated, KV cleared. */
	destroyActor(actorId) {
		const actor = this.actors.get(actorId);
		if (!actor || actor.destroyed) throw Errors.actorNotFound();
		if (actor.runnerId) {
			this.#sendCommands(actor, [{ tag: "CommandStopActor", val: null }]);
			this.#deallocate(actor);
		}
		this.#destroy(actor);
		this.changed();
	}

	#destroy(actor) {
		this.#removeFromPending(actor);
		this.#clearActorTimers(actor);
		if (actor.runnerId) this.#deallocate(actor);
		actor.destroyed = true;
		actor.destroyTs = Date.now();
		actor.sleeping = false;
		actor.alarmTs = null;
		actor.kv.drop();
		this.gateway.forgetHibernatingRequests(actor.actorId);
		this.emit("actor.destroyed", { actorId: actor.actorId });
	}

	// MARK: KV

	#handleKv(conn, runner, req) {
		const respond = (data) => this.#sendOnConn(conn, { tag: "ToClientKvResponse", val: { requestId: req.requestId, data } });
		const error = (message) => respond({ tag: "KvErrorResponse", val: { message } });
		try {
			parseEngineId(req.actorId);
		} catch (err) {
			return error(err.message);
		}
		const actor = this.actors.get(req.actorId);
		if (!actor || actor.destroyed || actor.runnerId !== runner.runnerId) return error("given actor does not belong to runner");
		const entriesResponse = (entries) => ({
			keys: entries.map((e) => toArrayBuffer(e.key)),
			values: entries.map((e) => toArrayBuffer(e.value)),
			metadata: entries.map((e) => ({ version: toArrayBuffer(KV_VERSION), updateTs: BigInt(e.updateTs) })),
		});
		try {
			const d = req.data;
			switch (d.tag) {
				case "KvGetRequest":
					return respond({ tag: "KvGetResponse", val: entriesResponse(actor.kv.get(d.val.keys)) });
				case "KvListRequest":
					return respond({ tag: "KvListResponse", val: entriesResponse(actor.kv.list(d.val.query, d.val.reverse ?? false, d.val.limit)) });
				case "KvPutRequest":
					actor.kv.put(d.val.keys, d.val.values);
					return respond({ tag: "KvPutResponse", val: null });
				case "KvDeleteRequest":
					actor.kv.delete(d.val.keys);
					return respond({ tag: "KvDeleteResponse", val: null });
				case "KvDropRequest":
					actor.kv.drop();
					return respond({ tag: "KvDropResponse", val: null });
			}
		} catch (err) {
			if (err instanceof KvError) return error(err.message);
			throw err;
		}
	}

	// MARK: control API (also exposed over HTTP under /__fake)

	getActor(actorId) {
		const a = this.actors.get(actorId);
		return a ? this.describeActor(a) : null;
	}

	listActors(filter = {}) {
		return [...this.actors.values()]
			.filter((a) => (filter.name == null || a.name === filter.name) && (filter.state == null || actorState(a) === filter.state))
			.map((a) => this.describeActor(a));
	}

	describeActor(a) {
		return {
			actorId: a.actorId,
			name: a.name,
			key: a.key,
			namespace: a.namespace,
			runnerNameSelector: a.runnerNameSelector,
			crashPolicy: a.crashPolicy,
			state: actorState(a),
			generation: a.generation,
			runnerId: a.runnerId,
			connectable: a.connectable,
			sleeping: a.sleeping,
			alarmTs: a.alarmTs,
			createTs: a.createTs,
			startTs: a.startTs,
			connectableTs: a.connectableTs,
			sleepTs: a.sleepTs,
			destroyTs: a.destroyTs,
			pendingAllocationTs: a.pendingAllocationTs,
			rescheduleTs: a.rescheduleTs,
			lastEventIdx: Number(a.lastEventIdx),
			lastCommandIdx: Number(a.lastCommandIdx),
			kvKeys: a.kv.count,
		};
	}

	/** The actor as the REST API shows it (engine `Actor` JSON). */
	apiActor(a) {
		return {
			actor_id: a.actorId,
			name: a.name,
			key: a.key,
			namespace_id: this.namespaces.get(a.namespace)?.namespace_id ?? null,
			datacenter: this.options.datacenter,
			runner_name_selector: a.runnerNameSelector,
			crash_policy: a.crashPolicy,
			create_ts: a.createTs,
			start_ts: a.startTs,
			pending_allocation_ts: a.pendingAllocationTs,
			connectable_ts: a.connectable ? a.connectableTs : null,
			sleep_ts: a.sleeping ? a.sleepTs : null,
			reschedule_ts: a.rescheduleTs,
			destroy_ts: a.destroyTs,
		};
	}

	/** KV entries of an actor, in key order: [{ key: Buffer, value: Buffer, updateTs }]. */
	readKv(actorId) {
		const a = this.actors.get(actorId);
		if (!a) throw Errors.actorNotFound();
		return a.kv.entries();
	}

	/** Writes KV entries directly (test setup): entries = [[key, value], ...]. */
	writeKv(actorId, entries) {
		const a = this.actors.get(actorId);
		if (!a) throw Errors.actorNotFound();
		a.kv.put(
			entries.map((e) => e[0]),
			entries.map((e) => e[1]),
		);
		this.changed();
	}

	listRunners() {
		return [...this.runners.values()].map((r) => this.describeRunner(r));
	}

	getRunner(runnerId) {
		const r = this.runners.get(runnerId);
		return r ? this.describeRunner(r) : null;
	}

	describeRunner(r) {
		return {
			runnerId: r.runnerId,
			namespace: r.namespace,
			name: r.name,
			key: r.key,
			version: r.version,
			totalSlots: r.totalSlots,
			remainingSlots: r.remainingSlots,
			connected: !!r.conn && r.conn.ws.readyState === OPEN,
			connId: r.conn?.connId ?? null,
			draining: r.draining,
			stopped: r.stopped,
			actors: [...r.actors],
			unackedCommands: r.commands.length,
			lastPingTs: r.lastPingTs,
			lastRtt: r.lastRtt,
			pongs: r.pongs,
			inits: r.inits,
			metadata: r.metadata,
			serverless: !!r.serverless,
			createTs: r.createTs,
		};
	}

	#runnerOrThrow(runnerId) {
		const r = this.runners.get(runnerId);
		if (!r) throw new RivetError("runner", "not_found", "The runner does not exist.");
		return r;
	}

	/**
	 * Drops a runner's connection: abruptly (TCP destroyed, no close frame) or with a close code
	 * and reason (default 1011 "ws.going_away"). The runner stays known until the lost threshold.
	 */
	dropRunnerConnection(runnerId, { abrupt = false, code = 1011, reason = "ws.going_away" } = {}) {
		const r = this.#runnerOrThrow(runnerId);
		if (!r.conn) return false;
		if (abrupt) r.conn.ws.terminate();
		else this.#closeConnRaw(r.conn, code, reason);
		return true;
	}

	/** Closes the runner's socket with 1000 ws.eviction (the runner must not reconnect). */
	evictRunner(runnerId) {
		const r = this.#runnerOrThrow(runnerId);
		if (!r.conn) return false;
		this.#closeConn(r.conn, Errors.ws("eviction", "The websocket has been evicted and should not attempt to reconnect."));
		return true;
	}

	/**
	 * Engine-side drain (as on serverless drain / engine shutdown): no new actors, StopActor to
	 * every actor (they sleep, crash policy as "going away"), then once they all stopped (or after
	 * graceMs) the runner is stopped and its socket evicted. Resolves when the runner is stopped.
	 */
	async drainRunner(runnerId, { graceMs = this.options.serverlessDrainGraceMs } = {}) {
		const r = this.#runnerOrThrow(runnerId);
		this.#startDraining(r, true);
		this.changed();
		await this.waitFor(() => r.actors.size === 0 || r.stopped, { timeoutMs: graceMs, description: "runner actors stopped" }).catch(() => {});
		this.#stopRunner(r, "drained");
		return this.describeRunner(r);
	}

	/** Fires an actor's alarm now (whatever its time). */
	fireAlarm(actorId) {
		const a = this.actors.get(actorId);
		if (!a) throw Errors.actorNotFound();
		if (a.alarmTs == null) return false;
		this.#fireAlarm(a);
		return true;
	}

	/** Fires every alarm due within the next `ms` milliseconds, as if the clock had moved on. */
	advanceAlarms(ms) {
		const limit = Date.now() + ms;
		const fired = [];
		for (const a of this.actors.values()) {
			if (a.alarmTs != null && a.alarmTs <= limit) {
				fired.push(a.actorId);
				this.#fireAlarm(a);
			}
		}
		return fired;
	}
}

// MARK: helpers

export function actorState(a) {
	if (a.destroyed) return "destroyed";
	if (a.pending) return "pending";
	if (a.runnerId) {
		if (a.connectable) return "running";
		if (a.sleeping || a.stopping || a.goingAway) return "stopping";
		return "starting";
	}
	if (a.sleeping) return "sleeping";
	return "stopped";
}

function runnerKeyOf(namespace, name, key) {
	return `${namespace}\0${name}\0${key}`;
}

function compareCommands(a, b) {
	const x = a.checkpoint;
	const y = b.checkpoint;
	if (x.actorId !== y.actorId) return x.actorId < y.actorId ? -1 : 1;
	if (x.generation !== y.generation) return x.generation - y.generation;
	return x.index < y.index ? -1 : x.index > y.index ? 1 : 0;
}

function parseJsonObject(s) {
	try {
		const v = JSON.parse(s);
		return v && typeof v === "object" && !Array.isArray(v) ? v : {};
	} catch {
		return {};
	}
}

export function hasProtocol(req, proto) {
	return (req.headers["sec-websocket-protocol"] ?? "")
		.split(",")
		.map((p) => p.trim())
		.includes(proto);
}

/** Answers an upgrade request with an HTTP error (route-time failures, before any upgrade). */
export function rejectUpgrade(socket, err) {
	const body = JSON.stringify(err.toJSON ? err.toJSON() : { group: "core", code: "internal_error", message: String(err) });
	const status = err.status ?? 500;
	socket.end(
		`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
	);
}

/** Log entry filter: { dir, tag, runnerId, actorId, kind }. */
export function matchEntry(e, f) {
	if (f.dir && e.dir !== f.dir) return false;
	if (f.tag && e.tag !== f.tag) return false;
	if (f.runnerId && e.runnerId !== f.runnerId) return false;
	if (f.since != null && e.seq <= f.since) return false;
	if (f.actorId && !entryActorIds(e).includes(f.actorId)) return false;
	if (f.kind && !entryKinds(e).includes(f.kind)) return false;
	return true;
}

function entryActorIds(e) {
	const v = e.msg.val;
	switch (e.tag) {
		case "ToClientCommands":
		case "ToServerEvents":
			return v.map((w) => w.checkpoint.actorId);
		case "ToClientAckEvents":
			return v.lastEventCheckpoints.map((c) => c.actorId);
		case "ToServerAckCommands":
			return v.lastCommandCheckpoints.map((c) => c.actorId);
		case "ToServerKvRequest":
			return [v.actorId];
		case "ToClientTunnelMessage":
			return v.messageKind.val?.actorId ? [v.messageKind.val.actorId] : [];
		default:
			return [];
	}
}

/** The inner tags of a message: command/event kinds, tunnel message kinds, KV request kinds. */
export function entryKinds(e) {
	const v = e.msg.val;
	switch (e.tag) {
		case "ToClientCommands":
			return v.map((w) => w.inner.tag);
		case "ToServerEvents":
			return v.flatMap((w) => [w.inner.tag, w.inner.val.intent?.tag ?? w.inner.val.state?.tag].filter(Boolean));
		case "ToServerTunnelMessage":
		case "ToClientTunnelMessage":
			return [v.messageKind.tag];
		case "ToServerKvRequest":
			return [v.data.tag];
		case "ToClientKvResponse":
			return [v.data.tag];
		default:
			return [];
	}
}
