// A hand-driven runner (protocol package only) for what the TS runner never sends: Stopped{Error},
// stale generations/indexes, events from a runner that does not own the actor.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { withEngine, WebSocket } from "./helpers.mjs";

async function rawRunner(engine, key = "raw") {
	const ws = new WebSocket(`${engine.url.replace("http", "ws")}/runners/connect?protocol_version=5&namespace=default&runner_key=${key}`, ["rivet"]);
	const inbox = [];
	const waiters = [];
	ws.on("message", (data) => {
		inbox.push(protocol.decodeToClient(new Uint8Array(data)));
		for (const w of [...waiters]) w();
	});
	await once(ws, "open");
	const send = (msg) => ws.send(protocol.encodeToServer(msg));
	send({ tag: "ToServerInit", val: { name: "default", version: 1, totalSlots: 5, prepopulateActorNames: null, metadata: null } });
	/** Resolves with the next received message (after index `from`) matching the predicate. */
	const next = (pred, from = 0) =>
		new Promise((resolve, reject) => {
			const timer = setTimeout(() => reject(new Error("timed out waiting for a message")), 5000);
			const check = () => {
				const m = inbox.slice(from).find(pred);
				if (!m) return;
				clearTimeout(timer);
				waiters.splice(waiters.indexOf(check), 1);
				resolve(m);
			};
			waiters.push(check);
			check();
		});
	const init = await next((m) => m.tag === "ToClientInit");
	const event = (actorId, generation, index, inner) =>
		send({ tag: "ToServerEvents", val: [{ checkpoint: { actorId, generation, index: BigInt(index) }, inner }] });
	const running = { tag: "EventActorStateUpdate", val: { state: { tag: "ActorStateRunning", val: null } } };
	const stopped = (code) => ({ tag: "EventActorStateUpdate", val: { state: { tag: "ActorStateStopped", val: { code, message: "boom" } } } });
	return { ws, inbox, send, next, event, running, stopped, runnerId: init.val.runnerId };
}

const startOf = (actorId, generation) => (m) =>
	m.tag === "ToClientCommands" && m.val.some((w) => w.checkpoint.actorId === actorId && w.checkpoint.generation === generation && w.inner.tag === "CommandStartActor");

test("raw runner: Stopped{Error} applies the crash policy; stale events are ignored", async (t) => {
	const engine = await withEngine(t, { rescheduleBaseMs: 20 });
	const r = await rawRunner(engine);
	t.after(() => r.ws.close());

	// crash policy sleep: an error exit sleeps the actor (KV kept).
	const a = engine.createActor({ name: "counter", key: "a", crashPolicy: "sleep" });
	await r.next(startOf(a.actorId, 0));
	r.event(a.actorId, 0, 0, r.running);
	await engine.waitForActorState(a.actorId, "running");
	await r.next((m) => m.tag === "ToClientAckEvents" && m.val.lastEventCheckpoints[0].actorId === a.actorId);
	r.event(a.actorId, 0, 1, r.stopped(protocol.StopCode.Error));
	await engine.waitForActorState(a.actorId, "sleeping");

	// crash policy restart: an error exit reschedules (generation 1, command index 0 again).
	const b = engine.createActor({ name: "counter", key: "b", crashPolicy: "restart" });
	await r.next(startOf(b.actorId, 0));
	r.event(b.actorId, 0, 0, r.running);
	await engine.waitForActorState(b.actorId, "running");
	r.event(b.actorId, 0, 1, r.stopped(protocol.StopCode.Error));
	const restart = await r.next(startOf(b.actorId, 1));
	assert.equal(restart.val[0].checkpoint.index, 0n);
	// Events of the old generation, or already seen indexes, change nothing.
	r.event(b.actorId, 0, 2, r.running);
	r.event(b.actorId, 1, 0, r.running);
	await engine.waitForActorState(b.actorId, "running");
	r.event(b.actorId, 1, 0, r.stopped(protocol.StopCode.Error)); // duplicate index 0
	r.send({ tag: "ToServerPong", val: { ts: BigInt(Date.now()) } });
	await engine.waitForMessage({ tag: "ToServerPong" });
	assert.equal(engine.getActor(b.actorId).state, "running");
	assert.equal(engine.getActor(b.actorId).lastEventIdx, 0);

	// A second crash within the reset window waits for the backoff before restarting.
	r.event(b.actorId, 1, 1, r.stopped(protocol.StopCode.Error));
	const waiting = await engine.waitForActorState(b.actorId, "stopped");
	assert.ok(waiting.rescheduleTs >= Date.now());
	await r.next(startOf(b.actorId, 2));

	// crash policy destroy: an error exit destroys.
	const c = engine.createActor({ name: "counter", key: "c", crashPolicy: "destroy" });
	await r.next(startOf(c.actorId, 0));
	r.event(c.actorId, 0, 0, r.stopped(protocol.StopCode.Error));
	await engine.waitForActorState(c.actorId, "destroyed");

	// Commands are replayed until acked; an ack removes them.
	assert.ok(engine.getRunner(r.runnerId).unackedCommands > 0);
	const cps = [];
	for (const m of r.inbox.filter((m) => m.tag === "ToClientCommands")) for (const w of m.val) cps.push(w.checkpoint);
	r.send({ tag: "ToServerAckCommands", val: { lastCommandCheckpoints: cps } });
	await engine.waitFor(() => engine.getRunner(r.runnerId).unackedCommands === 0, { description: "commands acked" });
});

test("raw runner: start threshold — no Running in time means the actor is lost", async (t) => {
	const engine = await withEngine(t, { actorStartThresholdMs: 150 });
	const r = await rawRunner(engine);
	t.after(() => r.ws.close());
	const a = engine.createActor({ name: "counter", key: "slow", crashPolicy: "sleep" });
	await r.next(startOf(a.actorId, 0));
	await engine.waitForActorState(a.actorId, "sleeping");
	// The engine tells the runner to stop the lost allocation.
	const stop = await r.next((m) => m.tag === "ToClientCommands" && m.val.some((w) => w.inner.tag === "CommandStopActor"));
	assert.equal(stop.val[0].checkpoint.actorId, a.actorId);
});
