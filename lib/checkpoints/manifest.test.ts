import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { verifyCheckpoint } from "./manifest.ts";

// The same cases as engine/tests/test_manifest.py: both verifiers agree.
const CASES = JSON.parse(readFileSync(join(import.meta.dir, "../../test/fixtures/manifest/cases.json"), "utf8"));

function writeFixture(root: string): void {
  for (const [rel, text] of Object.entries(CASES.files as Record<string, string>)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
}

describe("checkpoint manifest (shared fixture)", () => {
  for (const c of CASES.cases) {
    test(c.name, () => {
      const dir = mkdtempSync(join(tmpdir(), "qc-manifest-"));
      try {
        writeFixture(dir);
        if (c.write) writeFileSync(join(dir, c.write[0]), c.write[1]);
        if (c.remove) rmSync(join(dir, c.remove));
        const call = () => verifyCheckpoint({ dir, info: { files: CASES.manifest, ...(c.info ?? {}) }, hashes: c.hashes, skipPrefixes: c.skip });
        if (c.error) expect(call).toThrow(c.error);
        else expect(call()).toBe(c.result);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
  test("no manifest (older checkpoint): accepted unchecked", () => {
    expect(verifyCheckpoint({ dir: "/nonexistent", info: {}, hashes: true })).toBe("none");
  });
});
