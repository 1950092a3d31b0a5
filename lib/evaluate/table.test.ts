import { describe, expect, test } from "bun:test";
import { formatMetricsTable } from "./table.ts";
import type { FullMetrics } from "./protocol.ts";

function metrics(n: number): FullMetrics {
  const labels = Array.from({ length: n }, (_, i) => `class${i}`);
  const per_class: FullMetrics["per_class"] = {};
  labels.forEach((l, i) => (per_class![l] = { precision: 0.5, recall: 0.5, f1: i / n, support: 3 }));
  return {
    accuracy: 0.8125,
    top5_accuracy: 0.96,
    macro_f1: 0.75,
    loss: 0.4321,
    num_samples: 3 * n,
    per_class,
    labels,
    confusion_matrix: labels.map((_, i) => labels.map((_, j) => (i === j ? 7 : 1))),
  };
}

describe("formatMetricsTable", () => {
  test("headline metrics, every class and the confusion matrix for few classes", () => {
    const text = formatMetricsTable({ checkpoint: "checkpoint-20", step: 20, data: "/d/val.jsonl", numSamples: 16, metrics: metrics(3) });
    expect(text).toContain("checkpoint-20 (step 20) on /d/val.jsonl: 16 samples");
    expect(text).toMatch(/accuracy\s+81\.25%/);
    expect(text).toMatch(/top-5 accuracy\s+96\.00%/);
    expect(text).toMatch(/macro-F1\s+0\.7500/);
    expect(text).toMatch(/mean loss\s+0\.4321/);
    expect(text).toMatch(/class2\s+0\.5000\s+0\.5000\s+0\.6667\s+3/);
    expect(text).toContain("confusion matrix");
    expect(text).toMatch(/class1\s+1\s+7\s+1/);
  });
  test("many classes: only the weakest by F1, no confusion matrix", () => {
    const text = formatMetricsTable({ checkpoint: "c", step: 1, data: "d", numSamples: 1, metrics: metrics(30), maxClasses: 5 });
    expect(text).toContain("the 5 weakest of 30 by F1");
    expect(text).toContain("class4 ");
    expect(text).not.toContain("class5 ");
    expect(text).not.toContain("confusion matrix");
  });
  test("a metric the engine wrote as null (not finite) shows n/a", () => {
    const text = formatMetricsTable({ checkpoint: "c", step: 1, data: "d", numSamples: 9, metrics: { ...metrics(3), loss: null, top5_accuracy: null } });
    expect(text).toMatch(/mean loss\s+n\/a/);
    expect(text).toMatch(/top-5 accuracy\s+n\/a/);
    expect(text).toMatch(/accuracy\s+81\.25%/);
  });
});
