// Connection, handshake and keep-alive with the official TS runner; URL/init/token errors with a raw socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { withEngine, startRunner, connected, WebSocket } from "./helpers.mjs";

test("handshake: Init → ToClientInit, then pings answered with pongs", async (t) => {
	const engine = await withEngine(t, { pingIntervalMs: 100, runnerLostThresholdMs: 7000 });
	const r = startRunner(t, engine, { runnerName: "rn", totalSlots: 7, runnerKey: "key-1", version: 3 });
	await connected(r);

	const init = engine.messages({ dir: "fromRunner", tag: "ToServerInit" });
	assert.equal(init.length, 1);
	assert.equal(init[0].msg.val.name, "rn");
	assert.equal(init[0].msg.val.version, 3);
	assert.equal(init[0].msg.val.totalSlots, 7);
	assert.deepEqual([...init[0].msg.val.prepopulateActorNames.keys()], ["counter"]);
	assert.equal(init[0].msg.val.prepopulateActorNames.get("counter").metadata, "{}");
	assert.equal(init[0].msg.val.metadata, '{"inspectorToken":"tok"}');

	const [clientInit] = engine.messages({ dir: "toRunner", tag: "ToClientInit" });
	assert.equal(clientInit.msg.val.runnerId, r.runner.runnerId);
	assert.equal(clientInit.msg.val.metadata.runnerLostThreshold, 7000n);
	assert.match(r.runner.runnerId, /^[0-9a-z]{30}$/);

	const runner = engine.getRunner(r.runner.runnerId);
	assert.equal(runner.name, "rn");
	assert.equal(runner.key, "key-1");
	assert.equal(runner.connected, true);
	assert.deepEqual(runner.metadata, { inspectorToken: "tok" });
	assert.deepEqual(engine.actorNames.get("default").get("counter"), {});

	// Pongs echo the ping timestamps.
	await engine.waitFor(() => engine.getRunner(r.runner.runnerId).pongs >= 3, { description: "3 pongs" });
	const pings = engine.messages({ tag: "ToClientPing" }).map((e) => e.msg.val.ts);
	const pongs = engine.messages({ tag: "ToServerPong" }).map((e) => e.msg.val.ts);
	assert.ok(pongs.length >= 3);
	assert.deepEqual(pongs, pings.slice(0, pongs.length));
	assert.ok(engine.getRunner(r.runner.runnerId).lastRtt >= 0);
});

/** Opens a raw runner socket; resolves with its close { code, reason }. */
async function rawRunnerSocket(engine, query, { protocols = ["rivet"], send } = {}) {
	const ws = new WebSocket(`${engine.url.replace("http", "ws")}/runners/connect${query}`, protocols);
	const closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
	const failed = new Promise((resolve) => ws.on("unexpected-response", (_req, res) => resolve({ status: res.statusCode })));
	ws.on("error", () => {});
	const opened = await Promise.race([once(ws, "open").then(() => true), failed]);
	if (opened !== true) return opened;
	assert.equal(ws.protocol, "rivet");
	if (send) send(ws);
	return closed;
}

test("runner endpoint rejects bad URLs, a missing init and unknown namespaces", async (t) => {
	const engine = await withEngine(t, { initTimeoutMs: 150 });

	const noKey = await rawRunnerSocket(engine, "?protocol_version=5&namespace=default");
	assert.equal(noKey.code, 1011);
	assert.match(noKey.reason, /^ws\.invalid_url#[0-9a-z]{30}$/);

	const badVersion = await rawRunnerSocket(engine, "?protocol_version=4&namespace=default&runner_key=k");
	assert.equal(badVersion.code, 1011);
	assert.match(badVersion.reason, /^ws\.invalid_packet/);

	const unknownNs = await rawRunnerSocket(engine, "?protocol_version=5&namespace=nope&runner_key=k");
	assert.match(unknownNs.reason, /^namespace\.not_found/);

	const silent = await rawRunnerSocket(engine, "?protocol_version=5&namespace=default&runner_key=k");
	assert.equal(silent.code, 1011);
	assert.match(silent.reason, /^ws\.timed_out_waiting_for_init/);

	const text = await rawRunnerSocket(engine, "?protocol_version=5&namespace=default&runner_key=k", { send: (ws) => ws.send("hello") });
	assert.match(text.reason, /^ws\.invalid_initial_packet/);

	const notInit = await rawRunnerSocket(engine, "?protocol_version=5&namespace=default&runner_key=k", {
		send: (ws) => ws.send(protocol.encodeToServer({ tag: "ToServerPong", val: { ts: 1n } })),
	});
	assert.match(notInit.reason, /^ws\.invalid_initial_packet/);

	const garbage = await rawRunnerSocket(engine, "?protocol_version=5&namespace=default&runner_key=k", {
		send: (ws) => ws.send(Buffer.from([0xff, 0xff])),
	});
	assert.match(garbage.reason, /^ws\.invalid_packet/);
	assert.equal(engine.runners.size, 0);
});

test("token: runners must offer rivet_token.<token>", async (t) => {
	const engine = await withEngine(t, { token: "secret" });
	const wrong = await rawRunnerSocket(engine, "?protocol_version=5&namespace=default&runner_key=k", {
		protocols: ["rivet", "rivet_token.nope"],
	});
	assert.equal(wrong.status, 403);

	const r = startRunner(t, engine, { token: "secret" });
	await connected(r);
	assert.ok(engine.getRunner(r.runner.runnerId).connected);
});
