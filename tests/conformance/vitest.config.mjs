// The settings of the reference's own runs of the suite (vitest.base.ts in rivet-dev/rivet):
// 10 s per test and hook, and the tests of a file run concurrently.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["*.test.mjs"],
    setupFiles: ["./setup.mjs"],
    testTimeout: 10_000,
    hookTimeout: 10_000,
    sequence: { concurrent: true },
    maxConcurrency: Number(process.env.CONFORMANCE_CONCURRENCY ?? 8),
    // One worker per driver file; the servers are separate processes anyway.
    pool: "forks",
  },
});
