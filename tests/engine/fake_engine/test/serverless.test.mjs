// Serverless: the fake engine calls GET {url}/start on a small server that does what RivetKit
// 2.0.33's serverless handler does (§6.2) with the official TS runner: start a Runner with the
// x-rivet-* settings, wait for ToClientInit, send the runner's init packet as the first SSE event,
// then ping every second until the runner shuts down.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import { withEngine, startRunner, defer, gatewayFetch, started } from "./helpers.mjs";

async function serverlessApp(t, engine) {
	const seen = { starts: [], metadata: 0, runners: [] };
	const server = http.createServer(async (req, res) => {
		const url = new URL(req.url, "http://app");
		if (url.pathname === "/metadata") {
			seen.metadata++;
			res.writeHead(200, { "content-type": "application/json" });
			return res.end(
				JSON.stringify({ runtime: "rivetkit", version: "2.0.33", runner: { kind: { serverless: {} } }, actorNames: { counter: { metadata: { icon: "x" } } } }),
			);
		}
		if (url.pathname !== "/start") {
			res.writeHead(404);
			return res.end();
		}
		const h = req.headers;
		seen.starts.push({ ...h });
		if (!h["x-rivet-endpoint"]) {
			res.writeHead(400);
			return res.end("x-rivet-endpoint header is required");
		}
		const r = startRunner(t, engine, {
			endpoint: h["x-rivet-endpoint"],
			token: h["x-rivet-token"],
			totalSlots: Number(h["x-rivet-total-slots"]),
			runnerName: h["x-rivet-runner-name"],
			namespace: h["x-rivet-namespace-name"],
			runnerKey: randomUUID(),
		});
		seen.runners.push(r);
		res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
		let ended = false;
		let ping = null;
		const end = () => {
			if (ended) return;
			ended = true;
			clearInterval(ping);
			res.end();
		};
		r.events.once("shutdown", end);
		res.on("close", () => {
			// The engine aborted the request: shut the runner down gracefully.
			if (!ended) {
				ended = true;
				clearInterval(ping);
				r.runner.shutdown(false).catch(() => {});
			}
		});
		await once(r.events, "connected");
		res.write(`data: ${r.runner.getServerlessInitPacket()}\n\n`);
		if (!ended) ping = setInterval(() => res.write("event: ping\ndata: \n\n"), 1000);
	});
	await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
	defer(t, () => new Promise((resolve) => {
		server.closeAllConnections();
		server.close(resolve);
	}));
	return { url: `http://127.0.0.1:${server.address().port}`, seen };
}

test("serverless: metadata probe, /start with x-rivet-* headers, SSE init packet, runner allocated, scale to zero", async (t) => {
	const engine = await withEngine(t, { serverlessDrainGraceMs: 300 });
	const app = await serverlessApp(t, engine);

	const metadataEvent = once(engine, "serverless.metadata");
	engine.serverless.configure("sls", { url: app.url, slotsPerRunner: 5, requestLifespan: 900, headers: { "x-custom": "c" } });
	const [probed] = await metadataEvent;
	assert.deepEqual(probed.probe, { state: "ok", runtime: "rivetkit", version: "2.0.33", actorNames: { counter: { metadata: { icon: "x" } } } });
	assert.deepEqual(engine.actorNames.get("default").get("counter"), { icon: "x" });
	assert.equal(app.seen.starts.length, 0, "no runner wanted yet");

	// An actor for the serverless runner name: pending → the pool opens /start → runner → allocated.
	const actor = engine.createActor({ name: "counter", key: "s1", crashPolicy: "sleep", runnerNameSelector: "sls" });
	assert.equal(engine.getActor(actor.actorId).state, "pending");
	const init = await engine.waitForMessage({ dir: "fromServerless", tag: "ToServerlessServerInit" });
	const h = app.seen.starts[0];
	assert.equal(h["x-rivet-endpoint"], engine.url);
	assert.equal(h["x-rivet-total-slots"], "5");
	assert.equal(h["x-rivet-runner-name"], "sls");
	assert.equal(h["x-rivet-namespace-name"], "default");
	assert.equal(h["x-rivet-namespace-id"], "default");
	assert.equal(h["x-custom"], "c");
	assert.equal(h["x-rivet-token"], undefined);

	const r = app.seen.runners[0];
	assert.equal(init.msg.val.runnerId, r.runner.runnerId);
	assert.equal(init.msg.val.runnerProtocolVersion, 5);
	assert.equal(init.version, 5);
	const a = await started(engine, actor.actorId, r);
	assert.equal(a.runnerId, r.runner.runnerId);
	assert.equal(engine.getRunner(r.runner.runnerId).serverless, true);
	assert.equal(engine.getRunner(r.runner.runnerId).totalSlots, 5);
	assert.equal((await gatewayFetch(engine, actor.actorId, "/echo")).status, 201);
	assert.equal(engine.serverless.describe().connections.length, 1);

	// The actor sleeps: no slots wanted, the pool drains the runner (Stop, grace, eviction) and the stream ends.
	const shutdown = once(r.events, "shutdown");
	const disconnected = once(r.events, "disconnected");
	await (await gatewayFetch(engine, actor.actorId, "/sleep")).text();
	await engine.waitForActorState(actor.actorId, "sleeping");
	const [d] = await disconnected;
	await shutdown;
	assert.equal(d.code, 1000);
	assert.match(d.reason, /^ws\.eviction/);
	assert.equal(engine.getRunner(r.runner.runnerId).draining, true);
	await engine.waitFor(() => engine.serverless.describe().connections.length === 0, { description: "stream closed" });

	// Traffic wakes the actor: a new /start, a new runner.
	assert.equal((await gatewayFetch(engine, actor.actorId, "/echo")).status, 201);
	assert.equal(app.seen.starts.length, 2);
	assert.equal(engine.getActor(actor.actorId).runnerId, app.seen.runners[1].runner.runnerId);
	await started(engine, actor.actorId, app.seen.runners[1]);
});

test("serverless: explicit start through the control API, token header, failing endpoints", async (t) => {
	const engine = await withEngine(t, { token: "tkn", serverlessDrainGraceMs: 300 });
	const app = await serverlessApp(t, engine);
	engine.serverless.configure("manual", { url: `${app.url}/`, minRunners: 0, maxRunners: 0 });
	const { runnerId } = await engine.serverless.startRunner("manual");
	assert.equal(app.seen.starts[0]["x-rivet-token"], "tkn");
	const r = app.seen.runners[0];
	assert.equal(runnerId, r.runner.runnerId);
	assert.equal(engine.getRunner(runnerId).connected, true);
	// Draining it ends the SSE stream and the runner.
	const disconnected = once(r.events, "disconnected");
	await engine.serverless.drainRunner(runnerId);
	assert.match((await disconnected)[0].reason, /^ws\.eviction/);

	// A /start that fails is reported (the control API's start rejects).
	engine.serverless.configure("broken", { url: `${app.url}/nothing-here` });
	await assert.rejects(engine.serverless.startRunner("broken", { timeoutMs: 3000 }), /invalid status code \(404\)/);
	const probe = await engine.waitFor(() => engine.serverless.configFor("default", "broken").probe?.error);
	assert.deepEqual(probe, { non_success_status: { status_code: 404, body: "" } });
});
