// The actor gateway (guard + pegboard-gateway): client HTTP requests and WebSockets to
// /gateway/{actorId}/... (or header routing) become tunnel messages on the actor's runner
// socket. Per request: a random 4-byte request id, our 4-byte gateway id, and a u16 message
// index counting every gateway→runner message of that request from 0 (kept across retries and
// hibernation). Hibernatable WebSockets keep unacked client messages and outlive the actor.
import { randomBytes } from "node:crypto";
import { WebSocketServer } from "ws";
import { Errors, RivetError, asRivetError, errorCloseFrame } from "./errors.mjs";
import { bytesHex, toArrayBuffer } from "./json.mjs";
import { hasProtocol, rejectUpgrade } from "./engine.mjs";
import * as protocol from "@rivetkit/engine-runner-protocol";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "content-length"]);

class InFlight {
	constructor(actorId, kind) {
		this.requestId = toArrayBuffer(randomBytes(4));
		this.hex = bytesHex(this.requestId);
		this.actorId = actorId;
		this.kind = kind; // "http" | "websocket"
		this.messageIndex = 0;
		/** Receives ToServerTunnelMessageKind values for this request while someone listens. */
		this.handler = null;
		/** For hibernatable WebSockets: { pending: [{ index, msg, bytes, sentAt }], bytes }. */
		this.hibernation = null;
	}
}

export class Gateway {
	#engine;
	#requests = new Map();
	#hibernating = new Map(); // actorId -> Map(requestHex -> { gatewayId, requestId })
	#sessions = new Set();
	#wss;

	constructor(engine) {
		this.#engine = engine;
		this.#wss = new WebSocketServer({
			noServer: true,
			maxPayload: 64 * 1024 * 1024,
			// Guard always answers "rivet"; ws clients require the answer to be one they offered.
			handleProtocols: (set) => (set.has("rivet") ? "rivet" : (set.values().next().value ?? false)),
		});
	}

	close() {
		for (const s of this.#sessions) {
			s.closed = true;
			s.cleanup?.();
			s.clientWs.terminate();
		}
		this.#sessions.clear();
	}

	/** Hibernatable requests registered for an actor (filled into CommandStartActor). */
	hibernatingRequestsFor(actorId) {
		return [...(this.#hibernating.get(actorId)?.values() ?? [])].map((h) => ({
			gatewayId: toArrayBuffer(h.gatewayId),
			requestId: toArrayBuffer(h.requestId),
		}));
	}

	forgetHibernatingRequests(actorId) {
		this.#hibernating.delete(actorId);
	}

	#addHibernating(entry) {
		const m = this.#hibernating.get(entry.actorId) ?? new Map();
		m.set(entry.hex, { gatewayId: this.#engine.gatewayId, requestId: entry.requestId });
		this.#hibernating.set(entry.actorId, m);
	}

	#removeHibernating(entry) {
		const m = this.#hibernating.get(entry.actorId);
		if (!m) return;
		m.delete(entry.hex);
		if (!m.size) this.#hibernating.delete(entry.actorId);
	}

	/** Open gateway WebSockets: { requestId, actorId, path, state, canHibernate, pendingUnacked, nextMessageIndex }. */
	listWebSockets() {
		return [...this.#sessions].map((s) => ({
			requestId: s.entry.hex,
			actorId: s.entry.actorId,
			path: s.path,
			state: s.state,
			canHibernate: s.canHibernate,
			pendingUnacked: s.entry.hibernation?.pending.length ?? 0,
			nextMessageIndex: s.entry.messageIndex,
			runnerId: s.runnerId,
		}));
	}

	/** A tunnel message from any runner: dispatched to the in-flight request it names. */
	onRunnerTunnelMessage(runner, tm) {
		const { gatewayId, requestId } = tm.messageId;
		if (bytesHex(gatewayId) !== bytesHex(this.#engine.gatewayId)) {
			this.#engine.log("warn", "tunnel message for another gateway, dropping", { runnerId: runner.runnerId });
			return;
		}
		const entry = this.#requests.get(bytesHex(requestId));
		if (!entry?.handler) {
			this.#engine.log("debug", "in flight has already been disconnected, dropping message", { requestId: bytesHex(requestId) });
			return;
		}
		entry.handler(tm.messageKind);
	}

	#send(entry, runnerId, messageKind) {
		const index = entry.messageIndex;
		entry.messageIndex = (index + 1) & 0xffff;
		const msg = {
			tag: "ToClientTunnelMessage",
			val: { messageId: { gatewayId: this.#engine.gatewayId, requestId: entry.requestId, messageIndex: index }, messageKind },
		};
		if (entry.hibernation && messageKind.tag === "ToClientWebSocketMessage") {
			const bytes = protocol.encodeToClient(msg).byteLength;
			const hs = entry.hibernation;
			if (hs.bytes + bytes > this.#engine.options.hwsMaxPendingBytes || hs.pending.length >= 0xffff) throw Errors.wsPendingLimit();
			hs.bytes += bytes;
			hs.pending.push({ index, msg, bytes, sentAt: Date.now() });
		}
		this.#engine.sendToRunner(runnerId, msg);
	}

	// MARK: HTTP

	async handleHttp(req, res, actorId, path) {
		const engine = this.#engine;
		const origin = req.headers.origin ?? "*";
		const cors = {
			"access-control-allow-origin": origin,
			"access-control-allow-credentials": "true",
			"access-control-expose-headers": "*",
		};
		if (origin !== "*") cors.vary = "Origin";
		if (req.method === "OPTIONS") {
			res.writeHead(204, {
				...cors,
				"access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS, PATCH",
				"access-control-allow-headers": req.headers["access-control-request-headers"] ?? "*",
				"access-control-max-age": "86400",
			});
			return res.end();
		}
		const body = await readBody(req);
		const headers = headerMap(req.headers);
		const entry = new InFlight(actorId, "http");
		this.#requests.set(entry.hex, entry);
		const { gatewayRetryAttempts: maxAttempts, gatewayRetryInitialMs: initial } = engine.options;
		try {
			for (let attempt = 1; ; attempt++) {
				let start;
				try {
					const runnerId = await engine.resolveGatewayActor(actorId);
					start = await this.#httpAttempt(entry, runnerId, req.method, path, headers, body);
				} catch (err) {
					const e = asRivetError(err);
					if (e.group === "guard" && e.code === "service_unavailable" && attempt < maxAttempts) {
						await sleep(initial * 2 ** (attempt - 1));
						continue;
					}
					return writeError(res, e, cors);
				}
				const retry = start.status === 503 && start.headers.has("x-rivet-error");
				if (retry && attempt < maxAttempts) {
					await sleep(initial * 2 ** (attempt - 1));
					continue;
				}
				const out = {};
				for (const [k, v] of start.headers) if (!HOP_BY_HOP.has(k.toLowerCase())) out[k] = v;
				const payload = start.body ? Buffer.from(new Uint8Array(start.body)) : Buffer.alloc(0);
				res.writeHead(start.status, { ...out, ...cors, "content-length": String(payload.length) });
				return res.end(payload);
			}
		} finally {
			entry.handler = null;
			this.#requests.delete(entry.hex);
		}
	}

	#httpAttempt(entry, runnerId, method, path, headers, body) {
		const engine = this.#engine;
		return new Promise((resolve, reject) => {
			const done = () => {
				entry.handler = null;
				clearTimeout(timer);
				engine.off("actor.stopped", onStopped);
				engine.off("actor.destroyed", onStopped);
			};
			const fail = () => {
				done();
				reject(Errors.serviceUnavailable());
			};
			const onStopped = (e) => e.actorId === entry.actorId && fail();
			const timer = setTimeout(fail, engine.options.gatewayResponseTimeoutMs);
			entry.handler = (kind) => {
				if (kind.tag === "ToServerResponseStart") {
					done();
					resolve(kind.val);
				} else if (kind.tag === "ToServerResponseAbort") {
					fail();
				}
			};
			engine.on("actor.stopped", onStopped);
			engine.on("actor.destroyed", onStopped);
			this.#send(entry, runnerId, {
				tag: "ToClientRequestStart",
				val: { actorId: entry.actorId, method, path, headers, body: body.length ? toArrayBuffer(body) : null, stream: false },
			});
		});
	}

	// MARK: WebSocket

	async handleUpgrade(req, socket, head, url) {
		const engine = this.#engine;
		let actorId;
		let path;
		if (url.pathname.startsWith("/gateway/")) {
			const parsed = parseGatewayPath(req.url);
			if (!parsed) return rejectUpgrade(socket, Errors.noRoute());
			({ actorId, path } = parsed);
		} else if (hasProtocol(req, "rivet_target.actor")) {
			const p = (req.headers["sec-websocket-protocol"] ?? "")
				.split(",")
				.map((x) => x.trim())
				.find((x) => x.startsWith("rivet_actor."));
			if (!p) return rejectUpgrade(socket, Errors.invalidInput("missing `rivet_actor.*` protocol in sec-websocket-protocol"));
			actorId = decodeURIComponent(p.slice("rivet_actor.".length));
			path = req.url;
		} else {
			return rejectUpgrade(socket, Errors.noRoute());
		}
		let runnerId;
		try {
			runnerId = await engine.resolveGatewayActor(actorId);
		} catch (err) {
			return rejectUpgrade(socket, asRivetError(err));
		}
		if (socket.destroyed) return;
		this.#wss.handleUpgrade(req, socket, head, (clientWs) => {
			this.#runSession(clientWs, actorId, path, headerMap(req.headers), runnerId).catch((err) =>
				engine.log("error", "gateway websocket session failed", { err: err.stack }),
			);
		});
	}

	async #runSession(clientWs, actorId, path, headers, runnerId) {
		const engine = this.#engine;
		const entry = new InFlight(actorId, "websocket");
		this.#requests.set(entry.hex, entry);
		const s = { entry, clientWs, path, headers, runnerId, state: "opening", canHibernate: false, queue: [], notify: null, closed: false };
		this.#sessions.add(s);
		clientWs.on("message", (data, isBinary) => {
			s.queue.push({ type: "message", data: Buffer.from(data), isBinary });
			s.notify?.();
		});
		clientWs.on("close", (code, reason) => {
			s.queue.push({ type: "close", code: code === 1005 ? null : code, reason: reason.toString() });
			s.notify?.();
		});
		clientWs.on("error", () => {});
		engine.emit("gateway.websocket", { requestId: entry.hex, actorId, path });

		const { gatewayRetryAttempts: maxAttempts, gatewayRetryInitialMs: initial } = engine.options;
		let afterHibernation = false;
		let attempts = 0;
		try {
			for (;;) {
				const result = await this.#wsAttempt(s, runnerId, afterHibernation);
				if (s.closed) return;
				if (result.kind === "hibernate") {
					attempts = 0;
					s.state = "hibernating";
					engine.emit("gateway.hibernating", { requestId: entry.hex, actorId });
					engine.changed();
					const res = await this.#hibernate(s);
					if (s.closed) return;
					if (res === "close") this.#removeHibernating(entry);
					afterHibernation = true;
				} else if (result.kind === "error") {
					const e = asRivetError(result.err);
					attempts++;
					if (attempts > maxAttempts || !(e.group === "guard" && e.code === "websocket_service_unavailable")) {
						return closeClient(clientWs, errorCloseFrame(e, engine.options.rayIds));
					}
					await sleep(initial * 2 ** (attempts - 1));
				} else if (result.kind === "serverClose") {
					const c = result.close;
					return closeClient(clientWs, c.code != null ? { code: c.code, reason: c.reason ?? "" } : null);
				} else {
					return closeClient(clientWs, null);
				}
				try {
					runnerId = await engine.resolveGatewayActor(actorId);
				} catch (err) {
					return closeClient(clientWs, errorCloseFrame(asRivetError(err), engine.options.rayIds));
				}
			}
		} finally {
			s.state = "closed";
			this.#sessions.delete(s);
			this.#removeHibernating(entry);
			entry.handler = null;
			this.#requests.delete(entry.hex);
			engine.emit("gateway.websocket.closed", { requestId: entry.hex, actorId });
			engine.changed();
		}
	}

	/** One routing of the socket to the actor's current runner. Resolves with how it ended. */
	#wsAttempt(s, runnerId, afterHibernation) {
		const engine = this.#engine;
		const entry = s.entry;
		s.runnerId = runnerId;
		return new Promise((resolve) => {
			let phase = afterHibernation ? "active" : "opening";
			let finished = false;
			const finish = (result) => {
				if (finished) return;
				finished = true;
				cleanup();
				if (result.kind !== "hibernate" && !s.closed) {
					let code = 1000;
					let reason = null;
					if (result.kind === "clientClose" && result.close.code != null) {
						code = result.close.code;
						reason = result.close.reason;
					} else if (result.kind === "error") {
						code = 1011;
						reason = "ws.downstream_closed";
					}
					this.#send(entry, runnerId, { tag: "ToClientWebSocketClose", val: { code, reason } });
				}
				resolve(result);
			};
			const cleanup = () => {
				entry.handler = null;
				s.notify = null;
				s.cleanup = null;
				clearTimeout(openTimer);
				clearInterval(ackTimer);
				engine.off("actor.stopped", onStopped);
				engine.off("actor.destroyed", onStopped);
			};
			s.cleanup = cleanup;
			const onStopped = (e) => {
				if (e.actorId !== entry.actorId) return;
				if (phase === "active" && s.canHibernate) finish({ kind: "hibernate" });
				else finish({ kind: "error", err: Errors.wsServiceUnavailable() });
			};
			const pump = () => {
				while (phase === "active" && !finished && s.queue.length) {
					const item = s.queue.shift();
					if (item.type === "close") return finish({ kind: "clientClose", close: item });
					try {
						this.#send(entry, runnerId, {
							tag: "ToClientWebSocketMessage",
							val: { data: toArrayBuffer(item.data), binary: item.isBinary },
						});
					} catch (err) {
						return finish({ kind: "error", err });
					}
				}
			};
			const activate = () => {
				phase = "active";
				s.state = "open";
				engine.changed();
				for (const p of entry.hibernation?.pending ?? []) engine.sendToRunner(runnerId, p.msg);
				pump();
			};
			entry.handler = (kind) => {
				if (phase === "opening") {
					if (kind.tag === "ToServerWebSocketOpen") {
						clearTimeout(openTimer);
						s.canHibernate = kind.val.canHibernate;
						entry.hibernation = s.canHibernate ? (entry.hibernation ?? { pending: [], bytes: 0 }) : null;
						if (s.canHibernate) this.#addHibernating(entry);
						activate();
					} else if (kind.tag === "ToServerWebSocketClose") {
						finish({ kind: "error", err: Errors.wsServiceUnavailable() });
					}
					return;
				}
				switch (kind.tag) {
					case "ToServerWebSocketMessage": {
						const data = Buffer.from(new Uint8Array(kind.val.data));
						if (s.clientWs.readyState === 1) s.clientWs.send(kind.val.binary ? data : data.toString("utf8"), { binary: kind.val.binary });
						break;
					}
					case "ToServerWebSocketMessageAck": {
						const hs = entry.hibernation;
						if (!hs) break;
						const ack = kind.val.index;
						hs.pending = hs.pending.filter((p) => {
							const keep = wrappingGt(p.index, ack);
							if (!keep) hs.bytes -= p.bytes;
							return keep;
						});
						engine.emit("gateway.ack", { requestId: entry.hex, index: ack });
						break;
					}
					case "ToServerWebSocketClose":
						if (s.canHibernate && kind.val.hibernate) finish({ kind: "hibernate" });
						else finish({ kind: "serverClose", close: kind.val });
						break;
				}
			};
			engine.on("actor.stopped", onStopped);
			engine.on("actor.destroyed", onStopped);
			s.notify = pump;
			const ackTimeout = engine.options.hwsAckTimeoutMs;
			const ackTimer = setInterval(() => {
				const first = entry.hibernation?.pending[0];
				if (first && Date.now() - first.sentAt > ackTimeout) finish({ kind: "error", err: Errors.wsServiceTimeout() });
			}, Math.min(1000, Math.max(10, ackTimeout / 4)));
			let openTimer = null;
			if (afterHibernation) {
				s.canHibernate = true;
				activate();
			} else {
				s.state = "opening";
				openTimer = setTimeout(
					() => finish({ kind: "error", err: Errors.wsServiceUnavailable() }),
					engine.options.gatewayWebSocketOpenTimeoutMs,
				);
				this.#send(entry, runnerId, {
					tag: "ToClientWebSocketOpen",
					val: { actorId: entry.actorId, path: s.path, headers: s.headers },
				});
			}
		});
	}

	/** The actor stopped under a hibernatable socket: wait for a client frame (→ wake) or the actor's return. */
	#hibernate(s) {
		const engine = this.#engine;
		const entry = s.entry;
		if (entry.hibernation?.pending.length) return Promise.resolve("continue");
		const actor = engine.actors.get(entry.actorId);
		if (actor?.runnerId) return Promise.resolve("continue");
		return new Promise((resolve) => {
			const finish = (res) => {
				engine.off("actor.ready", onReady);
				engine.off("actor.destroyed", onDestroyed);
				s.notify = null;
				s.cleanup = null;
				resolve(res);
			};
			const onReady = (e) => e.actorId === entry.actorId && finish("continue");
			const onDestroyed = (e) => e.actorId === entry.actorId && finish("continue");
			const onClient = () => {
				if (s.queue.length) finish(s.queue[0].type === "close" ? "close" : "continue");
			};
			engine.on("actor.ready", onReady);
			engine.on("actor.destroyed", onDestroyed);
			s.notify = onClient;
			s.cleanup = () => finish("continue");
			onClient();
		});
	}
}

// MARK: helpers

export function parseGatewayPath(rawUrl) {
	const q = rawUrl.indexOf("?");
	const pathPart = q < 0 ? rawUrl : rawUrl.slice(0, q);
	const query = q < 0 ? "" : rawUrl.slice(q);
	const rest = pathPart.slice("/gateway/".length);
	const slash = rest.indexOf("/");
	const segment = slash < 0 ? rest : rest.slice(0, slash);
	const remainder = slash < 0 ? "/" : rest.slice(slash);
	if (!segment || remainder.includes("//")) return null;
	const at = segment.indexOf("@");
	let actorId;
	let token = null;
	try {
		actorId = decodeURIComponent(at < 0 ? segment : segment.slice(0, at));
		if (at >= 0) token = decodeURIComponent(segment.slice(at + 1));
	} catch {
		return null;
	}
	return { actorId, token, path: remainder + query };
}

function headerMap(h) {
	const m = new Map();
	for (const [k, v] of Object.entries(h)) {
		if (v === undefined) continue;
		m.set(k.toLowerCase(), Array.isArray(v) ? v.join(", ") : String(v));
	}
	return m;
}

function readBody(req) {
	return new Promise((resolve, reject) => {
		const chunks = [];
		req.on("data", (c) => chunks.push(c));
		req.on("end", () => resolve(Buffer.concat(chunks)));
		req.on("error", reject);
	});
}

function writeError(res, err, extraHeaders = {}) {
	const e = err instanceof RivetError ? err : asRivetError(err);
	const body = JSON.stringify(e.toJSON());
	if (res.headersSent) return res.end();
	res.writeHead(e.status, { ...extraHeaders, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) });
	res.end(body);
}

function closeClient(ws, frame) {
	if (ws.readyState > 1) return;
	if (frame) ws.close(frame.code, frame.reason);
	else ws.close();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function wrappingGt(a, b) {
	return a !== b && ((a - b) & 0xffff) < 0xffff / 2;
}
