// Disconnects, command replay, runner-key takeover, draining, runner lost.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { withEngine, startRunner, connected, runningActor, started, gatewayFetch } from "./helpers.mjs";

test("connection dropped mid-traffic (1011): the runner reconnects, unacked commands are replayed", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine, {}, r);
	const runnerId = r.runner.runnerId;

	// A request in flight while the connection drops: the runner buffers its response and sends it after reconnecting.
	const slow = gatewayFetch(engine, actorId, "/slow?ms=800");
	await engine.waitForMessage({ kind: "ToClientRequestStart" });
	const disconnected = once(r.events, "disconnected");
	const seq = engine.lastSeq;
	assert.equal(engine.dropRunnerConnection(runnerId, { code: 1011, reason: "ws.going_away" }), true);
	const [d] = await disconnected;
	assert.equal(d.code, 1011);
	assert.equal(d.reason, "ws.going_away");
	assert.equal(engine.getRunner(runnerId).connected, false);

	// Reconnect (≈1–1.25 s backoff): same runner id, then the stored StartActor is replayed.
	await engine.waitFor(() => engine.getRunner(runnerId).connected, { description: "reconnected" });
	assert.equal(engine.getRunner(runnerId).inits, 2);
	const init2 = await engine.waitForMessage({ tag: "ToClientInit" }, { since: seq });
	assert.equal(init2.msg.val.runnerId, runnerId);
	const replay = await engine.waitForMessage({ tag: "ToClientCommands" }, { since: seq });
	assert.equal(replay.seq, init2.seq + 1, "replay right after ToClientInit");
	assert.deepEqual(
		replay.msg.val.map((w) => [w.checkpoint.actorId, w.checkpoint.generation, Number(w.checkpoint.index), w.inner.tag]),
		[[actorId, 0, 0, "CommandStartActor"]],
	);

	const res = await slow;
	assert.equal(await res.text(), "slow done");
	// The TS runner does not dedupe: the replayed StartActor runs onActorStart again (same generation)...
	await engine.waitFor(() => r.app.starts.filter((s) => s.actorId === actorId).length === 2, { description: "second start" });
	assert.deepEqual(
		r.app.starts.map((s) => s.generation),
		[0, 0],
	);
	// ...and re-sends Running with index 0, which the engine ignores as a duplicate.
	const runnings = engine.messages({ tag: "ToServerEvents", kind: "ActorStateRunning" });
	assert.ok(runnings.length >= 2);
	const a = engine.getActor(actorId);
	assert.equal(a.state, "running");
	assert.equal(a.generation, 0);
	assert.equal(a.lastEventIdx, 0);
	await started(engine, actorId, r);
	// Gateway traffic keeps working on the reconnected socket.
	assert.equal((await gatewayFetch(engine, actorId, "/echo")).status, 201);
});

test("abrupt connection loss (no close frame) is handled like a drop", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const runnerId = r.runner.runnerId;
	engine.dropRunnerConnection(runnerId, { abrupt: true });
	const [d] = await once(r.events, "disconnected");
	assert.equal(d.code, 1006);
	await engine.waitFor(() => engine.getRunner(runnerId).inits === 2 && engine.getRunner(runnerId).connected, { description: "reconnect" });
});

test("same-key takeover: a second runner with the key gets the runner id, the first is evicted (1000 ws.eviction)", async (t) => {
	const engine = await withEngine(t);
	const a = startRunner(t, engine, { runnerKey: "shared-key" });
	await connected(a);
	const actorId = await runningActor(engine, {}, a);
	const evicted = once(a.events, "disconnected");
	const shutdown = once(a.events, "shutdown");
	const b = startRunner(t, engine, { runnerKey: "shared-key" });
	await connected(b);
	assert.equal(b.runner.runnerId, a.runner.runnerId);
	const [d] = await evicted;
	assert.equal(d.code, 1000);
	assert.match(d.reason, /^ws\.eviction#[0-9a-z]{30}$/);
	await shutdown; // the evicted TS runner shuts itself down and does not reconnect
	const runner = engine.getRunner(b.runner.runnerId);
	assert.equal(runner.connected, true);
	assert.equal(runner.connId, engine.messages({ tag: "ToClientInit" }).at(-1).connId);
	// The actor's unacked StartActor is replayed to the new socket.
	const lastInit = engine.messages({ tag: "ToClientInit" }).at(-1);
	const replay = engine.messages({ tag: "ToClientCommands", since: lastInit.seq });
	assert.equal(replay[0].msg.val[0].checkpoint.actorId, actorId);
	await engine.waitFor(() => b.app.starts.some((s) => s.actorId === actorId), { description: "actor started on b" });
});

test("graceful runner shutdown: Stopping → StopActor to all → actors sleep → close pegboard.runner_shutdown", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine, { runnerKey: "drain-key" });
	await connected(r);
	const sleepy = await runningActor(engine, { crashPolicy: "sleep" }, r);
	const destroyed = await runningActor(engine, { crashPolicy: "destroy" }, r);
	const runnerId = r.runner.runnerId;
	const closed = new Promise((resolve) => engine.once("runner.disconnected", resolve));

	await r.runner.shutdown(false);
	const c = await closed;
	assert.equal(c.code, 1000);
	assert.equal(c.reason, "pegboard.runner_shutdown");
	assert.equal(engine.messages({ tag: "ToServerStopping" }).length, 1);
	const stops = engine.messages({ tag: "ToClientCommands" }).flatMap((e) => e.msg.val).filter((w) => w.inner.tag === "CommandStopActor");
	assert.deepEqual(stops.map((w) => w.checkpoint.actorId).sort(), [sleepy, destroyed].sort());
	// Going away is not a graceful exit: crash policy applies.
	assert.equal(engine.getActor(sleepy).state, "sleeping");
	assert.equal(engine.getActor(destroyed).state, "destroyed");
	assert.equal(engine.getRunner(runnerId).draining, true);
	assert.ok(r.app.shutdown);

	// The drained runner's key is free: a new runner with it gets a new id, and the sleeping actor wakes there.
	const r2 = startRunner(t, engine, { runnerKey: "drain-key" });
	await connected(r2);
	assert.notEqual(r2.runner.runnerId, runnerId);
	assert.equal((await gatewayFetch(engine, sleepy, "/echo")).status, 201);
	assert.equal(engine.getActor(sleepy).runnerId, r2.runner.runnerId);
});

test("engine-side drain: StopActor to all, then the socket is evicted", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine, {}, r);
	const shutdown = once(r.events, "shutdown");
	const desc = await engine.drainRunner(r.runner.runnerId, { graceMs: 5000 });
	assert.equal(desc.stopped, true);
	assert.deepEqual(desc.actors, []);
	await shutdown;
	assert.match(r.app.disconnects.at(-1).reason, /^ws\.eviction/);
	assert.equal(engine.getActor(actorId).state, "sleeping");
	assert.deepEqual(r.app.stops, [{ actorId, generation: 0 }]);
});

test("runner lost: no reconnect within the threshold → runner stopped, actors lost", async (t) => {
	const engine = await withEngine(t, { runnerLostThresholdMs: 300 });
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine, { crashPolicy: "sleep" }, r);
	const runnerId = r.runner.runnerId;
	await r.runner.shutdown(true); // immediate: no Stopping, the socket just goes away
	const lost = await new Promise((resolve) => engine.once("runner.lost", resolve));
	assert.equal(lost.runnerId, runnerId);
	assert.equal(engine.getRunner(runnerId).stopped, true);
	assert.equal(engine.getActor(actorId).state, "sleeping");
});
