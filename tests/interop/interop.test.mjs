// The official RivetKit JavaScript clients (npm rivetkit@2.0.33 and rivetkit@2.3.19) against
// our server (tests/interop/server), over every encoding. Run by tests/interop/run.sh:
//   INTEROP_SERVER=<path to rivetkit_interop_server> node --test interop.test.mjs
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";

// Every frame a client socket receives, in order, so a test can check what the server sent
// (an event nobody listens to is dropped by the client before any listener could see it).
const received = [];
class RecordingWebSocket extends WebSocket {
	constructor(...args) {
		super(...args);
		this.frames = [];
		this.on("message", (data) => {
			const b = Buffer.from(data);
			received.push(b);
			this.frames.push(b);
		});
	}
}
globalThis.WebSocket = RecordingWebSocket;

const CLIENTS = {
	"2.0.33": await import("rivetkit-2.0.33/client"),
	"2.3.19": await import("rivetkit-2.3.19/client"),
};
const ENCODINGS = ["bare", "cbor", "json"];

let server;
let endpoint;
let dataDir;

function startServer() {
	return new Promise((resolve, reject) => {
		const bin = process.env.INTEROP_SERVER;
		if (!bin) return reject(new Error("INTEROP_SERVER is not set"));
		dataDir = mkdtempSync(join(tmpdir(), "rivetkit-interop-"));
		const child = spawn(bin, [], {
			env: { ...process.env, PORT: "0", HOST: "127.0.0.1", RIVETKIT_DATA_PATH: dataDir, LOG_LEVEL: "warn" },
			stdio: ["ignore", "pipe", "inherit"],
		});
		let out = "";
		child.stdout.on("data", (chunk) => {
			out += chunk;
			const m = out.match(/listening on (\d+)/);
			if (m) resolve({ child, port: Number(m[1]) });
		});
		child.on("exit", (code) => reject(new Error(`server exited early with ${code}`)));
	});
}

before(async () => {
	const s = await startServer();
	server = s.child;
	endpoint = `http://127.0.0.1:${s.port}`;
});

after(async () => {
	if (server) {
		const exited = new Promise((r) => server.once("exit", r));
		server.kill("SIGTERM");
		await exited;
	}
	if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** Awaits `promise` and returns the error it rejects with (fails if it resolves). */
async function rejection(promise) {
	try {
		await promise;
	} catch (e) {
		return e;
	}
	assert.fail("expected the call to fail");
}

/** The `index`th message `ws` received, counted from the call that started recording. */
function frameAt(ws, index, ms = 5000) {
	if (!ws.frames) {
		// The 2.3 client's sockets are not ours (no recording from construction).
		ws.frames = [];
		ws.addEventListener("message", (ev) => ws.frames.push(Buffer.from(ev.data)));
	}
	if (ws.frames.length > index) return Promise.resolve(ws.frames[index]);
	return new Promise((resolve, reject) => {
		const check = () => {
			if (ws.frames.length > index) {
				clearTimeout(t);
				ws.removeEventListener("message", check);
				resolve(ws.frames[index]);
			}
		};
		const t = setTimeout(() => {
			ws.removeEventListener("message", check);
			reject(new Error(`timed out waiting for message ${index}`));
		}, ms);
		ws.addEventListener("message", check);
	});
}

/** Resolves with the next value `register(cb)` delivers, or rejects after `ms`. */
function nextValue(register, ms = 5000) {
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error("timed out waiting for an event")), ms);
		register((...args) => {
			clearTimeout(t);
			resolve(args);
		});
	});
}

/** Runs curl with `args`; resolves with { status, headers } of the (last) response. */
function curl(args) {
	return new Promise((resolve, reject) => {
		execFile("curl", ["-s", "-D", "-", "-o", "/dev/null", ...args], (err, stdout) => {
			if (err) return reject(err);
			const lines = stdout.split("\r\n");
			const status = Number(lines[0].split(" ")[1]);
			const headers = {};
			for (const l of lines.slice(1)) {
				const i = l.indexOf(":");
				if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
			}
			resolve({ status, headers });
		});
	});
}

test("CORS: a browser's preflight and the headers of a credentialed call (curl)", async () => {
	const pre = await curl([
		"-X", "OPTIONS", `${endpoint}/gateway/0123456789abcdef/action/increment`,
		"-H", "Origin: https://app.example",
		"-H", "Access-Control-Request-Method: POST",
		"-H", "Access-Control-Request-Headers: content-type,x-rivet-encoding,x-rivet-conn-params",
	]);
	assert.equal(pre.status, 204);
	assert.equal(pre.headers["access-control-allow-origin"], "https://app.example");
	assert.equal(pre.headers["access-control-allow-credentials"], "true");
	assert.equal(pre.headers["access-control-allow-headers"], "content-type,x-rivet-encoding,x-rivet-conn-params");
	assert.match(pre.headers["access-control-allow-methods"], /POST/);
	assert.equal(pre.headers["access-control-max-age"], "86400");
	assert.equal(pre.headers["vary"], "Origin");
	const get = await curl([`${endpoint}/actors?name=counter`, "-H", "Origin: https://app.example"]);
	assert.equal(get.status, 200);
	assert.equal(get.headers["access-control-allow-origin"], "https://app.example");
	assert.equal(get.headers["access-control-allow-credentials"], "true");
	assert.equal(get.headers["access-control-expose-headers"], "*");
});

let keySeq = 0;
const freshKey = (label) => `${label}-${process.pid}-${Date.now()}-${keySeq++}`;

for (const [version, mod] of Object.entries(CLIENTS)) {
	for (const encoding of ENCODINGS) {
		describe(`rivetkit@${version} client, ${encoding}`, () => {
			let client;
			before(() => {
				client = mod.createClient({ endpoint, encoding });
			});
			after(async () => {
				await client?.dispose?.();
			});

			test("getOrCreate, get, getForId and actions", async () => {
				const key = freshKey("basic");
				const h = client.counter.getOrCreate([key, "sub/part"]);
				assert.equal(await h.increment(2), 2);
				assert.equal(await h.increment(3), 5);
				const again = client.counter.get([key, "sub/part"]);
				assert.equal(await again.getCount(), 5);
				const id = await h.resolve();
				assert.match(id, /^[0-9a-f]{16}$/);
				assert.equal(await client.counter.getForId(id).getCount(), 5);
			});

			test("get of a missing actor fails with actor/not_found", async () => {
				const e = await rejection(client.counter.get([freshKey("missing")]).getCount());
				assert.equal(e.code, "not_found");
			});

			test("create, and a duplicate create fails with actor/duplicate_key", async () => {
				const key = freshKey("create");
				const h = await client.counter.create([key], { input: { hello: 1 } });
				assert.deepEqual(await h.getInput(), { hello: 1 });
				const e = await rejection(client.counter.create([key]));
				assert.equal(e.group, "actor");
				assert.equal(e.code, "duplicate_key");
			});

			test("values survive the round trip", async () => {
				const h = client.counter.getOrCreate([freshKey("values")]);
				const bytes = new Uint8Array([1, 2, 3, 255]);
				const v = {
					s: "héllo ✓",
					n: 1.5,
					i: -42,
					big: 12345678901234567n,
					bytes,
					list: [1, "two", null, true],
					nested: { deep: { x: [] } },
				};
				// A user array with a "$" head: 2.3 clients escape it inside CBOR and choke on
				// their own escape coming back (their CBOR-compat reviver runs twice), so it is
				// checked with the clients that round-trip it. See src/protocol/client_protocol.hpp.
				const checkDollar = version === "2.0.33" || encoding === "json";
				if (checkDollar) v.dollar = ["$foo", 1];
				const out = await h.echo(v);
				assert.equal(out.s, v.s);
				assert.equal(out.n, 1.5);
				assert.equal(out.i, -42);
				assert.equal(out.big, 12345678901234567n);
				assert.deepEqual(new Uint8Array(out.bytes), bytes);
				assert.deepEqual(out.list, v.list);
				assert.deepEqual(out.nested, v.nested);
				if (checkDollar) assert.deepEqual(out.dollar, ["$foo", 1]);
				assert.deepEqual(await h.echoArgs("a", 2), ["a", 2]);
				// JSON cannot say undefined: a void action's output is null there (the reference's
				// {} fails the 2.0.33 client's validation); cbor and bare carry undefined.
				assert.equal(await h.noop(), encoding === "json" ? null : undefined);
			});

			test("user errors carry code and metadata; internal errors are masked", async () => {
				const h = client.counter.getOrCreate([freshKey("errors")]);
				const e = await rejection(h.throwUser());
				assert.equal(e.group, "user");
				assert.equal(e.code, "my_code");
				assert.equal(e.message, "bad thing");
				assert.deepEqual(e.metadata, { a: 1 });
				const i = await rejection(h.throwInternal());
				assert.equal(i.code, "internal_error");
				assert.ok(!String(i.message).includes("secret"), i.message);
				const nf = await rejection(h.noSuchAction());
				assert.equal(nf.code, "not_found");
			});

			test("connection params over HTTP and WebSocket", async () => {
				const params = { token: "t/ü" };
				const h = client.counter.getOrCreate([freshKey("params")], { params });
				assert.deepEqual(await h.getParams(), params);
				const conn = h.connect();
				try {
					assert.deepEqual(await conn.getParams(), params);
				} finally {
					await conn.dispose();
				}
				const rejected = client.counter.getOrCreate([freshKey("params")], { params: { reject: true } });
				const e = await rejection(rejected.getCount());
				assert.equal(e.code, "forbidden");
			});

			test("connect, events, unsubscribe", async () => {
				const h = client.counter.getOrCreate([freshKey("events")]);
				const conn = h.connect();
				try {
					let unsubscribeAll;
					const got = nextValue((cb) => {
						unsubscribeAll = conn.on("newCount", cb);
					});
					assert.equal(await conn.increment(5), 5);
					assert.deepEqual(await got, [5]);

					// After the last listener goes, the server stops sending the event: once
					// "marker" (sent after the increment) arrives, no newCount came before it.
					unsubscribeAll();
					const from = received.length;
					const markerArrived = nextValue((cb) => conn.on("marker", cb));
					await conn.increment(1);
					await conn.emit("marker", "m");
					assert.deepEqual(await markerArrived, ["m"]);
					const since = received.slice(from).map((b) => b.toString("latin1"));
					assert.ok(since.some((f) => f.includes("marker")));
					assert.ok(!since.some((f) => f.includes("newCount")), "newCount after unsubscribe");

					// Errors over the socket carry the action's code.
					await conn.getCount(); // id > 0 for the 2.0.33 client's actionId quirk
					const e = await rejection(conn.throwUser());
					assert.equal(e.code, "my_code");
				} finally {
					await conn.dispose();
				}
			});

			test("raw HTTP with handle.fetch", async () => {
				const h = client.counter.getOrCreate([freshKey("fetch")]);
				const res = await h.fetch("/foo/bar?x=1&y=two", {
					method: "POST",
					body: "payload",
					headers: { "x-test": "yes" },
				});
				assert.equal(res.status, 200);
				assert.equal(res.headers.get("x-actor"), "counter");
				const body = await res.json();
				assert.equal(body.method, "POST");
				assert.equal(body.path, "/foo/bar");
				assert.equal(body.query, "x=1&y=two");
				assert.equal(body.body, "payload");
				assert.equal(body.xTest, "yes");
			});

			test("raw WebSocket with handle.websocket", async () => {
				const h = client.counter.getOrCreate([freshKey("ws")]);
				// 2.3 renamed handle.websocket to handle.webSocket.
				const ws = version === "2.0.33" ? await h.websocket("chat/room?x=1") : await h.webSocket("chat/room?x=1");
				if (ws.readyState !== 1) await new Promise((r) => ws.addEventListener("open", r, { once: true }));
				const first = frameAt(ws, 0);
				ws.send("path");
				assert.equal((await first).toString(), "path:/websocket/chat/room?x=1");
				ws.send("ping");
				assert.equal((await frameAt(ws, 1)).toString(), "echo:ping");
				const closed = new Promise((r) => ws.addEventListener("close", (ev) => r(ev.code), { once: true }));
				ws.close(1000, "done");
				assert.equal(await closed, 1000);
			});

			test("the 64 KiB incoming limit and the 1 MiB outgoing limit", async () => {
				const h = client.counter.getOrCreate([freshKey("limits")]);
				const e = await rejection(h.echo("x".repeat(70_000)));
				assert.equal(e.code, "incoming_too_long");
				const o = await rejection(h.sized(2_000_000));
				assert.equal(o.code, "outgoing_too_long");
				assert.equal((await h.sized(1000)).length, 1000);
			});
		});
	}
}
