// RivetKit 2.0.33 uses iterator helpers (`map.values().map(...)`, then `.find` on the result),
// which Node 22 has and Node 20 (this machine) lacks. For the RivetKit end-to-end test only:
// add the few helpers it needs to %IteratorPrototype% when they are missing.
const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));

const helpers = {
	*map(fn) {
		let i = 0;
		for (const v of this) yield fn(v, i++);
	},
	*filter(fn) {
		let i = 0;
		for (const v of this) if (fn(v, i++)) yield v;
	},
	find(fn) {
		let i = 0;
		for (const v of this) if (fn(v, i++)) return v;
		return undefined;
	},
	some(fn) {
		let i = 0;
		for (const v of this) if (fn(v, i++)) return true;
		return false;
	},
	every(fn) {
		let i = 0;
		for (const v of this) if (!fn(v, i++)) return false;
		return true;
	},
	forEach(fn) {
		let i = 0;
		for (const v of this) fn(v, i++);
	},
	toArray() {
		return [...this];
	},
};

for (const [name, fn] of Object.entries(helpers)) {
	if (typeof IteratorPrototype[name] !== "function") {
		Object.defineProperty(IteratorPrototype, name, { value: fn, writable: true, configurable: true });
	}
}
