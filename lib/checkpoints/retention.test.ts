import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import {
  applyRetention,
  defaultPolicy,
  metricOf,
  nodeRetentionFs,
  parsePolicy,
  planRetention,
  recordedBestPaths,
  type RetentionFs,
} from "./retention.ts";
import { lockCheckpoint } from "./lock.ts";
import { fakeInfo, makeRun, writeCheckpoint, type FakeCheckpoint } from "./test_fixtures.ts";

const acc = (step: number, accuracy: number, more: Partial<FakeCheckpoint> = {}): FakeCheckpoint => ({
  step,
  metrics: { accuracy, loss: 1 - accuracy },
  ...more,
});

function actions(plan: { rows: { step: number; action: string }[] }): Record<number, string> {
  return Object.fromEntries(plan.rows.map((r) => [r.step, r.action]));
}

describe("parsePolicy", () => {
  test.each([
    ["all", "all"],
    ["last:3", "last:3"],
    ["best:2", "best:2"],
    ["top:4:macro_f1", "top:4:macro_f1"],
    [" best:1 + last:2 ", "best:1+last:2"],
  ])("%p parses to %p", (text, canonical) => {
    expect(parsePolicy(text).text).toBe(canonical);
  });
  test.each(["", "last", "last:0", "best:-1", "top:2", "top:0:acc", "keep:3", "all+lats:2"])("%p is refused, naming the term", (text) => {
    expect(() => parsePolicy(text, "--keep")).toThrow(UserError);
    try {
      parsePolicy(text, "--keep");
    } catch (e) {
      expect((e as Error).message).toContain("--keep");
    }
  });
});

describe("defaultPolicy", () => {
  test.each([
    [{ training: { checkpoint: { retention: "top:3:loss" }, save_all_checkpoints: true } }, "top:3:loss"],
    [{ training: { save_all_checkpoints: true, save_total_limit: 2 } }, "all"],
    [{ training: { save_total_limit: 3 } }, "best:1+last:3"],
    [{ training: { save_total_limit: 3, best_model_tracking: { save_best_only: true } } }, "best:1"],
    [{ training: { save_total_limit: 2, best_model_tracking: { enabled: false } } }, "last:2"],
    [{ training: { checkpoint: { retention: "" }, save_total_limit: 1 } }, "best:1+last:1"],
    // the no-eval contract: an explicit limit never prunes during a skip_evaluation run
    [{ training: { skip_evaluation: true, save_all_checkpoints: true, checkpoint: { retention: "last:2" } } }, "all"],
    [{ training: { skip_evaluation: true, checkpoint: { retention: "best:1+last:1" } } }, "all"],
  ])("%j -> %p", (config, expected) => {
    expect(defaultPolicy(config)).toBe(expected);
    expect(() => parsePolicy(defaultPolicy(config))).not.toThrow();
  });
});

describe("metricOf: which record wins", () => {
  test("newest full eval beats partial, which beats training_info", () => {
    const c = fakeInfo({
      step: 10,
      metrics: { accuracy: 0.1 },
      evals: [
        ["partial", { accuracy: 0.2 }, "2026-01-03T00:00:00Z"],
        ["full", { accuracy: 0.3 }, "2026-01-01T00:00:00Z"],
        ["full", { accuracy: 0.4 }, "2026-01-02T00:00:00Z"],
      ],
    });
    expect(metricOf(c, "accuracy")).toEqual({ name: "accuracy", value: 0.4, source: "full eval" });
  });
  test("partial eval beats training_info; training_info eval_metrics, then top-level fields", () => {
    expect(metricOf(fakeInfo({ step: 1, metrics: { accuracy: 0.1 }, evals: [["partial", { accuracy: 0.2 }, "x"]] }), "accuracy")?.value).toBe(0.2);
    expect(metricOf(fakeInfo({ step: 1, metrics: { accuracy: 0.1 } }), "accuracy")?.source).toBe("training_info eval");
    expect(metricOf(fakeInfo({ step: 4 }), "train_loss")?.value).toBe(0.25);
    expect(metricOf(fakeInfo({ step: 4 }), "macro_f1")).toBeNull();
  });
});

describe("planRetention policies (table)", () => {
  // accuracy: 100:.5  200:.9  300:.7  400:.8  500:.6 (newest)
  const run = [acc(100, 0.5), acc(200, 0.9), acc(300, 0.7), acc(400, 0.8), acc(500, 0.6)].map((c) => fakeInfo(c));
  test.each([
    ["all", { 100: "keep", 200: "keep", 300: "keep", 400: "keep", 500: "keep" }],
    ["last:2", { 100: "delete", 200: "delete", 300: "delete", 400: "keep", 500: "keep" }],
    ["last:1", { 100: "delete", 200: "delete", 300: "delete", 400: "delete", 500: "keep" }],
    ["best:1", { 100: "delete", 200: "keep", 300: "delete", 400: "delete", 500: "keep" }],
    ["best:2", { 100: "delete", 200: "keep", 300: "delete", 400: "keep", 500: "keep" }],
    ["top:2:loss", { 100: "delete", 200: "keep", 300: "delete", 400: "keep", 500: "keep" }],
    ["top:1:train_loss", { 100: "delete", 200: "delete", 300: "delete", 400: "delete", 500: "keep" }],
    ["best:1+last:2", { 100: "delete", 200: "keep", 300: "delete", 400: "keep", 500: "keep" }],
    ["best:10", { 100: "keep", 200: "keep", 300: "keep", 400: "keep", 500: "keep" }],
  ])("%p", (policy, expected) => {
    const plan = planRetention({ checkpoints: run, policy });
    expect(actions(plan)).toEqual(expected);
    expect(plan.warnings).toEqual([]);
  });

  test("best:N follows greater_is_better=false for a loss metric", () => {
    const plan = planRetention({ checkpoints: run, policy: "best:1", trackedMetric: { name: "loss", greaterIsBetter: false } });
    expect(actions(plan)).toEqual({ 100: "delete", 200: "keep", 300: "delete", 400: "delete", 500: "keep" });
    const inverted = planRetention({ checkpoints: run, policy: "best:1", trackedMetric: { name: "loss", greaterIsBetter: true } });
    expect(actions(inverted)[100]).toBe("keep");
  });

  test("best:N uses training_info.metric_name when no tracked metric is given", () => {
    const ck = [acc(1, 0.9, { metricName: "macro_f1", metrics: { accuracy: 0.9, macro_f1: 0.1 } }), acc(2, 0.1, { metricName: "macro_f1", metrics: { accuracy: 0.1, macro_f1: 0.8 } }), acc(3, 0.5, { metricName: "macro_f1", metrics: { accuracy: 0.5, macro_f1: 0.2 } })].map((c) => fakeInfo(c));
    expect(actions(planRetention({ checkpoints: ck, policy: "best:1" }))).toEqual({ 1: "delete", 2: "keep", 3: "keep" });
  });

  test("a full evaluation afterwards outranks the partial one recorded during training", () => {
    const ck = [
      fakeInfo(acc(100, 0.9, { evals: [["full", { accuracy: 0.6 }, "2026-01-01T00:00:00Z"]] })),
      fakeInfo(acc(200, 0.7)),
      fakeInfo(acc(300, 0.1)),
    ];
    const plan = planRetention({ checkpoints: ck, policy: "best:1" });
    expect(actions(plan)).toEqual({ 100: "delete", 200: "keep", 300: "keep" });
    expect(plan.rows[0].metric?.source).toBe("full eval");
  });

  test("every row carries its reasons; deleted rows report the bytes of training_info", () => {
    const plan = planRetention({ checkpoints: run, policy: "best:1" });
    const r100 = plan.rows.find((r) => r.step === 100)!;
    expect(r100.reason).toContain("not in best:1");
    expect(r100.bytes).toBe(0); // fabricated total is 0
    expect(plan.rows.find((r) => r.step === 200)!.reason).toContain("#1 by accuracy");
    expect(plan.rows.find((r) => r.step === 500)!.reason).toContain("newest");
  });

  test("no checkpoint has the metric: metric terms delete nothing and warn", () => {
    const ck = [1, 2, 3].map((step) => fakeInfo({ step, metricName: null }));
    const plan = planRetention({ checkpoints: ck, policy: "best:1" });
    expect(actions(plan)).toEqual({ 1: "keep", 2: "keep", 3: "keep" });
    expect(plan.warnings[0]).toContain("no checkpoint has 'accuracy'");
    const top = planRetention({ checkpoints: ck, policy: "top:1:macro_f1+last:1" });
    expect(actions(top)).toEqual({ 1: "keep", 2: "keep", 3: "keep" });
  });

  test("checkpoints without the metric are dropped when others have it", () => {
    const ck = [fakeInfo(acc(1, 0.9)), fakeInfo({ step: 2 }), fakeInfo(acc(3, 0.1)), fakeInfo({ step: 4 })];
    const plan = planRetention({ checkpoints: ck, policy: "best:1" });
    expect(actions(plan)).toEqual({ 1: "keep", 2: "delete", 3: "delete", 4: "keep" });
    expect(plan.rows[1].reason).toContain("no 'accuracy' recorded");
  });
});

describe("planRetention safety rules", () => {
  test("a folder without training_info.json is skipped (never touched), not counted as newest", () => {
    const ck = [fakeInfo(acc(1, 0.1)), fakeInfo(acc(2, 0.2)), fakeInfo({ step: 3, complete: false })];
    const plan = planRetention({ checkpoints: ck, policy: "last:1" });
    expect(actions(plan)).toEqual({ 1: "delete", 2: "keep", 3: "skip" });
    expect(plan.rows[2].reason).toContain("never touched");
  });
  test("the newest complete checkpoint is kept whatever the policy says", () => {
    const ck = [acc(1, 0.9), acc(2, 0.8), acc(3, 0.1)].map((c) => fakeInfo(c));
    const plan = planRetention({ checkpoints: ck, policy: "top:1:accuracy" });
    expect(actions(plan)).toEqual({ 1: "keep", 2: "delete", 3: "keep" });
    expect(plan.rows[2].reason).toContain("newest complete checkpoint");
  });
  test("the tracked best (bestPath) is kept even when the policy would drop it", () => {
    const ck = [acc(1, 0.1), acc(2, 0.2), acc(3, 0.3)].map((c) => fakeInfo(c));
    const plan = planRetention({ checkpoints: ck, policy: "last:1", bestPath: "/somewhere/else/checkpoint-1/" });
    expect(actions(plan)).toEqual({ 1: "keep", 2: "delete", 3: "keep" });
    expect(plan.rows[0].reason).toContain("tracked best");
  });
  test("the tracked best (newest is_best in training_info) is kept", () => {
    const ck = [acc(1, 0.1, { isBest: true }), acc(2, 0.2, { isBest: true }), acc(3, 0.3), acc(4, 0.4)].map((c) => fakeInfo(c));
    const plan = planRetention({ checkpoints: ck, policy: "last:1" });
    expect(actions(plan)).toEqual({ 1: "delete", 2: "keep", 3: "delete", 4: "keep" });
  });
});

describe("planRetention slimming (keep_optimizer_states)", () => {
  test("deepspeed/ stays in the newest N; older kept ones are slimmed; deleted ones are deleted", () => {
    const ck = [acc(1, 0.9), acc(2, 0.1), acc(3, 0.2), acc(4, 0.3)].map((c) => fakeInfo(c));
    const plan = planRetention({ checkpoints: ck, policy: "best:1+last:3", slimKeep: 2 });
    expect(actions(plan)).toEqual({ 1: "slim", 2: "slim", 3: "keep", 4: "keep" });
    expect(plan.rows[0].bytes).toBe(3000);
  });
  test("a checkpoint without hf_model/ is never slimmed (kept whole, with the reason)", () => {
    const ck = [fakeInfo(acc(1, 0.1, { hfModel: false })), fakeInfo(acc(2, 0.2))];
    const plan = planRetention({ checkpoints: ck, policy: "all", slimKeep: 1 });
    expect(actions(plan)).toEqual({ 1: "keep", 2: "keep" });
    expect(plan.rows[0].reason).toContain("no hf_model/");
  });
  test("already slim checkpoints are kept as they are", () => {
    const ck = [fakeInfo(acc(1, 0.1, { slim: true })), fakeInfo(acc(2, 0.2)), fakeInfo(acc(3, 0.3))];
    expect(actions(planRetention({ checkpoints: ck, policy: "all", slimKeep: 1 }))).toEqual({ 1: "keep", 2: "slim", 3: "keep" });
  });
});

// ---------------------------------------------------------------------------------------------

describe("applyRetention on real folders", () => {
  test("deletes and slims, logs each decision with bytes freed, returns measured bytes", () => {
    const out = makeRun([acc(100, 0.5), acc(200, 0.9), acc(300, 0.7), acc(400, 0.8)]);
    const lines: string[] = [];
    const res = applyRetention({ outputDir: out, policy: "best:1+last:2", slimKeep: 1, log: (l) => lines.push(l) });
    expect(res.rows.map((r) => [r.step, r.action, r.done])).toEqual([
      [100, "delete", true], [200, "slim", true], [300, "slim", true], [400, "keep", true],
    ]);
    expect(existsSync(join(out, "checkpoint-100"))).toBe(false);
    expect(readdirSync(out).filter((n) => n.includes("deleting"))).toEqual([]);
    expect(existsSync(join(out, "checkpoint-200", "deepspeed"))).toBe(false);
    expect(existsSync(join(out, "checkpoint-200", "hf_model", "model.safetensors"))).toBe(true);
    expect(existsSync(join(out, "checkpoint-400", "deepspeed"))).toBe(true);
    const info200 = JSON.parse(readFileSync(join(out, "checkpoint-200", "training_info.json"), "utf8"));
    expect([info200.slim, info200.has_deepspeed_state, info200.bytes.deepspeed]).toEqual([true, false, 0]);
    const deleted = res.rows[0];
    expect(deleted.freedBytes).toBeGreaterThan(4000); // 3000 + 1000 + metadata
    expect(res.rows[1].freedBytes).toBeGreaterThanOrEqual(3000);
    expect(res.freedBytes).toBe(res.rows.reduce((n, r) => n + r.freedBytes, 0));
    expect(lines.some((l) => l.startsWith("checkpoint-100: delete") && /freed \d/.test(l))).toBe(true);
    expect(lines.filter((l) => l.startsWith("checkpoint-")).length).toBe(4);
  });

  test("dry run changes nothing but reports what would be freed", () => {
    const out = makeRun([acc(1, 0.5), acc(2, 0.9), acc(3, 0.7)]);
    const before = JSON.stringify(readdirSync(out, { recursive: true }).sort());
    const res = applyRetention({ outputDir: out, policy: "last:1", slimKeep: 1, dryRun: true });
    expect(JSON.stringify(readdirSync(out, { recursive: true }).sort())).toBe(before);
    expect(res.rows.map((r) => r.action)).toEqual(["delete", "delete", "keep"]);
    expect(res.freedBytes).toBeGreaterThan(8000);
    expect(res.rows.every((r) => !r.done)).toBe(true);
  });

  test("reads the tracked best from best_checkpoint.json and the end event", () => {
    const out = makeRun([acc(1, 0.1), acc(2, 0.2), acc(3, 0.3), acc(4, 0.4)]);
    writeFileSync(join(out, "best_checkpoint.json"), JSON.stringify({ path: join(out, "checkpoint-1"), step: 1 }));
    mkdirSync(join(out, "logs"));
    writeFileSync(join(out, "logs", "events.jsonl"), [{ event: "start" }, { event: "end", status: "completed", best_checkpoint: join(out, "checkpoint-2") }].map((e) => JSON.stringify(e)).join("\n") + "\n");
    expect(recordedBestPaths(out).sort()).toEqual([join(out, "checkpoint-1"), join(out, "checkpoint-2")]);
    const res = applyRetention({ outputDir: out, policy: "last:1" });
    expect(res.rows.map((r) => r.action)).toEqual(["keep", "keep", "delete", "keep"]);
    expect(existsSync(join(out, "checkpoint-1"))).toBe(true);
  });

  test("greater_is_better comes from resolved_config.json", () => {
    const out = makeRun([acc(1, 0.9), acc(2, 0.1), acc(3, 0.5)], { training: { best_model_tracking: { metric: "loss", greater_is_better: false } } });
    const res = applyRetention({ outputDir: out, policy: "best:1" });
    // loss = 1 - accuracy: checkpoint-1 has the lowest loss
    expect(res.rows.map((r) => r.action)).toEqual(["keep", "delete", "keep"]);
  });

  test("safety: a folder without training_info.json is never touched, even with last:1", () => {
    const out = makeRun([acc(1, 0.1), acc(2, 0.2), { step: 3, complete: false }]);
    const res = applyRetention({ outputDir: out, policy: "last:1", slimKeep: 1 });
    expect(res.rows.map((r) => [r.step, r.action])).toEqual([[1, "delete"], [2, "keep"], [3, "skip"]]);
    expect(existsSync(join(out, "checkpoint-3", "deepspeed", "latest"))).toBe(true);
    expect(existsSync(join(out, "checkpoint-2", "deepspeed"))).toBe(true); // newest complete keeps its state
  });

  test("safety: a checkpoint-N symlink to a folder outside output_dir is neither followed nor deleted", () => {
    const outside = mkdtempSync(join(tmpdir(), "qc-outside-"));
    const target = writeCheckpoint(outside, acc(1, 0.1));
    const out = makeRun([acc(2, 0.2), acc(3, 0.3)]);
    symlinkSync(target, join(out, "checkpoint-1"));
    const res = applyRetention({ outputDir: out, policy: "last:1" });
    expect(res.rows.map((r) => [r.step, r.action])).toEqual([[1, "skip"], [2, "delete"], [3, "keep"]]);
    expect(res.rows[0].reason).toContain("symlink");
    expect(existsSync(join(target, "training_info.json"))).toBe(true);
    expect(existsSync(join(target, "deepspeed", "latest"))).toBe(true);
  });

  test("safety: symlinks inside a deleted/slimmed checkpoint are removed, never deleted through", () => {
    const outside = mkdtempSync(join(tmpdir(), "qc-outside-"));
    writeFileSync(join(outside, "precious.bin"), "keep me");
    mkdirSync(join(outside, "dsdir"));
    writeFileSync(join(outside, "dsdir", "state.pt"), "keep me too");
    const out = makeRun([acc(1, 0.1), acc(2, 0.2), acc(3, 0.3)]);
    symlinkSync(outside, join(out, "checkpoint-1", "hf_model", "linked_dir"));
    symlinkSync(join(outside, "precious.bin"), join(out, "checkpoint-1", "precious.bin"));
    // checkpoint-2's deepspeed/ is itself a symlink that leaves output_dir
    const { rmSync } = require("node:fs");
    rmSync(join(out, "checkpoint-2", "deepspeed"), { recursive: true });
    symlinkSync(join(outside, "dsdir"), join(out, "checkpoint-2", "deepspeed"));
    const res = applyRetention({ outputDir: out, policy: "top:1:accuracy+last:2", slimKeep: 1 });
    expect(res.rows.map((r) => [r.step, r.action])).toEqual([[1, "delete"], [2, "slim"], [3, "keep"]]);
    expect(existsSync(join(out, "checkpoint-1"))).toBe(false);
    expect(existsSync(join(out, "checkpoint-2", "deepspeed"))).toBe(false);
    expect(readFileSync(join(outside, "precious.bin"), "utf8")).toBe("keep me");
    expect(readFileSync(join(outside, "dsdir", "state.pt"), "utf8")).toBe("keep me too");
  });

  test("safety: every path removed or renamed lies strictly inside output_dir", () => {
    const out = makeRun([acc(1, 0.1), acc(2, 0.9), acc(3, 0.3), acc(4, 0.4)]);
    const touched: string[] = [];
    const recorder: RetentionFs = {
      ...nodeRetentionFs,
      rm: (p) => (touched.push(p), nodeRetentionFs.rm(p)),
      rename: (a, b) => (touched.push(a, b), nodeRetentionFs.rename(a, b)),
      writeFileAtomic: (p, d) => (touched.push(p), nodeRetentionFs.writeFileAtomic(p, d)),
    };
    applyRetention({ outputDir: out, policy: "best:1", slimKeep: 1, fs: recorder });
    expect(touched.length).toBeGreaterThan(4);
    for (const p of touched) expect(p.startsWith(out + "/")).toBe(true);
  });

  test("a failed delete is reported per row, leaves the checkpoint, and the rest still applies", () => {
    const out = makeRun([acc(1, 0.1), acc(2, 0.2), acc(3, 0.3)]);
    const flaky: RetentionFs = {
      ...nodeRetentionFs,
      rename: (a, b) => {
        if (a.endsWith("checkpoint-1")) throw new Error("EACCES: permission denied");
        nodeRetentionFs.rename(a, b);
      },
    };
    const res = applyRetention({ outputDir: out, policy: "last:1", fs: flaky });
    expect(res.failed).toBe(1);
    expect(res.rows[0].error).toContain("EACCES");
    expect(existsSync(join(out, "checkpoint-1", "training_info.json"))).toBe(true);
    expect(existsSync(join(out, "checkpoint-2"))).toBe(false);
    expect(res.freedBytes).toBe(res.rows[1].freedBytes);
  });

  test("leftovers of an interrupted deletion are finished on the next run", () => {
    const out = makeRun([acc(1, 0.1)]);
    mkdirSync(join(out, ".checkpoint-7.deleting-123", "deepspeed"), { recursive: true });
    const lines: string[] = [];
    applyRetention({ outputDir: out, policy: "all", log: (l) => lines.push(l) });
    expect(existsSync(join(out, ".checkpoint-7.deleting-123"))).toBe(false);
    expect(lines.some((l) => l.includes("leftover"))).toBe(true);
  });

  test("a bad policy is a UserError before anything is touched", () => {
    const out = makeRun([acc(1, 0.1), acc(2, 0.2)]);
    expect(() => applyRetention({ outputDir: out, policy: "last:zero" })).toThrow(UserError);
    expect(existsSync(join(out, "checkpoint-1"))).toBe(true);
  });
});

test("applyRetention protects the caller's bestPath AND the recorded best_checkpoint.json", () => {
  const out = makeRun([acc(1, 0.1), acc(2, 0.2), acc(3, 0.3), acc(4, 0.4)]);
  writeFileSync(join(out, "best_checkpoint.json"), JSON.stringify({ path: join(out, "checkpoint-1"), step: 1 }));
  const res = applyRetention({ outputDir: out, policy: "last:1", bestPath: join(out, "checkpoint-2") });
  expect(res.rows.map((r) => r.action)).toEqual(["keep", "keep", "delete", "keep"]);
});

describe("applyRetention and checkpoint in-use locks (lib/checkpoints/lock.ts)", () => {
  test("a checkpoint an export or push is reading is neither deleted nor slimmed; stale locks are cleared", () => {
    const out = makeRun([acc(100, 0.5), acc(200, 0.9), acc(300, 0.7), acc(400, 0.8)]);
    const releasePush = lockCheckpoint({ checkpoint: join(out, "checkpoint-100"), purpose: "push" });
    const releaseExport = lockCheckpoint({ checkpoint: join(out, "checkpoint-200"), purpose: "export" });
    // a lock left by a process that is gone (pid 999999 is judged dead by the injected liveness)
    writeFileSync(join(out, "checkpoint-300", ".in-use.evaluate.999999"), JSON.stringify({ pid: 999999, host: hostname(), purpose: "evaluate", started_at: "t", command: [] }));
    const locks = { isAlive: (pid: number) => pid === process.pid };
    const lines: string[] = [];
    const res = applyRetention({ outputDir: out, policy: "last:1", slimKeep: 1, log: (l) => lines.push(l), locks });
    expect(res.rows.map((r) => [r.step, r.action])).toEqual([[100, "keep"], [200, "keep"], [300, "delete"], [400, "keep"]]);
    expect(res.rows[0].reason).toContain(`in use by push (pid ${process.pid} on ${hostname()}`);
    expect(res.rows[0].reason).toContain("not deleted while it runs");
    expect(existsSync(join(out, "checkpoint-100", "deepspeed"))).toBe(true); // not slimmed either
    expect(existsSync(join(out, "checkpoint-200", "deepspeed"))).toBe(true);
    expect(existsSync(join(out, "checkpoint-300"))).toBe(false);
    expect(lines.join("\n")).toContain("checkpoint-300: removed stale lock .in-use.evaluate.999999");
    // done: the next pass applies the policy
    releasePush();
    releaseExport();
    const again = applyRetention({ outputDir: out, policy: "last:1", slimKeep: 1, locks });
    expect(again.rows.map((r) => [r.step, r.action])).toEqual([[100, "delete"], [200, "delete"], [400, "keep"]]);
  });
  test("a slim candidate in use stays whole", () => {
    const out = makeRun([acc(1, 0.5), acc(2, 0.9)]);
    const release = lockCheckpoint({ checkpoint: join(out, "checkpoint-1"), purpose: "export" });
    const res = applyRetention({ outputDir: out, policy: "all", slimKeep: 1 });
    expect(res.rows.map((r) => r.action)).toEqual(["keep", "keep"]);
    expect(res.rows[0].reason).toContain("not slimmed while it runs");
    expect(existsSync(join(out, "checkpoint-1", "deepspeed"))).toBe(true);
    release();
  });
});
