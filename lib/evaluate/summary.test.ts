import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buildEvalSummary, writeEvalSummary } from "./summary.ts";
import { rankCheckpoints, recommend, type SweepRow } from "./leaderboard.ts";
import { defaultPython } from "./engine.ts";
import { UserError } from "../util/errors.ts";
import type { SpawnEngine } from "../util/engine_process.ts";
import { checkPng } from "./test_helpers.ts";

function sweep(outputDir: string) {
  const rows: SweepRow[] = [10, 20, 30].map((step, i) => ({
    name: `checkpoint-${step}`,
    path: join(outputDir, `checkpoint-${step}`),
    step,
    metrics: { accuracy: [0.4, 0.7, 0.6][i], top5_accuracy: 1, macro_f1: 0.5, loss: 1 - i * 0.1 },
    trainLoss: 2 - i * 0.5,
    status: i === 0 ? "skipped" : "evaluated",
  }));
  const ranked = rankCheckpoints({ rows, metric: "accuracy", greaterIsBetter: true });
  return buildEvalSummary({
    outputDir, data: "/d/val.jsonl", dataSha256: "ab".repeat(32), evalKey: "full:abab", numSamples: 9,
    metric: "accuracy", greaterIsBetter: true, ranked, recommendation: recommend({ ranked, metric: "accuracy", greaterIsBetter: true }),
    now: () => new Date("2025-01-02T03:04:05Z"),
  });
}

describe("buildEvalSummary", () => {
  test("rows in step order with rank, best and train loss", () => {
    const s = sweep("/runs/r");
    expect(s.rows.map((r) => [r.step, r.rank, r.is_best, r.train_loss, r.status])).toEqual([
      [10, 3, false, 2, "skipped"],
      [20, 1, true, 1.5, "evaluated"],
      [30, 2, false, 1, "evaluated"],
    ]);
    expect(s.best).toEqual({ name: "checkpoint-20", path: "/runs/r/checkpoint-20", step: 20, value: 0.7 });
    expect(s.created_at).toBe("2025-01-02T03:04:05.000Z");
  });
});

describe("writeEvalSummary", () => {
  test("writes eval_summary.json and a real PNG plot (matplotlib)", async () => {
    const out = mkdtempSync(join(tmpdir(), "qc-summary-"));
    const files = await writeEvalSummary({ summary: sweep(out), outputDir: out, python: defaultPython() });
    expect(files.json).toBe(join(out, "eval_summary.json"));
    expect(JSON.parse(readFileSync(files.json, "utf8")).best.name).toBe("checkpoint-20");
    const { width, height } = checkPng(files.png);
    expect(width).toBe(800);
    expect(height).toBe(450);
  }, 60_000);
  test("a failing plot is reported with the re-plot command; the JSON stays", async () => {
    const out = mkdtempSync(join(tmpdir(), "qc-summary-"));
    const spawn: SpawnEngine = () => ({
      stdout: Readable.from([]),
      stderr: Readable.from(["Traceback\n", "ValueError: boom\n"]),
      exited: Promise.resolve(1),
    });
    const err = await writeEvalSummary({ summary: sweep(out), outputDir: out, python: "py", spawn }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain("failed (exit 1): Traceback | ValueError: boom");
    expect(err.hint).toContain("-m qc_engine.tools.plot_eval_summary");
    expect(existsSync(join(out, "eval_summary.json"))).toBe(true);
    expect(existsSync(join(out, "eval_summary.png"))).toBe(false);
  });
});
