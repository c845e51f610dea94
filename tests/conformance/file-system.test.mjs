// The official driver test suite against the conformance server on the file-system driver.
import { describe } from "vitest";
import { runDriverTests } from "rivetkit/driver-test-suite";
import { driverConfig } from "./harness.mjs";

describe("driver (file-system)", () => {
  runDriverTests(driverConfig("file-system"));
});
