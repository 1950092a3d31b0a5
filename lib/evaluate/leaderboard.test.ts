import { describe, expect, test } from "bun:test";
import { formatLeaderboard, rankCheckpoints, recommend, type SweepRow } from "./leaderboard.ts";
import { UserError } from "../util/errors.ts";

const row = (step: number, accuracy: number, loss: number, trainLoss: number | null = 1 / step): SweepRow => ({
  name: `checkpoint-${step}`,
  path: `/runs/r/checkpoint-${step}`,
  step,
  metrics: { accuracy, top5_accuracy: 1, macro_f1: accuracy - 0.01, loss },
  trainLoss,
  status: "evaluated",
});

describe("rankCheckpoints", () => {
  test("best first by the metric, greater is better", () => {
    const ranked = rankCheckpoints({ rows: [row(10, 0.5, 1), row(20, 0.8, 0.6), row(30, 0.7, 0.5)], metric: "accuracy", greaterIsBetter: true });
    expect(ranked.map((r) => [r.step, r.rank, r.isBest])).toEqual([[20, 1, true], [30, 2, false], [10, 3, false]]);
  });
  test("loss: lower is better", () => {
    const ranked = rankCheckpoints({ rows: [row(10, 0.5, 1), row(20, 0.8, 0.6), row(30, 0.7, 0.5)], metric: "loss", greaterIsBetter: false });
    expect(ranked[0].step).toBe(30);
  });
  test("ties: the earlier step (as retention best:K)", () => {
    const ranked = rankCheckpoints({ rows: [row(30, 0.8, 0.6), row(10, 0.8, 0.6), row(20, 0.8, 0.4)], metric: "accuracy", greaterIsBetter: true });
    expect(ranked.map((r) => r.step)).toEqual([10, 20, 30]);
  });
  test("an unknown metric is a UserError naming the known ones", () => {
    expect(() => rankCheckpoints({ rows: [row(10, 0.5, 1)], metric: "f2", greaterIsBetter: true })).toThrow(UserError);
    expect(() => rankCheckpoints({ rows: [row(10, 0.5, 1)], metric: "f2", greaterIsBetter: true })).toThrow(/accuracy, top5_accuracy, macro_f1, loss/);
  });
});

describe("formatLeaderboard", () => {
  test("rows in step order, best marked, train loss shown, cached noted", () => {
    const rows = [row(10, 0.5, 1), { ...row(20, 0.8, 0.6), status: "skipped" as const }, row(30, 0.7, 0.5, null)];
    const text = formatLeaderboard({ ranked: rankCheckpoints({ rows, metric: "accuracy", greaterIsBetter: true }), metric: "accuracy" });
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toBe("ranked by accuracy; * marks the best");
    expect(lines[1]).toMatch(/^best\s+rank\s+checkpoint\s+step\s+acc\s+top5\s+macro_f1\s+eval_loss\s+train_loss\s+note$/);
    expect(lines[3]).toMatch(/^\s+3\s+checkpoint-10\s+10\s+0\.5000/);
    expect(lines[4]).toMatch(/^\s+\*\s+1\s+checkpoint-20\s+20\s+0\.8000.*0\.0500\s+cached$/);
    expect(lines[5]).toMatch(/checkpoint-30.*-$/); // no train loss
  });
  test("a metric outside the standard columns gets its own column", () => {
    const rows = [{ ...row(10, 0.5, 1), metrics: { ...row(10, 0.5, 1).metrics, balanced: 0.25 } }];
    const text = formatLeaderboard({ ranked: rankCheckpoints({ rows, metric: "balanced", greaterIsBetter: true }), metric: "balanced" });
    expect(text.split("\n")[1]).toContain("balanced");
    expect(text.split("\n")[3]).toContain("0.2500");
  });
});

describe("recommend", () => {
  test("best in the middle: over-fitting note when train loss kept falling", () => {
    const ranked = rankCheckpoints({ rows: [row(10, 0.5, 1), row(20, 0.8, 0.6), row(30, 0.7, 0.5)], metric: "accuracy", greaterIsBetter: true });
    const r = recommend({ ranked, metric: "accuracy", greaterIsBetter: true });
    expect(r.name).toBe("checkpoint-20");
    expect(r.value).toBe(0.8);
    expect(r.text).toContain("keep checkpoint-20");
    expect(r.notes.join(" ")).toContain("over-fitting");
  });
  test("best is the last one: still improving", () => {
    const ranked = rankCheckpoints({ rows: [row(10, 0.5, 1), row(20, 0.9, 0.6)], metric: "accuracy", greaterIsBetter: true });
    expect(recommend({ ranked, metric: "accuracy", greaterIsBetter: true }).notes[0]).toContain("still improving");
  });
  test("a later checkpoint that ties the best is not called worse", () => {
    const ranked = rankCheckpoints({ rows: [row(500, 0.9694, 0.139), row(534, 0.9694, 0.137)], metric: "accuracy", greaterIsBetter: true });
    const r = recommend({ ranked, metric: "accuracy", greaterIsBetter: true });
    expect(r.name).toBe("checkpoint-500");
    expect(r.notes.join(" ")).not.toContain("score worse");
    expect(r.notes.join(" ")).toContain("tied on accuracy with checkpoint-534");
  });
  test("worse-than-best note names the last WORSE checkpoint, not a tied one after it", () => {
    const ranked = rankCheckpoints({ rows: [row(10, 0.9, 1), row(20, 0.7, 0.6), row(30, 0.9, 0.5)], metric: "accuracy", greaterIsBetter: true });
    const notes = recommend({ ranked, metric: "accuracy", greaterIsBetter: true }).notes.join(" ");
    expect(notes).toContain("1 later checkpoint(s) score worse (last: 0.7000, 0.2000 lower)");
  });
  test("nothing evaluated is a UserError", () => {
    expect(() => recommend({ ranked: [], metric: "accuracy", greaterIsBetter: true })).toThrow(UserError);
  });
});
