import { describe, expect, test } from "bun:test";
import { humanReport, jsonPayload } from "./report.ts";
import type { EvaluateResult } from "./evaluate.ts";

const outcome = (step: number, status: "evaluated" | "skipped") => ({
  name: `checkpoint-${step}`, path: `/r/checkpoint-${step}`, step, status, source: "hf_model" as const,
  metrics: { accuracy: 0.5, top5_accuracy: 1, macro_f1: 0.4, loss: 0.9, num_samples: 9 }, trainLoss: 1, seconds: status === "evaluated" ? 2 : null,
  imagesPerS: status === "evaluated" ? 25 : null, evalResults: `/r/checkpoint-${step}/eval_results.json`, predictions: `/r/checkpoint-${step}/predictions.jsonl`,
});

const base = {
  outputDir: "/r", data: "/d/val.jsonl", dataSha256: "ab", evalKey: "full:ab", numSamples: 9, worldSize: 1, metric: "accuracy",
  greaterIsBetter: true, preprocessSeconds: 0.5, totalSeconds: 4.25, text: "TABLE\n",
};

describe("humanReport", () => {
  test("single: table, speed, where results went", () => {
    const r: EvaluateResult = { mode: "single", ...base, checkpoints: [outcome(20, "evaluated")] };
    const text = humanReport(r);
    expect(text.startsWith("TABLE\n")).toBe(true);
    expect(text).toContain("evaluated 1 checkpoint(s) in 4.3 s (25.0 images/s)\n");
    expect(text).toContain("results: /r/checkpoint-20/eval_results.json (key full:ab); predictions: /r/checkpoint-20/predictions.jsonl");
  });
  test("sweep: cached count, files, recommendation, how to keep the best", () => {
    const r: EvaluateResult = {
      mode: "sweep", ...base, checkpoints: [outcome(10, "skipped"), outcome(20, "evaluated")],
      recommendation: { name: "checkpoint-20", path: "/r/checkpoint-20", step: 20, metric: "accuracy", value: 0.5, text: "keep checkpoint-20 (step 20)", notes: ["n1"] },
      summaryFiles: { json: "/r/eval_summary.json", png: "/r/eval_summary.png" },
    };
    const text = humanReport(r);
    expect(text).toContain("evaluated 1 checkpoint(s), 1 already evaluated on this set (cached; --force re-evaluates)");
    expect(text).toContain("plot:    /r/eval_summary.png");
    expect(text).toContain("recommendation: keep checkpoint-20 (step 20)\n  note: n1");
    expect(text).toContain("--keep-best 1");
  });
});

describe("jsonPayload", () => {
  test("single: the full metrics of the checkpoint", () => {
    const p = jsonPayload({ mode: "single", ...base, checkpoints: [outcome(20, "evaluated")] }) as any;
    expect(p).toMatchObject({ checkpoint: "/r/checkpoint-20", step: 20, eval_key: "full:ab", num_samples: 9, metrics: { accuracy: 0.5 } });
  });
});
