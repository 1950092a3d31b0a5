import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { evaluateCheckpoints, type EvaluateParams } from "./evaluate.ts";
import type { SpawnEngine } from "./engine.ts";
import type { EvalEngineEvent, FullMetrics } from "./protocol.ts";
import { messageErrors } from "../util/message_schema.ts";
import type { EvalProgress } from "./progress.ts";
import { UserError } from "../util/errors.ts";

// A fabricated run: checkpoints with training_info.json, resolved_config.json, an eval JSONL.
function makeRun(steps = [10, 20, 30]): { out: string; data: string } {
  const out = mkdtempSync(join(tmpdir(), "qc-eval-orch-"));
  const data = join(out, "val.jsonl");
  writeFileSync(data, '{"image": "a.png", "label": 0}\n');
  writeFileSync(
    join(out, "resolved_config.json"),
    JSON.stringify({ config: { data: { val_jsonl: data }, training: { best_model_tracking: { metric: "accuracy", greater_is_better: true } } } }),
  );
  for (const step of steps) {
    mkdirSync(join(out, `checkpoint-${step}`));
    writeFileSync(join(out, `checkpoint-${step}`, "training_info.json"), JSON.stringify({ step, train_loss: 3 - step / 10 }));
  }
  mkdirSync(join(out, "checkpoint-40")); // incomplete: never passed to the engine
  return { out, data };
}

const metricsFor = (step: number): FullMetrics => ({
  accuracy: { 10: 0.5, 20: 0.9, 30: 0.7 }[step] ?? 0.1,
  top5_accuracy: 1,
  macro_f1: 0.5,
  loss: 1 / step,
  num_samples: 1,
  per_class: { a: { precision: 1, recall: 1, f1: 1, support: 1 } },
  confusion_matrix: [[1]],
  labels: ["a"],
});

/** A fake engine that speaks the protocol: writes --out-json and prints events. */
function fakeEngine(opts: { exitCode?: number; error?: string; stderr?: string[]; skip?: number[] } = {}) {
  const calls: string[][] = [];
  const spawn: SpawnEngine = (argv) => {
    calls.push(argv);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const ckpts = argv.slice(argv.indexOf("--checkpoints") + 1, argv.indexOf("--data"));
    const outJson = argv[argv.indexOf("--out-json") + 1];
    const data = argv[argv.indexOf("--data") + 1];
    const steps = ckpts.map((c) => Number(c.split("-").pop()));
    const lines: object[] = [];
    if (opts.error) {
      lines.push({ event: "error", time: 0, message: opts.error, exit_code: opts.exitCode ?? 2 });
    } else if (!opts.exitCode) {
      lines.push({
        event: "plan", time: 0, data, data_sha256: "f".repeat(64), eval_key: "full:ffff", num_samples: 1, num_batches: 1, batch_size: 2, world_size: 1,
        checkpoints: ckpts.map((path, i) => ({ path, step: steps[i], action: opts.skip?.includes(steps[i]) ? "skip" : "evaluate", source: "hf_model" })),
      });
      const results = ckpts.map((path, i) => ({
        path, step: steps[i], status: opts.skip?.includes(steps[i]) ? "skipped" : "evaluated", source: "hf_model", metrics: metricsFor(steps[i]),
        seconds: 1, load_seconds: 0.1, images_per_s: 10, eval_results: `${path}/eval_results.json`, predictions: `${path}/predictions.jsonl`,
      }));
      const summary = { eval_key: "full:ffff", data, data_sha256: "f".repeat(64), num_samples: 1, world_size: 1, batch_size: 2, precision: "fp32", preprocess_seconds: 0.5, total_seconds: 3, results };
      expect(messageErrors("EvaluateSummaryFile", summary)).toEqual([]);
      writeFileSync(outJson, JSON.stringify(summary));
      lines.push({ event: "summary", time: 0, ...summary });
    }
    // The fake speaks the real protocol: schema/events.schema.json.
    for (const l of lines) expect(messageErrors("EvalEngineEvent", l)).toEqual([]);
    setTimeout(() => {
      stdout.write("a stray library print\n");
      for (const l of lines) stdout.write(JSON.stringify(l) + "\n");
      for (const l of opts.stderr ?? []) stderr.write(l + "\n");
      stdout.end();
      stderr.end();
    }, 1);
    return { stdout, stderr, exited: new Promise((r) => setTimeout(() => r(opts.exitCode ?? 0), 5)) };
  };
  return { spawn, calls };
}

function params(extra: Partial<EvaluateParams>): EvaluateParams {
  const events: EvalEngineEvent[] = [];
  const progress: EvalProgress = { onEvent: (e) => events.push(e), stop: () => {} };
  return {
    python: "/fake/python",
    progress,
    log: () => {},
    plotSpawn: (argv) => {
      writeFileSync(argv[argv.length - 1], "png");
      return { stdout: Readable.from([]), stderr: Readable.from([]), exited: Promise.resolve(0) };
    },
    env: {},
    ...extra,
  };
}

describe("evaluateCheckpoints: one checkpoint", () => {
  test("runs the engine on it with the run's resolved config and val_jsonl, returns the table", async () => {
    const { out, data } = makeRun();
    const { spawn, calls } = fakeEngine();
    const r = await evaluateCheckpoints(params({ checkpoint: join(out, "checkpoint-20"), spawn, batchSize: 8 }));
    expect(calls[0]).toEqual([
      "/fake/python", "-m", "qc_engine.evaluate", "--checkpoints", join(out, "checkpoint-20"), "--data", data,
      "--resolved", join(out, "resolved_config.json"), "--out-json", expect.stringContaining("summary.json") as unknown as string,
      "--batch-size", "8",
    ]);
    expect(r.mode).toBe("single");
    expect(r.checkpoints[0].metrics.accuracy).toBe(0.9);
    expect(r.checkpoints[0].trainLoss).toBe(1);
    expect(r.text).toMatch(/accuracy\s+90\.00%/);
    expect(existsSync(join(out, "eval_summary.json"))).toBe(false);
  });
  test("--eval-data and --config override the defaults; torchrun for --nproc-per-node", async () => {
    const { out } = makeRun();
    const other = join(out, "test.jsonl");
    writeFileSync(other, "");
    const cfg = join(out, "other_resolved.json");
    writeFileSync(cfg, readFileSync(join(out, "resolved_config.json")));
    const { spawn, calls } = fakeEngine();
    await evaluateCheckpoints(params({ checkpoint: join(out, "checkpoint-10"), evalData: other, config: cfg, nprocPerNode: 2, force: true, spawn }));
    const argv = calls[0];
    expect(argv.slice(1, 5)).toEqual(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]);
    expect(argv[argv.indexOf("--data") + 1]).toBe(other);
    expect(argv[argv.indexOf("--resolved") + 1]).toBe(cfg);
    expect(argv).toContain("--force");
  });
});

describe("evaluateCheckpoints: the sweep", () => {
  test("every complete checkpoint in one engine call; leaderboard, summary, plot, recommendation", async () => {
    const { out } = makeRun();
    const { spawn, calls } = fakeEngine({ skip: [10] });
    const r = await evaluateCheckpoints(params({ all: out, spawn, now: () => new Date(0) }));
    expect(calls.length).toBe(1);
    const ckptArgs = calls[0].slice(calls[0].indexOf("--checkpoints") + 1, calls[0].indexOf("--data"));
    expect(ckptArgs).toEqual([10, 20, 30].map((s) => join(out, `checkpoint-${s}`)));
    expect(r.ranked!.map((x) => x.step)).toEqual([20, 30, 10]);
    expect(r.recommendation!.name).toBe("checkpoint-20");
    expect(r.text).toMatch(/^\s+\*\s+1\s+checkpoint-20/m);
    expect(r.text).toMatch(/checkpoint-10.*cached$/m);
    const summary = JSON.parse(readFileSync(join(out, "eval_summary.json"), "utf8"));
    expect(summary.best.name).toBe("checkpoint-20");
    expect(summary.rows.map((x: any) => [x.step, x.train_loss, x.status])).toEqual([[10, 2, "skipped"], [20, 1, "evaluated"], [30, 0, "evaluated"]]);
    expect(readFileSync(join(out, "eval_summary.png"), "utf8")).toBe("png");
    expect(r.retention).toBeUndefined();
    expect(r.incomplete).toEqual(["checkpoint-40"]);
  });
  test("a YAML --config is resolved (schema defaults, absolute paths) into a temporary resolved file", async () => {
    const { out } = makeRun();
    const yaml = join(out, "run.yaml");
    writeFileSync(yaml, ["model:", "  num_labels: 10", "data:", "  val_jsonl: val.jsonl", "training:", "  best_model_tracking:", "    metric: macro_f1", ""].join("\n"));
    let resolvedSeen: any = null;
    let resolvedPath = "";
    const { spawn: inner } = fakeEngine();
    const spawn: SpawnEngine = (argv, o) => {
      resolvedPath = argv[argv.indexOf("--resolved") + 1];
      resolvedSeen = JSON.parse(readFileSync(resolvedPath, "utf8"));
      return inner(argv, o);
    };
    const r = await evaluateCheckpoints(params({ all: out, config: yaml, spawn, cwd: out }));
    expect(resolvedSeen.config.data.val_jsonl).toBe(join(out, "val.jsonl"));
    expect(resolvedSeen.config.data.image_max_pixels).toBe(200704); // a schema default
    expect(r.metric).toBe("macro_f1");
    expect(existsSync(resolvedPath)).toBe(false); // removed afterwards
  });
  test("--keep-best K applies retention best:K, protecting the recommended checkpoint", async () => {
    const { out } = makeRun();
    const { spawn } = fakeEngine();
    const seen: any[] = [];
    const r = await evaluateCheckpoints(
      params({ all: out, spawn, keepBest: 2, applyRetention: (p) => (seen.push(p), { outputDir: out, policy: p.policy as string, dryRun: false, rows: [], freedBytes: 0, warnings: [], failed: 0 }) }),
    );
    expect(seen).toEqual([{ outputDir: out, policy: "best:2", bestPath: [join(out, "checkpoint-20")] }]);
    expect(r.retention?.policy).toBe("best:2");
  });
  test("a run without complete checkpoints is a UserError", async () => {
    const { out } = makeRun([]);
    const err = await evaluateCheckpoints(params({ all: out, spawn: fakeEngine().spawn })).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain("holds no complete checkpoint (1 incomplete");
  });
});

describe("evaluateCheckpoints: bad input and failures", () => {
  const cases: [string, (out: string) => Partial<EvaluateParams>, RegExp][] = [
    ["neither --checkpoint nor --all", () => ({}), /nothing to evaluate/],
    ["both", (out) => ({ all: out, checkpoint: join(out, "checkpoint-10") }), /either --checkpoint or --all/],
    ["incomplete checkpoint", (out) => ({ checkpoint: join(out, "checkpoint-40") }), /not a complete checkpoint/],
    ["--keep-best without --all", (out) => ({ checkpoint: join(out, "checkpoint-10"), keepBest: 1 }), /--keep-best needs --all/],
    ["missing eval data", (out) => ({ checkpoint: join(out, "checkpoint-10"), evalData: join(out, "nope.jsonl") }), /nope\.jsonl does not exist/],
    ["missing config", (out) => ({ checkpoint: join(out, "checkpoint-10"), config: join(out, "nope.json") }), /--config: .*nope\.json does not exist/],
    ["JSON config without a config object", (out) => (writeFileSync(join(out, "x.json"), "{}"), { checkpoint: join(out, "checkpoint-10"), config: join(out, "x.json") }), /has no "config" object/],
  ];
  for (const [name, make, message] of cases) {
    test(`${name}: UserError (exit 2), engine never started`, async () => {
      const { out } = makeRun();
      const { spawn, calls } = fakeEngine();
      const err = await evaluateCheckpoints(params({ ...make(out), spawn })).catch((e) => e);
      expect(err).toBeInstanceOf(UserError);
      expect(err.exitCode).toBe(2);
      expect(err.message).toMatch(message);
      expect(calls.length).toBe(0);
    });
  }
  test("no resolved_config.json beside the checkpoint and no --config", async () => {
    const { out } = makeRun();
    const { rmSync } = await import("node:fs");
    rmSync(join(out, "resolved_config.json"));
    const err = await evaluateCheckpoints(params({ checkpoint: join(out, "checkpoint-10"), spawn: fakeEngine().spawn })).catch((e) => e);
    expect(err.message).toContain("no --config given");
  });
  test("the engine's bad-input error becomes the UserError, with its exit code; nothing written", async () => {
    const { out } = makeRun();
    const { spawn } = fakeEngine({ exitCode: 2, error: "val.jsonl:3: label 12 out of range 0..9" });
    const err = await evaluateCheckpoints(params({ all: out, spawn })).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe("val.jsonl:3: label 12 out of range 0..9");
    expect(existsSync(join(out, "eval_summary.json"))).toBe(false);
  });
  test("Ctrl-C (exit 130): interrupted, finished checkpoints kept, re-run continues", async () => {
    const { out } = makeRun();
    const { spawn } = fakeEngine({ exitCode: 130, stderr: ["KeyboardInterrupt"] });
    const err = await evaluateCheckpoints(params({ all: out, spawn })).catch((e) => e);
    expect(err.exitCode).toBe(130);
    expect(err.message).toContain("interrupted");
    expect(err.hint).toContain("skipped");
  });
  test("a crash without an error event: exit 1 with the stderr tail", async () => {
    const { out } = makeRun();
    const { spawn } = fakeEngine({ exitCode: 1, stderr: ["Traceback (most recent call last):", "RuntimeError: boom"] });
    const err = await evaluateCheckpoints(params({ checkpoint: join(out, "checkpoint-10"), spawn })).catch((e) => e);
    expect(err.exitCode).toBe(1);
    expect(err.message).toContain("RuntimeError: boom");
    expect(err.hint).toContain("QC_VERBOSE=1");
  });
});

describe("evaluateCheckpoints: checkpoints in use (issue 11)", () => {
  const lockName = `.in-use.evaluate.${process.pid}`;
  const held = (out: string, steps: number[]) => steps.filter((s) => existsSync(join(out, `checkpoint-${s}`, lockName)));
  test("every evaluated checkpoint is locked while the engine runs, released before --keep-best's retention", async () => {
    const { out } = makeRun();
    const { spawn: inner } = fakeEngine();
    let during: number[] = [];
    let lockContent: any = null;
    const spawn: SpawnEngine = (argv, o) => {
      during = held(out, [10, 20, 30, 40]);
      lockContent = JSON.parse(readFileSync(join(out, "checkpoint-20", lockName), "utf8"));
      return inner(argv, o);
    };
    let atRetention = null as number[] | null; // set in a callback: no narrowing to null
    await evaluateCheckpoints(
      params({ all: out, spawn, keepBest: 1, applyRetention: (p) => ((atRetention = held(out, [10, 20, 30])), { outputDir: out, policy: p.policy as string, dryRun: false, rows: [], freedBytes: 0, warnings: [], failed: 0 }) }),
    );
    expect(during).toEqual([10, 20, 30]); // the incomplete checkpoint-40 is not evaluated, not locked
    expect(lockContent).toMatchObject({ pid: process.pid, purpose: "evaluate" });
    expect(atRetention).toEqual([]);
    expect(held(out, [10, 20, 30])).toEqual([]);
  });
  test("released when the engine fails", async () => {
    const { out } = makeRun();
    const { spawn } = fakeEngine({ exitCode: 1, stderr: ["RuntimeError: boom"] });
    const seen: string[] = [];
    const err = await evaluateCheckpoints(
      params({ checkpoint: join(out, "checkpoint-10"), spawn, lockCheckpoint: (p) => (seen.push(`${p.purpose}:${p.checkpoint}`), () => seen.push(`release:${p.checkpoint}`)) }),
    ).catch((e) => e);
    expect(err.exitCode).toBe(1);
    expect(seen).toEqual([`evaluate:${join(out, "checkpoint-10")}`, `release:${join(out, "checkpoint-10")}`]);
  });
});
