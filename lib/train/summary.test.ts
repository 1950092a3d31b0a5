import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSummary, formatSummary, shellQuote } from "./summary.ts";

function run(ckpts: { step: number; best?: boolean; acc?: number }[]) {
  const out = join(mkdtempSync(join(tmpdir(), "qc sum ")), "out dir");
  mkdirSync(out);
  for (const c of ckpts) {
    mkdirSync(join(out, `checkpoint-${c.step}`), { recursive: true });
    writeFileSync(join(out, `checkpoint-${c.step}`, "training_info.json"), JSON.stringify({ step: c.step, is_best: !!c.best, eval_metrics: c.acc ? { accuracy: c.acc } : null, bytes: { total: 1024 * c.step } }));
  }
  mkdirSync(join(out, "checkpoint-99")); // incomplete: not counted
  return out;
}

test("no-eval run: every checkpoint counted, sweep suggested, quoted paths", () => {
  const out = run([{ step: 10 }, { step: 20 }]);
  const s = buildSummary({ status: "completed", exitCode: 0, outputDir: out, wallSeconds: 75, skipEvaluation: true, lastStep: { step: 20, total_steps: 20, loss: 0.1234 } as never });
  expect(s.checkpoints).toEqual({ count: 2, bytes: 30 * 1024, names: ["checkpoint-10", "checkpoint-20"], newest: join(out, "checkpoint-20") });
  expect(s.best).toBeNull();
  const text = formatSummary(s);
  expect(text).toContain("completed (exit code 0)");
  expect(text).toContain("steps:         20/20");
  expect(text).toContain("wall time:     1m15s");
  expect(text).toContain("final loss:    0.1234");
  expect(text).toContain("best:          none tracked");
  expect(text).toContain(`bun run tasks/evaluate.ts --all ${shellQuote(out)}`);
  expect(text).toContain(`tasks/push.ts --checkpoint ${shellQuote(join(out, "checkpoint-20"))} --repo '<namespace>/<name>'`);
  expect(shellQuote(out).startsWith("'")).toBe(true);
});

test("standard run: best from training_info when no event names it; interrupted suggests resume", () => {
  const out = run([{ step: 10, best: true, acc: 0.91 }, { step: 20, acc: 0.88 }]);
  const s = buildSummary({ status: "interrupted", exitCode: 130, outputDir: out, wallSeconds: 5, reason: "stopped on request", metricName: "accuracy", sourceFile: "/c/x.yaml" });
  expect(s.best).toEqual({ path: join(out, "checkpoint-10"), metric: "accuracy", value: 0.91 });
  const text = formatSummary(s);
  expect(text).toContain("reason:        stopped on request");
  expect(text).toContain("resume:    bun run tasks/train.ts --config /c/x.yaml");
  expect(text).toContain(`--set training.output_dir=${shellQuote(out)} --resume auto`);
  expect(text).toContain(`tasks/evaluate.ts --checkpoint ${shellQuote(join(out, "checkpoint-10"))}`);
});

test("failed run without checkpoints: points at the log only", () => {
  const out = run([]);
  const s = buildSummary({ status: "failed", exitCode: 1, outputDir: out, wallSeconds: 1, reason: "worker died" });
  expect(s.nextSteps).toEqual([`read the log: ${join(out, "logs", "train.log")}`]);
  expect(formatSummary(s)).toContain("checkpoints:   0 kept, 0 B");
});

test("a completed run's summary prints the engine's time split and padding share", () => {
  const out = run([{ step: 20 }]);
  const end = { event: "end", status: "completed", step: 20, best_checkpoint: null, exit_code: 0, eval_forward_passes: 0, time: 1, wall_time_s: 100,
    padding_fraction: 0.125, time_split_s: { setup: 10, data_wait: 5, compute: 70, checkpoint: 10, evaluation: 0, other: 5 } };
  const s = buildSummary({ status: "completed", exitCode: 0, outputDir: out, wallSeconds: 100, skipEvaluation: true, end: end as never });
  const text = formatSummary(s);
  expect(text).toContain("time split:    setup 10s (10%), data wait 5s (5%), compute 1m10s (70%), checkpoint 10s (10%), evaluation 0s (0%), other 5s (5%)");
  expect(text).toContain("padding:       12.5% of training tokens");
  expect(formatSummary(buildSummary({ status: "completed", exitCode: 0, outputDir: out, wallSeconds: 1 }))).not.toContain("time split");
});
