import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BEST_RECORD, BEST_RECORD_SET_ASIDE, reconcileBestRecord } from "./best.ts";

const RECORD = { path: "/runs/r/checkpoint-200", step: 200, metric: "accuracy", value: 0.91 };

describe("reconcileBestRecord", () => {
  test("tracking off: the record is set aside (the engine cannot restore it), then put back when tracking is on again", () => {
    const out = mkdtempSync(join(tmpdir(), "qc-best-"));
    writeFileSync(join(out, BEST_RECORD), JSON.stringify(RECORD));
    expect(reconcileBestRecord({ outputDir: out, trackingEnabled: false })).toContain(`set aside as ${BEST_RECORD_SET_ASIDE}`);
    expect(existsSync(join(out, BEST_RECORD))).toBe(false);
    expect(reconcileBestRecord({ outputDir: out, trackingEnabled: false })).toBeNull(); // nothing more to do
    expect(reconcileBestRecord({ outputDir: out, trackingEnabled: true })).toContain("restored");
    expect(JSON.parse(readFileSync(join(out, BEST_RECORD), "utf8"))).toEqual(RECORD);
    expect(existsSync(join(out, BEST_RECORD_SET_ASIDE))).toBe(false);
  });
  test("tracking on with its own record: nothing moves (a set-aside copy never overwrites a newer record)", () => {
    const out = mkdtempSync(join(tmpdir(), "qc-best-"));
    writeFileSync(join(out, BEST_RECORD), JSON.stringify({ ...RECORD, step: 400 }));
    writeFileSync(join(out, BEST_RECORD_SET_ASIDE), JSON.stringify(RECORD));
    expect(reconcileBestRecord({ outputDir: out, trackingEnabled: true })).toBeNull();
    expect(JSON.parse(readFileSync(join(out, BEST_RECORD), "utf8")).step).toBe(400);
  });
  test("no record: nothing to do", () => {
    expect(reconcileBestRecord({ outputDir: mkdtempSync(join(tmpdir(), "qc-best-")), trackingEnabled: false })).toBeNull();
  });
});
