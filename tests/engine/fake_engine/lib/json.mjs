// Converts decoded protocol values (bigint, ArrayBuffer, Map, ...) into plain JSON: bigint →
// number when it is a safe integer, else a decimal string; bytes → lowercase hex string; Map →
// object. Used for the HTTP control API's message log and state dumps.
export function toJsonValue(v) {
	if (v === null || v === undefined) return null;
	if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
	if (v instanceof ArrayBuffer) return Buffer.from(new Uint8Array(v)).toString("hex");
	if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex");
	if (v instanceof Map) {
		const o = {};
		for (const [k, x] of v) o[String(k)] = toJsonValue(x);
		return o;
	}
	if (v instanceof Set) return [...v].map(toJsonValue);
	if (Array.isArray(v)) return v.map(toJsonValue);
	if (typeof v === "object") {
		const o = {};
		for (const [k, x] of Object.entries(v)) o[k] = toJsonValue(x);
		return o;
	}
	return v;
}

export const bytesHex = (b) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString("hex");

/** An ArrayBuffer holding a copy of the given bytes (the protocol package wants ArrayBuffers). */
export function toArrayBuffer(x) {
	const u8 = x instanceof ArrayBuffer ? new Uint8Array(x) : ArrayBuffer.isView(x) ? new Uint8Array(x.buffer, x.byteOffset, x.byteLength) : Buffer.from(x);
	const ab = new ArrayBuffer(u8.byteLength);
	new Uint8Array(ab).set(u8);
	return ab;
}
