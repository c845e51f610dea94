// HTTP routing of the fake engine's one port, in guard's order: the runner endpoint, the actor
// gateway (path /gateway/{actorId}/..., or x-rivet-target: actor), the test control API under
// /__fake/, and otherwise the engine's public REST API (the part RivetKit's remote manager uses).
import { Errors, RivetError, asRivetError } from "./errors.mjs";
import { parseGatewayPath } from "./gateway.mjs";
import { actorState } from "./engine.mjs";
import { toJsonValue } from "./json.mjs";

export async function handleHttp(engine, req, res) {
	try {
		const url = new URL(req.url, "http://fake");
		const path = url.pathname;
		if (path === "/runners/connect" || req.headers["x-rivet-target"] === "runner") {
			return send(res, 200, "pegboard-runner WebSocket endpoint", "text/plain");
		}
		if (path.startsWith("/gateway/")) {
			const parsed = parseGatewayPath(req.url);
			if (!parsed) throw Errors.noRoute();
			return await engine.gateway.handleHttp(req, res, parsed.actorId, parsed.path);
		}
		if (req.headers["x-rivet-target"] === "actor") {
			const actorId = req.headers["x-rivet-actor"];
			if (!actorId) throw Errors.invalidInput("missing header x-rivet-actor");
			return await engine.gateway.handleHttp(req, res, actorId, req.url);
		}
		if (path === "/__fake" || path.startsWith("/__fake/")) return await control(engine, req, res, url);
		return await rest(engine, req, res, url);
	} catch (err) {
		const e = asRivetError(err);
		if (!(err instanceof RivetError)) engine.log("error", "http handler failed", { err: err?.stack ?? String(err) });
		if (res.headersSent) return res.end();
		return sendJson(res, e.status, e.toJSON());
	}
}

// MARK: REST API (engine api-public)

async function rest(engine, req, res, url) {
	const path = url.pathname.replace(/\/+$/, "") || "/";
	const q = url.searchParams;
	const method = req.method;
	if (method === "OPTIONS") {
		res.writeHead(204, {
			"access-control-allow-origin": req.headers.origin ?? "*",
			"access-control-allow-credentials": "true",
			"access-control-allow-methods": req.headers["access-control-request-method"] ?? "*",
			"access-control-allow-headers": req.headers["access-control-request-headers"] ?? "*",
		});
		return res.end();
	}
	if (method === "GET" && path === "/metadata") {
		return sendJson(res, 200, {
			runtime: "engine",
			version: "2.0.33",
			git_sha: "fake-engine",
			build_timestamp: "",
			rustc_version: "",
			rustc_host: "",
			cargo_target: "",
			cargo_profile: "fake",
		});
	}
	authorize(engine, req);

	if (method === "GET" && path === "/datacenters") {
		return sendJson(res, 200, {
			datacenters: [{ label: engine.options.dcLabel, name: engine.options.datacenter, url: engine.publicUrl }],
			pagination: { cursor: null },
		});
	}
	if (path === "/namespaces") {
		if (method === "GET") return sendJson(res, 200, { namespaces: [...engine.namespaces.values()], pagination: { cursor: null } });
		if (method === "POST") {
			const body = await readJson(req, ["name", "display_name"]);
			if (typeof body.name !== "string" || !body.name) throw Errors.invalidInput("name is required");
			return sendJson(res, 200, { namespace: engine.createNamespace(body.name, body.display_name ?? body.name) });
		}
	}
	if (path === "/actors" && method === "GET") return sendJson(res, 200, listActors(engine, q));
	if (path === "/actors" && (method === "POST" || method === "PUT")) {
		const ns = namespaceOf(engine, q, ["namespace"]);
		const body = await readJson(req, ["datacenter", "name", "key", "input", "runner_name_selector", "crash_policy"]);
		if (typeof body.name !== "string") throw Errors.invalidInput("missing field `name`");
		if (typeof body.runner_name_selector !== "string") throw Errors.invalidInput("missing field `runner_name_selector`");
		if (!["sleep", "restart", "destroy"].includes(body.crash_policy)) throw Errors.invalidInput("missing or invalid field `crash_policy`");
		if (method === "PUT" && typeof body.key !== "string") throw Errors.invalidInput("missing field `key`");
		if (body.datacenter != null && body.datacenter !== engine.options.datacenter) {
			throw new RivetError("datacenter", "not_found", "The datacenter does not exist.");
		}
		const input = body.input == null ? null : Buffer.from(body.input, "base64");
		if (method === "PUT") {
			const existing = engine.findActorByKey(ns, body.name, body.key);
			if (existing) return sendJson(res, 200, { actor: engine.apiActor(existing), created: false });
		}
		const actor = engine.createActor({
			namespace: ns,
			name: body.name,
			key: body.key ?? null,
			input,
			crashPolicy: body.crash_policy,
			runnerNameSelector: body.runner_name_selector,
		});
		return sendJson(res, 200, method === "PUT" ? { actor: engine.apiActor(actor), created: true } : { actor: engine.apiActor(actor) });
	}
	if (path === "/actors/names" && method === "GET") {
		const ns = namespaceOf(engine, q, ["namespace", "limit", "cursor"]);
		const names = {};
		for (const [name, metadata] of engine.actorNames.get(ns) ?? []) names[name] = { metadata };
		return sendJson(res, 200, { names, pagination: { cursor: null } });
	}
	let m = path.match(/^\/actors\/([^/]+)$/);
	if (m && method === "DELETE") {
		namespaceOptional(engine, q);
		engine.destroyActor(decodeURIComponent(m[1]));
		return sendJson(res, 200, {});
	}
	if (path === "/runners" && method === "GET") {
		const ns = namespaceOf(engine, q, ["namespace", "name", "runner_ids", "include_stopped", "limit", "cursor"]);
		const ids = q.get("runner_ids")?.split(",").map((s) => s.trim());
		const runners = [...engine.runners.values()]
			.filter((r) => r.namespace === ns && (!q.get("name") || r.name === q.get("name")) && (!ids || ids.includes(r.runnerId)))
			.filter((r) => q.get("include_stopped") === "true" || !r.stopped)
			.map((r) => apiRunner(engine, r));
		return sendJson(res, 200, { runners, pagination: { cursor: null } });
	}
	if (path === "/runners/names" && method === "GET") {
		const ns = namespaceOf(engine, q, ["namespace", "limit", "cursor"]);
		const names = [...new Set([...engine.runners.values()].filter((r) => r.namespace === ns).map((r) => r.name))];
		return sendJson(res, 200, { names, pagination: { cursor: null } });
	}
	if (path === "/runner-configs" && method === "GET") {
		const ns = namespaceOf(engine, q, ["namespace", "limit", "cursor", "variant", "runner_names"]);
		const configs = {};
		for (const c of engine.serverless.listConfigs()) {
			if (c.namespace !== ns) continue;
			configs[c.runnerName] = { datacenters: { [engine.options.datacenter]: apiRunnerConfig(c) } };
		}
		return sendJson(res, 200, { runner_configs: configs, pagination: { cursor: null } });
	}
	m = path.match(/^\/runner-configs\/([^/]+)$/);
	if (m && method === "PUT") {
		const ns = namespaceOf(engine, q, ["namespace"]);
		const body = await readJson(req, ["datacenters"]);
		const dc = body.datacenters?.[engine.options.datacenter];
		if (!dc) throw new RivetError("datacenter", "not_found", "The datacenter does not exist.");
		const name = decodeURIComponent(m[1]);
		let changed = false;
		if (dc.serverless) {
			const s = dc.serverless;
			changed = engine.serverless.configure(name, {
				namespace: ns,
				url: s.url,
				headers: s.headers ?? {},
				requestLifespan: s.request_lifespan,
				slotsPerRunner: s.slots_per_runner,
				minRunners: s.min_runners,
				maxRunners: s.max_runners,
				runnersMargin: s.runners_margin,
				metadata: dc.metadata ?? null,
			});
		} else {
			changed = engine.serverless.remove(name, ns);
		}
		return sendJson(res, 200, { endpoint_config_changed: changed });
	}
	if (m && method === "DELETE") {
		const ns = namespaceOf(engine, q, ["namespace"]);
		engine.serverless.remove(decodeURIComponent(m[1]), ns);
		return sendJson(res, 200, {});
	}
	throw Errors.notFound();
}

function authorize(engine, req) {
	const token = engine.options.token;
	if (!token) return;
	const h = req.headers.authorization;
	if (!h) throw Errors.unauthorized();
	if (h !== `Bearer ${token}`) throw Errors.forbidden();
}

function checkParams(q, allowed) {
	for (const k of q.keys()) if (!allowed.includes(k)) throw new RivetError("api", "bad_request", `unknown field \`${k}\``);
}

function namespaceOf(engine, q, allowed) {
	checkParams(q, allowed);
	const ns = q.get("namespace");
	if (ns == null) throw new RivetError("api", "bad_request", "missing field `namespace`");
	if (!engine.namespaces.has(ns)) throw Errors.namespaceNotFound();
	return ns;
}

function namespaceOptional(engine, q) {
	checkParams(q, ["namespace"]);
	const ns = q.get("namespace");
	if (ns != null && !engine.namespaces.has(ns)) throw Errors.namespaceNotFound();
}

function listActors(engine, q) {
	const ns = namespaceOf(engine, q, ["namespace", "name", "key", "actor_ids", "actor_id", "include_destroyed", "limit", "cursor"]);
	const ids = [
		...q.getAll("actor_id"),
		...(q.get("actor_ids") ?? "")
			.split(",")
			.map((s) => s.trim())
			.filter(Boolean),
	];
	const includeDestroyed = q.get("include_destroyed") === "true";
	const name = q.get("name");
	const key = q.get("key");
	const limit = q.get("limit") != null ? Number(q.get("limit")) : 100;
	if (ids.length && (name != null || key != null)) {
		throw Errors.invalidInput("Cannot provide both actor_id and (name + key). Use either actor_id or (name + key).");
	}
	if (key != null && name == null) throw Errors.invalidInput("Name is required when key is provided.");
	let actors;
	if (ids.length) {
		if (ids.length > 32) throw new RivetError("validation", "too_many_actor_ids", `Too many actor ids (max 32, got ${ids.length}).`);
		actors = ids.map((id) => engine.actors.get(id)).filter((a) => a && a.namespace === ns && (includeDestroyed || !a.destroyed));
		const cursor = q.get("cursor");
		if (cursor != null) actors = actors.filter((a) => a.createTs < Number(cursor));
	} else if (key != null && !includeDestroyed) {
		const a = engine.findActorByKey(ns, name, key);
		actors = a ? [a] : [];
	} else {
		if (name == null) throw Errors.invalidInput("Name is required when not using actor_ids.");
		actors = [...engine.actors.values()]
			.filter((a) => a.namespace === ns && a.name === name && (key == null || a.key === key) && (includeDestroyed || !a.destroyed))
			.sort((a, b) => b.createTs - a.createTs);
		const cursor = q.get("cursor");
		if (cursor != null) actors = actors.filter((a) => a.createTs < Number(cursor));
	}
	actors = actors.slice(0, limit);
	return {
		actors: actors.map((a) => engine.apiActor(a)),
		pagination: { cursor: actors.length ? String(actors[actors.length - 1].createTs) : null },
	};
}

function apiRunner(engine, r) {
	return {
		runner_id: r.runnerId,
		name: r.name,
		key: r.key,
		namespace_id: engine.namespaces.get(r.namespace)?.namespace_id ?? null,
		datacenter: engine.options.datacenter,
		version: r.version,
		total_slots: r.totalSlots,
		remaining_slots: r.remainingSlots,
		create_ts: r.createTs,
		last_ping_ts: r.lastPingTs,
		last_rtt: r.lastRtt ?? 0,
		metadata: r.metadata,
		drain_ts: null,
		stop_ts: null,
		last_connected_ts: r.conn ? r.lastPingTs : null,
	};
}

function apiRunnerConfig(c) {
	return {
		serverless: {
			url: c.url,
			headers: c.headers,
			request_lifespan: c.requestLifespan,
			slots_per_runner: c.slotsPerRunner,
			min_runners: c.minRunners,
			max_runners: c.maxRunners,
			runners_margin: c.runnersMargin,
		},
		metadata: c.metadata ?? undefined,
	};
}

// MARK: control API for tests

async function control(engine, req, res, url) {
	const path = url.pathname.replace(/\/+$/, "");
	const q = url.searchParams;
	const method = req.method;
	const body = method === "GET" || method === "DELETE" ? {} : await readJson(req);
	let m;
	const ok = (v) => sendJson(res, 200, toJsonValue(v));

	if (method === "GET" && path === "/__fake/state") {
		return ok({
			url: engine.url,
			gatewayId: engine.gatewayId,
			runners: engine.listRunners(),
			actors: engine.listActors(),
			gatewayWebSockets: engine.gateway.listWebSockets(),
			serverless: engine.serverless.describe(),
			lastSeq: engine.lastSeq,
		});
	}
	// actors
	if (path === "/__fake/actors" && method === "GET") return ok({ actors: engine.listActors({ name: q.get("name"), state: q.get("state") }) });
	if (path === "/__fake/actors" && method === "POST") {
		const actor = engine.createActor({
			namespace: body.namespace ?? "default",
			name: body.name,
			key: body.key ?? null,
			input: body.inputBase64 != null ? Buffer.from(body.inputBase64, "base64") : body.inputHex != null ? Buffer.from(body.inputHex, "hex") : null,
			crashPolicy: body.crashPolicy ?? "destroy",
			runnerNameSelector: body.runnerNameSelector ?? "default",
		});
		return ok({ actor: engine.describeActor(actor) });
	}
	if ((m = path.match(/^\/__fake\/actors\/([^/]+)$/))) {
		const id = decodeURIComponent(m[1]);
		if (method === "GET") {
			const a = engine.getActor(id);
			if (!a) throw Errors.actorNotFound();
			return ok({ actor: a });
		}
		if (method === "DELETE") {
			engine.destroyActor(id);
			return ok({});
		}
	}
	if ((m = path.match(/^\/__fake\/actors\/([^/]+)\/kv$/))) {
		const id = decodeURIComponent(m[1]);
		if (method === "GET") {
			return ok({
				entries: engine.readKv(id).map((e) => ({ key: e.key.toString("hex"), value: e.value.toString("hex"), updateTs: e.updateTs })),
			});
		}
		if (method === "PUT") {
			engine.writeKv(
				id,
				(body.entries ?? []).map((e) => [Buffer.from(e.key, "hex"), Buffer.from(e.value, "hex")]),
			);
			return ok({});
		}
	}
	if ((m = path.match(/^\/__fake\/actors\/([^/]+)\/wake$/)) && method === "POST") {
		return ok({ woken: engine.wakeActor(decodeURIComponent(m[1]), { dontSleep: true }) });
	}
	if ((m = path.match(/^\/__fake\/actors\/([^/]+)\/alarm\/fire$/)) && method === "POST") {
		return ok({ fired: engine.fireAlarm(decodeURIComponent(m[1])) });
	}
	if (path === "/__fake/alarms/advance" && method === "POST") return ok({ fired: engine.advanceAlarms(Number(body.ms ?? 0)) });
	// runners
	if (path === "/__fake/runners" && method === "GET") return ok({ runners: engine.listRunners() });
	if ((m = path.match(/^\/__fake\/runners\/([^/]+)(?:\/(drop|evict|drain))?$/))) {
		const id = decodeURIComponent(m[1]);
		if (!m[2] && method === "GET") {
			const r = engine.getRunner(id);
			if (!r) throw new RivetError("runner", "not_found", "The runner does not exist.");
			return ok({ runner: r });
		}
		if (m[2] === "drop" && method === "POST") {
			return ok({ dropped: engine.dropRunnerConnection(id, { abrupt: !!body.abrupt, code: body.code ?? 1011, reason: body.reason ?? "ws.going_away" }) });
		}
		if (m[2] === "evict" && method === "POST") return ok({ evicted: engine.evictRunner(id) });
		if (m[2] === "drain" && method === "POST") return ok({ runner: await engine.drainRunner(id, body.graceMs != null ? { graceMs: body.graceMs } : {}) });
	}
	// messages and waiting
	if (path === "/__fake/messages" && method === "GET") {
		const filter = filterFromQuery(q);
		return ok({ messages: engine.messages(filter), lastSeq: engine.lastSeq });
	}
	if (path === "/__fake/messages" && method === "DELETE") {
		engine.clearMessages();
		return ok({});
	}
	if (path === "/__fake/wait/message" && method === "POST") {
		const { timeoutMs = 10000, since = 0, ...filter } = body;
		return ok({ message: await waitOr408(engine.waitForMessage(filter, { since, timeoutMs })) });
	}
	if (path === "/__fake/wait/actor" && method === "POST") {
		return ok({ actor: await waitOr408(engine.waitForActorState(body.actorId, body.state, { timeoutMs: body.timeoutMs ?? 10000 })) });
	}
	if (path === "/__fake/wait/runner" && method === "POST") {
		const want = body;
		const found = await waitOr408(
			engine.waitFor(
				() =>
					engine
						.listRunners()
						.find(
							(r) =>
								(want.runnerId == null || r.runnerId === want.runnerId) &&
								(want.name == null || r.name === want.name) &&
								(want.key == null || r.key === want.key) &&
								(want.connected == null || r.connected === want.connected) &&
								(want.draining == null || r.draining === want.draining) &&
								(want.stopped == null || r.stopped === want.stopped),
						),
				{ timeoutMs: want.timeoutMs ?? 10000, description: "runner" },
			),
		);
		return ok({ runner: found });
	}
	if (path === "/__fake/wait/gateway" && method === "POST") {
		const want = body;
		const found = await waitOr408(
			engine.waitFor(
				() =>
					engine.gateway
						.listWebSockets()
						.find(
							(w) =>
								(want.actorId == null || w.actorId === want.actorId) &&
								(want.requestId == null || w.requestId === want.requestId) &&
								(want.state == null || w.state === want.state),
						),
				{ timeoutMs: want.timeoutMs ?? 10000, description: "gateway websocket" },
			),
		);
		return ok({ webSocket: found });
	}
	// serverless
	if (path === "/__fake/serverless" && method === "GET") return ok({ serverless: engine.serverless.describe() });
	if ((m = path.match(/^\/__fake\/serverless\/([^/]+)(\/start)?$/))) {
		const name = decodeURIComponent(m[1]);
		if (!m[2] && method === "PUT") {
			engine.serverless.configure(name, body);
			return ok({ config: engine.serverless.describe().configs.find((c) => c.runnerName === name) });
		}
		if (!m[2] && method === "DELETE") return ok({ removed: engine.serverless.remove(name, body.namespace ?? q.get("namespace") ?? "default") });
		if (m[2] && method === "POST") {
			return ok(await engine.serverless.startRunner(name, { namespace: body.namespace ?? "default", timeoutMs: body.timeoutMs ?? 10000 }));
		}
	}
	if (path === "/__fake/gateway" && method === "GET") return ok({ webSockets: engine.gateway.listWebSockets() });
	throw Errors.notFound();
}

function filterFromQuery(q) {
	const f = {};
	for (const k of ["dir", "tag", "runnerId", "actorId", "kind"]) if (q.get(k)) f[k] = q.get(k);
	if (q.get("since")) f.since = Number(q.get("since"));
	return f;
}

async function waitOr408(promise) {
	try {
		return await promise;
	} catch (err) {
		if (err instanceof RivetError) throw err;
		throw new RivetError("fake", "wait_timeout", err.message);
	}
}

// MARK: helpers

async function readJson(req, allowedFields = null) {
	const chunks = [];
	for await (const c of req) chunks.push(c);
	const text = Buffer.concat(chunks).toString();
	if (!text.trim()) return {};
	let body;
	try {
		body = JSON.parse(text);
	} catch (err) {
		throw new RivetError("api", "bad_request", `invalid JSON body: ${err.message}`);
	}
	if (allowedFields && body && typeof body === "object") {
		for (const k of Object.keys(body)) if (!allowedFields.includes(k)) throw new RivetError("api", "bad_request", `unknown field \`${k}\``);
	}
	return body ?? {};
}

function sendJson(res, status, value) {
	const body = JSON.stringify(value);
	res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) });
	res.end(body);
}

function send(res, status, text, type) {
	res.writeHead(status, { "content-type": type, "content-length": String(Buffer.byteLength(text)) });
	res.end(text);
}

export { actorState };
