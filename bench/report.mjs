// Turns the JSON lines of bench/run.sh into a Markdown table: figure, ours, reference, ratio
// (how many times better ours is: a throughput divided by the reference's, a latency the
// reference's divided by ours) and the target of the benchmark issue with whether it is met.
//
//   node bench/report.mjs results.jsonl [--machine TEXT] [--commit TEXT]

import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const file = args[0];
const opt = (name) => {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : undefined;
};

/** results[side][label] = the generator's JSON object (durability: results.ours["durability:<mode>"]). */
const results = { ours: {}, reference: {} };
for (const line of readFileSync(file, "utf8").split("\n")) {
	if (!line.trim()) continue;
	const { side, label, result } = JSON.parse(line);
	const key = label === "durability" ? `durability:${result.mode}` : label;
	results[side][key] = result;
}

const num = (v, digits = 0) =>
	v === undefined || v === null || Number.isNaN(v)
		? "–"
		: v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const us = (v) => (v === undefined ? "–" : v >= 1000 ? `${num(v / 1000, 2)} ms` : `${num(v, 0)} µs`);
const ratioText = (r) => (r === undefined || !Number.isFinite(r) ? "–" : `${num(r, r >= 10 ? 0 : 1)}×`);

const rows = [];
/**
 * A row comparing one metric of a workload. `better`: "higher" (throughput) or "lower"
 * (latency, memory). `target`: {text, met(ours, ref, ratio)} or undefined.
 */
function row(figure, label, metric, format, better, target) {
	const o = results.ours[label]?.[metric];
	const r = results.reference[label]?.[metric];
	let ratio;
	if (o !== undefined && r !== undefined && o > 0 && r > 0) ratio = better === "higher" ? o / r : r / o;
	let verdict = "";
	if (target) {
		const met = target.met(o, r, ratio);
		verdict = `${target.text} ${met === undefined ? "(not measured)" : met ? "✅" : "❌"}`;
	}
	rows.push([figure, format(o), format(r), ratioText(ratio), verdict]);
}
const atLeast = (n) => ({ text: `≥ ${n}×`, met: (_o, _r, ratio) => (ratio === undefined ? undefined : ratio >= n) });
const errors = (label) => {
	const e = (results.ours[label]?.errors ?? 0) + (results.reference[label]?.errors ?? 0);
	return e ? ` (${e} errors)` : "";
};

for (const [label, name] of [
	["http_json", "HTTP actions, json, 32 conns"],
	["http_bare", "HTTP actions, bare, 32 conns"],
]) {
	row(`${name}: req/s${errors(label)}`, label, "ops_per_s", num, "higher", atLeast(30));
	row(`${name}: p50`, label, "p50_us", us, "lower");
	row(`${name}: p99`, label, "p99_us", us, "lower");
}
const ceiling = results.ours.ceiling?.ops_per_s;
if (ceiling !== undefined) {
	rows.push([`Ceiling server (Asio + llhttp, 200 OK), 32 conns: req/s`, num(ceiling), "", "", ""]);
	// As for the WebSocket ceilings below: can any server answering over HTTP here reach 30×
	// the reference at all?
	for (const label of ["http_json", "http_bare"]) {
		const r = results.reference[label]?.ops_per_s;
		if (r === undefined) continue;
		const target = 30 * r;
		rows.push([
			`Ceiling server over the reference's ${label.replace("_", " ")} actions`,
			ratioText(ceiling / r),
			"",
			"",
			`30× the reference = ${num(target)}: ${target > ceiling ? "above the ceiling ❌" : "within the ceiling ✅"}`,
		]);
	}
	for (const label of ["http_json", "http_bare"]) {
		const o = results.ours[label]?.ops_per_s;
		const share = o === undefined ? undefined : o / ceiling;
		rows.push([
			`${label.replace("_", " ")} actions as a share of the ceiling`,
			share === undefined ? "–" : `${num(share * 100, 0)} %`,
			"",
			"",
			`≥ 50 % ${share === undefined ? "(not measured)" : share >= 0.5 ? "✅" : "❌"}`,
		]);
	}
}
for (const [label, name] of [
	["ws_1conn_64inflight", "WebSocket actions, 1 conn, 64 in flight"],
	["ws_100conns_100actors", "WebSocket actions, 100 conns on 100 actors"],
]) {
	row(`${name}: actions/s${errors(label)}`, label, "ops_per_s", num, "higher", atLeast(20));
	row(`${name}: p50`, label, "p50_us", us, "lower");
	row(`${name}: p99`, label, "p99_us", us, "lower");
}
row(`Broadcast fan-out to 1000 conns: events/s${errors("fanout")}`, "fanout", "events_per_s", num, "higher", atLeast(10));
row("Broadcast fan-out: delivery p99", "fanout", "p99_us", us, "lower");
// The WebSocket ceiling (bench/ws_ceiling_server.cpp: the same workloads answered by a server
// with no actor runtime): its figure, its ratio to the reference (the most any server could
// reach here), the target as a figure and whether it lies above what this machine can do at all;
// then ours as a share of the ceiling.
for (const [label, ceilingName, oursName, metric, times] of [
	["ws_1conn_64inflight", "WebSocket ceiling server (no actors), 1 conn, 64 in flight: actions/s", "WebSocket actions, 1 conn, 64 in flight", "ops_per_s", 20],
	["ws_100conns_100actors", "WebSocket ceiling server (no actors), 100 conns × 1 in flight: actions/s", "WebSocket actions, 100 conns on 100 actors", "ops_per_s", 20],
	["fanout", "WebSocket ceiling server (no actors), fan-out to 1000 conns: events/s", "Broadcast fan-out", "events_per_s", 10],
]) {
	const c = results.ours[`ceiling_${label}`]?.[metric];
	if (c === undefined) continue;
	const r = results.reference[label]?.[metric];
	const target = r === undefined ? undefined : times * r;
	const where = target === undefined ? "(reference not measured)" : target > c ? "above the ceiling ❌" : "within the ceiling ✅";
	rows.push([
		`${ceilingName}${errors(`ceiling_${label}`)}`,
		num(c),
		"",
		ratioText(r ? c / r : undefined),
		`${times}× the reference${target === undefined ? "" : ` = ${num(target)}`}: ${where}`,
	]);
	const o = results.ours[label]?.[metric];
	rows.push([`${oursName}: ours as a share of the ceiling`, o === undefined ? "–" : `${num((o / c) * 100, 0)} %`, "", "", ""]);
}
row(`Actor creation + first action, 32 in flight: actors/s${errors("create")}`, "create", "ops_per_s", num, "higher");
row("Actor creation + first action, 32 in flight: p50", "create", "p50_us", us, "lower");
row(`Actor creation + first action, one at a time: p50${errors("create_latency")}`, "create_latency", "p50_us", us, "lower", {
	text: "≤ 1 ms",
	met: (o) => (o === undefined ? undefined : o <= 1000),
});
row("Actor creation + first action, one at a time: p99", "create_latency", "p99_us", us, "lower");
row("Resident memory per idle actor", "create", "rss_per_actor_bytes", (v) => (v === undefined ? "–" : `${num(v)} B`), "lower", {
	text: "≤ 1 KiB",
	met: (o) => (o === undefined ? undefined : o <= 1024),
});
row(`Wake a sleeping actor: p50${errors("wake")}`, "wake", "p50_us", us, "lower");
row("Wake a sleeping actor: p99", "wake", "p99_us", us, "lower");

const durable = results.ours["durability:durable"]?.ops_per_s;
const relaxed = results.ours["durability:relaxed"]?.ops_per_s;
const fsync = results.ours["durability:fsync"]?.ops_per_s;
if (durable !== undefined) {
	rows.push(["Increments on 100 actors, durable mode (default): actions/s", num(durable), "", "", ""]);
	rows.push(["Increments on 100 actors, fsync mode: actions/s", num(fsync), "", "", ""]);
	rows.push(["Increments on 100 actors, relaxed mode: actions/s", num(relaxed), "", "", ""]);
	const share = relaxed ? durable / relaxed : undefined;
	rows.push([
		"Durable mode as a share of relaxed mode",
		share === undefined ? "–" : `${num(share * 100, 0)} %`,
		"",
		"",
		`≥ 50 % ${share === undefined ? "(not measured)" : share >= 0.5 ? "✅" : "❌"}`,
	]);
}
const t1 = results.ours.inprocess_1threads?.ops_per_s;
const t2 = results.ours.inprocess_2threads?.ops_per_s;
if (t1 !== undefined) {
	rows.push(["In-process actions on 100 actors, 1 io thread: actions/s", num(t1), "", "", ""]);
	rows.push(["In-process actions on 100 actors, 2 io threads (an io_context each, callers next to their actors): actions/s", num(t2), "", "", ""]);
	const speedup = t2 && t1 ? t2 / t1 : undefined;
	rows.push([
		"2 io threads over 1",
		speedup === undefined ? "–" : `${num(speedup, 2)}×`,
		"",
		"",
		`≥ 1.7× ${speedup === undefined ? "(not measured)" : speedup >= 1.7 ? "✅" : "❌"}`,
	]);
	for (const [label, what] of [
		["2threads_anywhere", "an io_context each, callers calling every actor"],
		["2threads_shared", "one shared io_context, callers calling every actor"],
	]) {
		const t = results.ours[`inprocess_${label}`]?.ops_per_s;
		if (t === undefined) continue;
		rows.push([`In-process actions on 100 actors, 2 io threads (${what}): actions/s`, num(t), "", "", ""]);
		rows.push([`2 io threads (${what}) over 1`, t1 ? `${num(t / t1, 2)}×` : "–", "", "", ""]);
	}
}
for (const work of [0, 1000]) {
	const c1 = results.ours[`inprocess_ceiling_${work}ns_1threads`]?.ops_per_s;
	const c2 = results.ours[`inprocess_ceiling_${work}ns_2threads`]?.ops_per_s;
	if (c1 === undefined || c2 === undefined) continue;
	const what = work === 0 ? "no work" : `${num(work / 1000, 0)} µs of busy work per call`;
	rows.push([`In-process ceiling (strand calls, no runtime, ${what}), 1 io thread: calls/s`, num(c1), "", "", ""]);
	rows.push([`In-process ceiling (strand calls, no runtime, ${what}), 2 io threads: calls/s`, num(c2), "", "", ""]);
	rows.push([`In-process ceiling, ${what}: 2 io threads over 1`, `${num(c2 / c1, 2)}×`, "", "", ""]);
	const local = results.ours[`inprocess_ceiling_${work}ns_2threads_local`]?.ops_per_s;
	if (local === undefined) continue;
	rows.push([`In-process ceiling (${what}), 2 io threads with an io_context each, callers next to their actors: calls/s`, num(local), "", "", ""]);
	rows.push([`In-process ceiling, ${what}, io_context per thread: 2 io threads over 1`, `${num(local / c1, 2)}×`, "", "", ""]);
}
for (const when of ["before", "after"]) {
	const rt = results.ours[`core_latency_${when}`]?.round_trip_ns;
	if (rt !== undefined) rows.push([`Cache-line round trip between the two CPUs, ${when} the in-process group`, `${num(rt, 0)} ns`, "", "", ""]);
}

const out = [];
if (opt("--machine")) out.push(`Machine: ${opt("--machine")}`);
if (opt("--commit")) out.push(`Commit: ${opt("--commit")}`);
out.push(`Date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`, "");
out.push("| figure | ours | reference | ratio | target |", "| --- | --- | --- | --- | --- |");
for (const r of rows) out.push(`| ${r.join(" | ")} |`);
console.log(out.join("\n"));
