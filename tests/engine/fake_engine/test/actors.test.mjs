// Actor lifecycle with the official TS runner: start, KV from onActorStart, sleep and wake, alarms, destroy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { withEngine, startRunner, connected, runningActor, started, gatewayFetch, bytes, text } from "./helpers.mjs";

test("start actor: StartActor with checkpoint, Running event, KV put/get from onActorStart, acks", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);

	const created = engine.createActor({ name: "counter", key: "my-key", input: bytes("input!"), crashPolicy: "sleep" });
	const actor = await engine.waitForActorState(created.actorId, "running");
	assert.equal(actor.generation, 0);
	assert.equal(actor.runnerId, r.runner.runnerId);
	assert.match(actor.actorId, /^[0-9a-z]{30}$/);

	const [cmd] = engine.messages({ tag: "ToClientCommands", actorId: actor.actorId });
	const w = cmd.msg.val[0];
	assert.deepEqual(w.checkpoint, { actorId: actor.actorId, generation: 0, index: 0n });
	assert.equal(w.inner.tag, "CommandStartActor");
	assert.equal(w.inner.val.config.name, "counter");
	assert.equal(w.inner.val.config.key, "my-key");
	assert.equal(text(new Uint8Array(w.inner.val.config.input)), "input!");
	assert.deepEqual(w.inner.val.hibernatingRequests, []);

	// Running is event index 0 of generation 0; the engine acks it.
	const [running] = engine.messages({ tag: "ToServerEvents", actorId: actor.actorId });
	assert.deepEqual(running.msg.val[0].checkpoint, { actorId: actor.actorId, generation: 0, index: 0n });
	assert.equal(running.msg.val[0].inner.val.state.tag, "ActorStateRunning");
	await engine.waitForMessage({ tag: "ToClientAckEvents", actorId: actor.actorId });

	// onActorStart wrote and read KV through the engine.
	await engine.waitFor(() => r.app.lastStartKv === "0", { description: "kv read back in onActorStart" });
	const kv = engine.readKv(actor.actorId);
	assert.deepEqual(
		kv.map((e) => [e.key.toString(), e.value.toString()]),
		[["started", "0"]],
	);
	const kvReqs = engine.messages({ tag: "ToServerKvRequest", actorId: actor.actorId });
	assert.deepEqual(
		kvReqs.slice(0, 2).map((e) => e.msg.val.data.tag),
		["KvPutRequest", "KvGetRequest"],
	);
	const ids = kvReqs.map((e) => e.msg.val.requestId);
	const resps = engine.messages({ tag: "ToClientKvResponse" }).map((e) => [e.msg.val.requestId, e.msg.val.data.tag]);
	assert.deepEqual(resps.slice(0, 2), [
		[ids[0], "KvPutResponse"],
		[ids[1], "KvGetResponse"],
	]);
	assert.equal(r.app.starts[0].config.key, "my-key");
	assert.equal(text(r.app.starts[0].config.input), "input!");
});

test("intent sleep → StopActor → Stopped → sleeping; gateway traffic wakes it as generation 1", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine);

	const res = await gatewayFetch(engine, actorId, "/sleep");
	assert.equal(await res.text(), "sleeping");
	const slept = await engine.waitForActorState(actorId, "sleeping");
	assert.equal(slept.runnerId, null);
	assert.deepEqual(r.app.stops, [{ actorId, generation: 0 }]);

	// Events of generation 0: Running@0, Intent Sleep@1, Stopped{Ok}@2; commands Start@0, Stop@1.
	const evs = engine
		.messages({ tag: "ToServerEvents", actorId })
		.flatMap((e) => e.msg.val)
		.map((w) => [w.checkpoint.generation, Number(w.checkpoint.index), w.inner.val.intent?.tag ?? w.inner.val.state?.tag]);
	assert.deepEqual(evs, [
		[0, 0, "ActorStateRunning"],
		[0, 1, "ActorIntentSleep"],
		[0, 2, "ActorStateStopped"],
	]);
	const stopped = engine.messages({ tag: "ToServerEvents", kind: "ActorStateStopped" })[0].msg.val[0];
	assert.equal(stopped.inner.val.state.val.code, "Ok");
	const cmds = engine
		.messages({ tag: "ToClientCommands", actorId })
		.flatMap((e) => e.msg.val)
		.map((w) => [w.checkpoint.generation, Number(w.checkpoint.index), w.inner.tag]);
	assert.deepEqual(cmds, [
		[0, 0, "CommandStartActor"],
		[0, 1, "CommandStopActor"],
	]);
	// KV survives sleep.
	assert.equal(engine.readKv(actorId).length, 1);

	// A request to the sleeping actor wakes it (new generation, command index restarts at 0).
	const woke = await gatewayFetch(engine, actorId, "/echo");
	assert.equal(woke.status, 201);
	const body = await woke.json();
	assert.equal(body.generation, 1);
	const a = engine.getActor(actorId);
	assert.equal(a.state, "running");
	assert.equal(a.generation, 1);
	const start1 = engine
		.messages({ tag: "ToClientCommands", actorId })
		.flatMap((e) => e.msg.val)
		.find((w) => w.checkpoint.generation === 1);
	assert.deepEqual(start1.checkpoint, { actorId, generation: 1, index: 0n });
	assert.equal(r.app.lastStartKv, "1");
});

test("alarm: SetAlarm then sleep; the alarm wakes the sleeping actor", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine);

	const before = Date.now();
	await (await gatewayFetch(engine, actorId, "/alarm?ms=400&sleep=1")).text();
	const asleep = await engine.waitForActorState(actorId, "sleeping");
	assert.ok(asleep.alarmTs >= before + 400, "alarm stored");
	const [alarm] = engine.messages({ tag: "ToServerEvents", kind: "EventActorSetAlarm" });
	assert.equal(Number(alarm.msg.val[0].inner.val.alarmTs), asleep.alarmTs);

	const awake = await engine.waitForActorState(actorId, "running");
	assert.equal(awake.generation, 1);
	assert.equal(awake.alarmTs, null);
	assert.ok(Date.now() >= asleep.alarmTs, "woke no earlier than the alarm");
	assert.deepEqual(
		r.app.starts.filter((s) => s.actorId === actorId).map((s) => s.generation),
		[0, 1],
	);
});

test("alarms can be fired early from the control API", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine);
	await (await gatewayFetch(engine, actorId, "/alarm?ms=3600000&sleep=1")).text();
	await engine.waitForActorState(actorId, "sleeping");
	assert.deepEqual(engine.advanceAlarms(1000), []);
	assert.deepEqual(engine.advanceAlarms(2 * 3600000), [actorId]);
	const awake = await engine.waitForActorState(actorId, "running");
	assert.equal(awake.generation, 1);
});

test("intent stop → StopActor → Stopped{Ok} destroys the actor and clears its KV", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine);
	await engine.waitFor(() => engine.readKv(actorId).length === 1);
	await (await gatewayFetch(engine, actorId, "/destroy")).text();
	const gone = await engine.waitForActorState(actorId, "destroyed");
	assert.ok(gone.destroyTs);
	assert.equal(engine.readKv(actorId).length, 0);
	assert.ok(engine.messages({ tag: "ToServerEvents", kind: "ActorIntentStop" }).length === 1);
	const res = await gatewayFetch(engine, actorId, "/echo");
	assert.equal(res.status, 400);
	assert.deepEqual(await res.json(), { group: "actor", code: "not_found", message: "The actor does not exist or was destroyed." });
	assert.equal(engine.getRunner(r.runner.runnerId).remainingSlots, 10);
});

test("crash policies: a failed start reports Stopped{Ok} (graceful → destroy); lost actors follow the policy", async (t) => {
	const engine = await withEngine(t, { runnerLostThresholdMs: 300, rescheduleBaseMs: 50 });
	const r = startRunner(t, engine);
	await connected(r);
	r.app.startHook = async (id, _gen, config) => {
		if (config.key !== "boom") return;
		// The runner rejects the actor's start promise, which nothing else awaits here.
		r.runner.actors.get(id)?.actorStartPromise.promise.catch(() => {});
		throw new Error("start failed");
	};
	// The TS runner reports a failed onActorStart as Stopped{Ok}: the engine takes it as a graceful exit.
	const boom = engine.createActor({ name: "counter", key: "boom", crashPolicy: "restart" });
	await engine.waitForActorState(boom.actorId, "destroyed");

	const sleepy = await runningActor(engine, { crashPolicy: "sleep" }, r);
	const restart = await runningActor(engine, { crashPolicy: "restart" }, r);
	const doomed = await runningActor(engine, { crashPolicy: "destroy" }, r);
	// The runner vanishes: after the lost threshold its actors are lost.
	r.app.startHook = null;
	await r.runner.shutdown(true);
	await engine.waitFor(() => engine.getRunner(r.runner.runnerId).stopped, { description: "runner lost" });
	assert.equal(engine.getActor(sleepy).state, "sleeping");
	assert.equal(engine.getActor(doomed).state, "destroyed");
	// "restart" reschedules: pending until a runner appears, then generation 1 there.
	assert.equal(engine.getActor(restart).state, "pending");
	const r2 = startRunner(t, engine);
	await connected(r2);
	const back = await started(engine, restart, r2);
	assert.equal(back.generation, 1);
	assert.equal(back.runnerId, r2.runner.runnerId);
});

test("allocation: actors queue while runners are full, and take freed slots in order", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine, { totalSlots: 1 });
	await connected(r);
	const first = await runningActor(engine, { crashPolicy: "restart" }, r);
	// Crash policy "restart" (or "destroy") queues for a slot; "sleep" would go to sleep instead.
	const second = engine.createActor({ name: "counter", key: "second", crashPolicy: "restart" });
	const third = engine.createActor({ name: "counter", key: "third", crashPolicy: "destroy" });
	const asleep = engine.createActor({ name: "counter", key: "asleep", crashPolicy: "sleep" });
	assert.equal(engine.getActor(second.actorId).state, "pending");
	assert.equal(engine.getActor(third.actorId).state, "pending");
	assert.equal(engine.getActor(asleep.actorId).state, "sleeping");
	assert.equal(engine.getRunner(r.runner.runnerId).remainingSlots, 0);

	engine.destroyActor(first);
	await started(engine, second.actorId, r);
	assert.equal(engine.getActor(third.actorId).state, "pending");
	// A second runner of the same name takes the next queued actor.
	const r2 = startRunner(t, engine, { totalSlots: 1 });
	await connected(r2);
	const b = await started(engine, third.actorId, r2);
	assert.equal(b.runnerId, r2.runner.runnerId);
});
