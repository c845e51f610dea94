// Client traffic through the gateway to the official TS runner: HTTP, WebSockets, hibernatable WebSockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import {
	withEngine,
	startRunner,
	connected,
	runningActor,
	started,
	gatewayFetch,
	openClientWs,
	tunnelTrace,
	hex,
	WebSocket,
} from "./helpers.mjs";

test("HTTP through the gateway: RequestStart idx 0 → runner fetch → ResponseStart; CORS; errors", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine, {}, r);

	const res = await gatewayFetch(engine, actorId, "/echo?x=1&y=two", {
		method: "POST",
		headers: { "content-type": "text/plain", "x-custom": "abc", origin: "http://example.test" },
		body: "hello body",
	});
	assert.equal(res.status, 201);
	assert.equal(res.headers.get("x-test"), "yes");
	assert.equal(res.headers.get("access-control-allow-origin"), "http://example.test");
	assert.equal(res.headers.get("access-control-allow-credentials"), "true");
	assert.equal(res.headers.get("access-control-expose-headers"), "*");
	assert.equal(res.headers.get("vary"), "Origin");
	const body = await res.json();
	assert.equal(body.method, "POST");
	assert.equal(body.path, "/echo?x=1&y=two");
	assert.equal(body.body, "hello body");
	assert.equal(body.headers["x-custom"], "abc");

	const [start] = engine.messages({ tag: "ToClientTunnelMessage", kind: "ToClientRequestStart" });
	const v = start.msg.val;
	assert.equal(v.messageId.messageIndex, 0);
	assert.equal(hex(v.messageId.gatewayId), hex(engine.gatewayId));
	assert.equal(v.messageKind.val.actorId, actorId);
	assert.equal(v.messageKind.val.method, "POST");
	assert.equal(v.messageKind.val.path, "/echo?x=1&y=two");
	assert.equal(v.messageKind.val.stream, false);
	assert.equal(v.messageKind.val.headers.get("x-custom"), "abc");
	assert.deepEqual(tunnelTrace(engine, hex(v.messageId.requestId)), [
		["toRunner", "ToClientRequestStart", 0, false],
		["fromRunner", "ToServerResponseStart", 0, false],
	]);
	// The runner added content-length to the response.
	const [resp] = engine.messages({ tag: "ToServerTunnelMessage", kind: "ToServerResponseStart" });
	assert.equal(resp.msg.val.messageKind.val.headers.get("content-length"), String(Buffer.byteLength(JSON.stringify(body))));

	// Header routing reaches the same actor with the path unchanged.
	const viaHeaders = await fetch(`${engine.url}/echo?h=1`, { headers: { "x-rivet-target": "actor", "x-rivet-actor": actorId } });
	assert.equal((await viaHeaders.json()).path, "/echo?h=1");

	// CORS preflight is answered by the gateway itself.
	const pre = await gatewayFetch(engine, actorId, "/echo", {
		method: "OPTIONS",
		headers: { origin: "http://o.test", "access-control-request-headers": "x-a" },
	});
	assert.equal(pre.status, 204);
	assert.equal(pre.headers.get("access-control-allow-headers"), "x-a");
	assert.equal(engine.messages({ kind: "ToClientRequestStart" }).length, 2);

	// Unknown route in the app: the runner's 404 passes through.
	assert.equal((await gatewayFetch(engine, actorId, "/nope")).status, 404);
	// Unknown actor: actor.not_found from the gateway.
	const missing = await gatewayFetch(engine, "0000000000000000000000000000", "/echo");
	assert.equal(missing.status, 400);
	assert.equal((await missing.json()).code, "not_found");
});

test("HTTP: the runner's 503 + x-rivet-error is retried", async (t) => {
	const engine = await withEngine(t, { gatewayRetryInitialMs: 20 });
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine, {}, r);
	let calls = 0;
	r.app.routes.set("/flaky", async () => {
		calls++;
		if (calls < 3) return new Response("busy", { status: 503, headers: { "x-rivet-error": "runner.actor_not_found" } });
		return new Response("finally");
	});
	const res = await gatewayFetch(engine, actorId, "/flaky");
	assert.equal(await res.text(), "finally");
	assert.equal(calls, 3);
	// One request id, its message index going on across the retries.
	const starts = engine.messages({ kind: "ToClientRequestStart" }).map((e) => [hex(e.msg.val.messageId.requestId), e.msg.val.messageId.messageIndex]);
	assert.equal(new Set(starts.map((s) => s[0])).size, 1);
	assert.deepEqual(
		starts.map((s) => s[1]),
		[0, 1, 2],
	);
});

test("WebSocket through the gateway: open, echo, client close and server close with indexes", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine, {}, r);

	// 1. Client closes.
	const runnerOpened = once(r.events, "wsOpen");
	const c1 = await openClientWs(engine, actorId, "/ws?q=1", ["rivet", "rivet_encoding.bare"]);
	assert.equal(c1.ws.protocol, "rivet");
	const [open] = await runnerOpened;
	assert.equal(open.path, "/ws?q=1");
	assert.equal(open.isHibernatable, false);
	c1.ws.send("hi");
	c1.ws.send(Buffer.from([1, 2, 3]));
	assert.deepEqual(await c1.waitCount(2), ["echo:hi", "echo:bin:010203"]);
	const runnerClosed = once(r.events, "wsClose");
	c1.ws.close(4000, "client-bye");
	assert.deepEqual((await c1.closed).code, 4000);
	const [rc] = await runnerClosed;
	assert.equal(rc.code, 4000);
	assert.equal(rc.reason, "client-bye");
	const req1 = engine.messages({ kind: "ToClientWebSocketOpen" })[0];
	// The TS runner answers the gateway's close with a close of its own (same code and reason).
	await engine.waitForMessage({ kind: "ToServerWebSocketClose" });
	const openVal = req1.msg.val.messageKind.val;
	assert.equal(openVal.path, "/ws?q=1");
	assert.equal(openVal.actorId, actorId);
	assert.equal(openVal.headers.get("sec-websocket-protocol"), "rivet,rivet_encoding.bare");
	const trace1 = tunnelTrace(engine, hex(req1.msg.val.messageId.requestId));
	assert.deepEqual(trace1.filter((x) => x[0] === "toRunner"), [
		["toRunner", "ToClientWebSocketOpen", 0, false],
		["toRunner", "ToClientWebSocketMessage", 1, false],
		["toRunner", "ToClientWebSocketMessage", 2, false],
		["toRunner", "ToClientWebSocketClose", 3, false],
	]);
	assert.deepEqual(trace1.filter((x) => x[0] === "fromRunner"), [
		["fromRunner", "ToServerWebSocketOpen", 0, false],
		["fromRunner", "ToServerWebSocketMessage", 1, false],
		["fromRunner", "ToServerWebSocketMessage", 2, false],
		["fromRunner", "ToServerWebSocketClose", 3, false],
	]);
	assert.deepEqual(engine.messages({ kind: "ToServerWebSocketClose" })[0].msg.val.messageKind.val, {
		code: 4000,
		reason: "client-bye",
		hibernate: false,
	});
	const close1 = engine.messages({ kind: "ToClientWebSocketClose" })[0].msg.val.messageKind.val;
	assert.deepEqual(close1, { code: 4000, reason: "client-bye" });
	assert.equal(engine.messages({ kind: "ToServerWebSocketOpen" })[0].msg.val.messageKind.val.canHibernate, false);

	// 2. Server (actor) closes.
	const c2 = await openClientWs(engine, actorId, "/ws");
	c2.ws.send("close-me");
	const closed = await c2.closed;
	assert.equal(closed.code, 4001);
	assert.equal(closed.reason, "server-bye");
	const srvClose = engine.messages({ kind: "ToServerWebSocketClose" })[1];
	assert.deepEqual(srvClose.msg.val.messageKind.val, { code: 4001, reason: "server-bye", hibernate: false });
	await engine.waitFor(() => engine.gateway.listWebSockets().length === 0, { description: "gateway sockets closed" });

	// Unknown actor: refused before the upgrade.
	const bad = new WebSocket(`${engine.url.replace("http", "ws")}/gateway/0000000000000000000000000000/ws`, ["rivet"]);
	const [, res] = await once(bad, "unexpected-response");
	assert.equal(res.statusCode, 400);
});

test("WebSocket: the actor sleeping closes a non-hibernatable socket; the gateway re-routes it (new Open)", async (t) => {
	const engine = await withEngine(t, { gatewayRetryInitialMs: 10 });
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine, {}, r);
	const c = await openClientWs(engine, actorId, "/ws");
	c.ws.send("one");
	await c.waitCount(1);
	await (await gatewayFetch(engine, actorId, "/sleep")).text();
	// Gateway sees the stop (service unavailable), wakes the actor again and re-opens the socket on it.
	// (The /sleep reply can come back before the engine has seen the stop: generation 0 may still
	// be "running" then, so wait for generation 1 itself.)
	await engine.waitFor(
		() => {
			const a = engine.getActor(actorId);
			return a && a.generation === 1;
		},
		{ description: "generation 1" },
	);
	const back = await started(engine, actorId, r);
	assert.equal(back.generation, 1);
	await engine.waitFor(() => engine.messages({ kind: "ToClientWebSocketOpen" }).length === 2, { description: "second open" });
	await engine.waitFor(() => engine.gateway.listWebSockets()[0]?.state === "open");
	c.ws.send("two");
	assert.deepEqual(await c.waitCount(2), ["echo:one", "echo:two"]);
	const req = hex(engine.messages({ kind: "ToClientWebSocketOpen" })[0].msg.val.messageId.requestId);
	const toRunner = tunnelTrace(engine, req).filter((x) => x[0] === "toRunner");
	assert.deepEqual(toRunner, [
		["toRunner", "ToClientWebSocketOpen", 0, false],
		["toRunner", "ToClientWebSocketMessage", 1, false],
		["toRunner", "ToClientWebSocketClose", 2, false],
		["toRunner", "ToClientWebSocketOpen", 3, false],
		["toRunner", "ToClientWebSocketMessage", 4, false],
	]);
	const close = engine.messages({ kind: "ToClientWebSocketClose" })[0].msg.val.messageKind.val;
	assert.deepEqual(close, { code: 1011, reason: "ws.downstream_closed" });
	c.ws.close();
	await c.closed;
});

test("hibernatable WebSocket: survives sleep, wakes the actor on a client frame, no second open, unacked resent", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine, {}, r);

	const c = await openClientWs(engine, actorId, "/hws");
	c.ws.send("a");
	assert.deepEqual(await c.waitCount(1), ["echo:a"]);
	const openMsg = engine.messages({ kind: "ToClientWebSocketOpen" })[0];
	const reqHex = hex(openMsg.msg.val.messageId.requestId);
	assert.equal(engine.messages({ kind: "ToServerWebSocketOpen" })[0].msg.val.messageKind.val.canHibernate, true);
	// The app persisted the message index and acked it.
	await engine.waitFor(() => engine.gateway.listWebSockets()[0]?.pendingUnacked === 0, { description: "ack of a" });
	const [ack] = engine.messages({ kind: "ToServerWebSocketMessageAck" });
	assert.equal(ack.msg.val.messageKind.val.index, 1);

	// Sleep: the socket stays open on the client side, hibernating in the gateway.
	await (await gatewayFetch(engine, actorId, "/sleep")).text();
	await engine.waitForActorState(actorId, "sleeping");
	await engine.waitFor(() => engine.gateway.listWebSockets()[0]?.state === "hibernating", { description: "hibernating" });
	assert.equal(c.ws.readyState, WebSocket.OPEN);
	// No close went to the runner for it.
	assert.equal(engine.messages({ kind: "ToClientWebSocketClose" }).length, 0);

	// A client frame wakes the actor; StartActor lists the hibernating request; no new Open.
	c.ws.send("b");
	assert.deepEqual(await c.waitCount(2), ["echo:a", "echo:b"]);
	const a1 = engine.getActor(actorId);
	assert.equal(a1.generation, 1);
	const start1 = engine
		.messages({ tag: "ToClientCommands", actorId })
		.flatMap((e) => e.msg.val)
		.find((w) => w.checkpoint.generation === 1 && w.inner.tag === "CommandStartActor");
	assert.deepEqual(
		start1.inner.val.hibernatingRequests.map((h) => [hex(h.gatewayId), hex(h.requestId)]),
		[[hex(engine.gatewayId), reqHex]],
	);
	assert.equal(engine.messages({ kind: "ToClientWebSocketOpen" }).length, 1);
	assert.ok(r.app.starts.length === 2);

	// An unacked message is resent with its original index when the actor comes back.
	await engine.waitFor(() => engine.gateway.listWebSockets()[0]?.pendingUnacked === 0, { description: "ack of b" });
	c.ws.send("noack:c");
	assert.deepEqual((await c.waitCount(3))[2], "echo:noack:c");
	assert.equal(engine.gateway.listWebSockets()[0].pendingUnacked, 1);
	await (await gatewayFetch(engine, actorId, "/sleep")).text();
	// Pending messages end hibernation at once: the actor is woken again and gets "noack:c" again.
	const msgs = await c.waitCount(4);
	assert.equal(msgs[3], "echo:noack:c");
	await started(engine, actorId, r);
	assert.equal(engine.getActor(actorId).generation, 2);
	c.ws.send("d");
	assert.equal((await c.waitCount(5))[4], "echo:d");

	const toRunner = tunnelTrace(engine, reqHex).filter((x) => x[0] === "toRunner");
	assert.deepEqual(
		toRunner.map((x) => [x[1], x[2]]),
		[
			["ToClientWebSocketOpen", 0],
			["ToClientWebSocketMessage", 1], // a
			["ToClientWebSocketMessage", 2], // b (after the wake)
			["ToClientWebSocketMessage", 3], // noack:c
			["ToClientWebSocketMessage", 3], // noack:c resent, same index
			["ToClientWebSocketMessage", 4], // d
		],
	);
	const received = [];
	for (const e of engine.messages({ kind: "ToClientWebSocketMessage" })) received.push(Buffer.from(new Uint8Array(e.msg.val.messageKind.val.data)).toString());
	assert.deepEqual(received, ["a", "b", "noack:c", "noack:c", "d"]);

	// Client close: the runner hears it, and the app forgets the persisted socket.
	const closed = once(r.events, "wsClose");
	c.ws.close(1000, "done");
	const [ev] = await closed;
	assert.equal(ev.code, 1000);
	await engine.waitFor(() => !engine.readKv(actorId).some((e) => e.key.toString().startsWith("hws/")), { description: "hws meta deleted" });
	assert.deepEqual(engine.gateway.hibernatingRequestsFor(actorId), []);
});
