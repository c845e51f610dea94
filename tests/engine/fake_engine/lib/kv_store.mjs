// Per-actor KV as the engine's actor-kv crate behaves at v2.0.33: an ordered map of raw byte
// keys (ordering = lexicographic on the bytes), the same limits and the same error texts (they
// reach the runner verbatim in KvErrorResponse). The engine stores keys FoundationDB-tuple-encoded;
// "key size" is counted as its tuple length, len + 2.

export const KV_LIMITS = Object.freeze({
	maxKeys: 128,
	maxKeySize: 2048, // tuple length: key bytes + 2
	maxValueSize: 128 * 1024,
	maxPutPayloadSize: 976 * 1024,
	maxStorageSize: 1024 * 1024 * 1024,
	defaultListLimit: 16384,
});

// What the engine writes into KvMetadata.version: its crate version string.
export const KV_VERSION = Buffer.from("2.0.33");

export class KvError extends Error {}

const tupleLen = (key) => key.length + 2;

function toBuffer(x) {
	if (Buffer.isBuffer(x)) return x;
	if (x instanceof ArrayBuffer) return Buffer.from(new Uint8Array(x));
	if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
	if (typeof x === "string") return Buffer.from(x);
	throw new TypeError("expected bytes");
}

function validateKeys(keys) {
	if (keys.length > KV_LIMITS.maxKeys) throw new KvError("a maximum of 128 keys is allowed");
	for (const k of keys) {
		if (tupleLen(k) > KV_LIMITS.maxKeySize) throw new KvError("key is too long (max 2048 bytes)");
	}
}

export class KvStore {
	/** Sorted by key: { key: Buffer, value: Buffer, updateTs: number } */
	#entries = [];
	#size = 0;

	// Index of the first entry whose key is >= key.
	#lowerBound(key) {
		let lo = 0;
		let hi = this.#entries.length;
		while (lo < hi) {
			const mid = (lo + hi) >> 1;
			if (Buffer.compare(this.#entries[mid].key, key) < 0) lo = mid + 1;
			else hi = mid;
		}
		return lo;
	}

	#find(key) {
		const i = this.#lowerBound(key);
		return i < this.#entries.length && this.#entries[i].key.equals(key) ? i : -1;
	}

	/** Existing keys only, in request order (missing keys are absent from the answer). */
	get(rawKeys) {
		const keys = rawKeys.map(toBuffer);
		validateKeys(keys);
		const out = [];
		for (const key of keys) {
			const i = this.#find(key);
			if (i >= 0) out.push(this.#entries[i]);
		}
		return out;
	}

	/**
	 * query: { tag: "KvListAllQuery" } | { tag: "KvListPrefixQuery", val: { key } }
	 *      | { tag: "KvListRangeQuery", val: { start, end, exclusive } }
	 */
	list(query, reverse = false, limit = null) {
		const max = limit == null ? KV_LIMITS.defaultListLimit : Number(limit);
		let match;
		switch (query.tag) {
			case "KvListAllQuery":
				match = () => true;
				break;
			case "KvListPrefixQuery": {
				const prefix = toBuffer(query.val.key);
				if (tupleLen(prefix) > KV_LIMITS.maxKeySize) throw new KvError("prefix key is too long (max 2048 bytes)");
				match = (k) => k.length >= prefix.length && k.subarray(0, prefix.length).equals(prefix);
				break;
			}
			case "KvListRangeQuery": {
				const start = toBuffer(query.val.start);
				const end = toBuffer(query.val.end);
				if (tupleLen(start) > KV_LIMITS.maxKeySize) throw new KvError("start key is too long (max 2048 bytes)");
				if (tupleLen(end) > KV_LIMITS.maxKeySize) throw new KvError("end key is too long (max 2048 bytes)");
				const exclusive = !!query.val.exclusive;
				match = (k) => Buffer.compare(k, start) >= 0 && (exclusive ? Buffer.compare(k, end) < 0 : Buffer.compare(k, end) <= 0);
				break;
			}
			default:
				throw new KvError(`unknown list query ${query.tag}`);
		}
		const ordered = reverse ? [...this.#entries].reverse() : this.#entries;
		const out = [];
		for (const e of ordered) {
			if (out.length >= max) break;
			if (match(e.key)) out.push(e);
		}
		return out;
	}

	put(rawKeys, rawValues, now = Date.now()) {
		const keys = rawKeys.map(toBuffer);
		const values = rawValues.map(toBuffer);
		if (keys.length !== values.length) throw new KvError("Keys list length != values list length");
		if (keys.length > KV_LIMITS.maxKeys) throw new KvError("A maximum of 128 key-value entries is allowed");
		const payload = keys.reduce((a, k) => a + tupleLen(k), 0) + values.reduce((a, v) => a + v.length, 0);
		if (payload > KV_LIMITS.maxPutPayloadSize) throw new KvError("total payload is too large (max 976 KiB)");
		const remaining = Math.max(0, KV_LIMITS.maxStorageSize - this.#size);
		if (payload > remaining) {
			throw new KvError(
				`not enough space left in storage (${remaining} bytes remaining, current payload is ${payload} bytes)`,
			);
		}
		for (const k of keys) if (tupleLen(k) > KV_LIMITS.maxKeySize) throw new KvError("key is too long (max 2048 bytes)");
		for (const v of values) if (v.length > KV_LIMITS.maxValueSize) throw new KvError("value is too large (max 128 KiB)");
		keys.forEach((key, n) => {
			const value = Buffer.from(values[n]);
			const i = this.#lowerBound(key);
			if (i < this.#entries.length && this.#entries[i].key.equals(key)) {
				this.#size += value.length - this.#entries[i].value.length;
				this.#entries[i] = { key: this.#entries[i].key, value, updateTs: now };
			} else {
				this.#entries.splice(i, 0, { key: Buffer.from(key), value, updateTs: now });
				this.#size += tupleLen(key) + value.length;
			}
		});
	}

	delete(rawKeys) {
		const keys = rawKeys.map(toBuffer);
		validateKeys(keys);
		for (const key of keys) {
			const i = this.#find(key);
			if (i >= 0) {
				this.#size -= tupleLen(key) + this.#entries[i].value.length;
				this.#entries.splice(i, 1);
			}
		}
	}

	drop() {
		this.#entries = [];
		this.#size = 0;
	}

	/** Approximate stored bytes (Σ key+2 + value), what the storage limit is checked against. */
	get size() {
		return this.#size;
	}

	get count() {
		return this.#entries.length;
	}

	/** A copy of every entry, in key order. */
	entries() {
		return this.#entries.map((e) => ({ key: Buffer.from(e.key), value: Buffer.from(e.value), updateTs: e.updateTs }));
	}
}
