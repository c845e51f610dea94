// The official driver test suite against the conformance server on the memory driver. Our
// memory driver supports sleep, so the sleep tests run here too (the reference skips them).
import { describe } from "vitest";
import { runDriverTests } from "rivetkit/driver-test-suite";
import { driverConfig } from "./harness.mjs";

describe("driver (memory)", () => {
  runDriverTests(driverConfig("memory"));
});
