// Ranking evaluated checkpoints, the leaderboard text and the recommendation of which to keep.
import { UserError } from "../util/errors.ts";

export interface SweepRow {
  name: string; // checkpoint-N
  path: string;
  step: number;
  metrics: Record<string, number>;
  trainLoss: number | null;
  status: "evaluated" | "skipped";
}

export interface RankedRow extends SweepRow {
  rank: number; // 1 = best
  isBest: boolean;
}

export interface RankParams {
  rows: SweepRow[];
  metric: string;
  greaterIsBetter: boolean;
}

/**
 * Best first by `metric`; ties go to the earlier step (the first checkpoint to reach the value),
 * the same rule as retention's best:K (lib/checkpoints/retention.ts), so --keep-best keeps the top rows.
 */
export function rankCheckpoints(p: RankParams): RankedRow[] {
  for (const r of p.rows) {
    if (typeof r.metrics[p.metric] !== "number") {
      const known = Object.keys(r.metrics).filter((k) => typeof r.metrics[k] === "number");
      throw new UserError(`metric "${p.metric}" is not among the evaluation metrics of ${r.name} (${known.join(", ")})`, {
        hint: "set training.best_model_tracking.metric to one of them (accuracy, top5_accuracy, macro_f1, loss)",
      });
    }
  }
  const sign = p.greaterIsBetter ? -1 : 1;
  const sorted = [...p.rows].sort((a, b) => sign * (a.metrics[p.metric] - b.metrics[p.metric]) || a.step - b.step);
  return sorted.map((r, i) => ({ ...r, rank: i + 1, isBest: i === 0 }));
}

const COLUMNS: [string, string][] = [
  ["accuracy", "acc"],
  ["top5_accuracy", "top5"],
  ["macro_f1", "macro_f1"],
  ["loss", "eval_loss"],
];

function fmt(v: number | null | undefined, digits = 4): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "-";
}

/** The leaderboard as text, in step order, the best row marked with "*". */
export function formatLeaderboard(params: { ranked: RankedRow[]; metric: string }): string {
  const byStep = [...params.ranked].sort((a, b) => a.step - b.step);
  const header = ["best", "rank", "checkpoint", "step", ...COLUMNS.map(([, h]) => h), "train_loss", "note"];
  if (!COLUMNS.some(([k]) => k === params.metric)) header.splice(4, 0, params.metric);
  const rows = byStep.map((r) => {
    const cells = [
      r.isBest ? "  *" : "",
      String(r.rank),
      r.name,
      String(r.step),
      ...COLUMNS.map(([k]) => fmt(r.metrics[k])),
      fmt(r.trainLoss),
      r.status === "skipped" ? "cached" : "",
    ];
    if (!COLUMNS.some(([k]) => k === params.metric)) cells.splice(4, 0, fmt(r.metrics[params.metric]));
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i >= 3 && i < cells.length - 1 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [`ranked by ${params.metric}; * marks the best`, line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n") + "\n";
}

export interface Recommendation {
  name: string;
  path: string;
  step: number;
  metric: string;
  value: number;
  text: string;
  notes: string[];
}

/** Which checkpoint to keep, and why, with notes on the shape of the curve. */
export function recommend(params: { ranked: RankedRow[]; metric: string; greaterIsBetter: boolean }): Recommendation {
  const { ranked, metric, greaterIsBetter } = params;
  if (ranked.length === 0) throw new UserError("no checkpoint was evaluated: nothing to recommend");
  const best = ranked[0];
  const byStep = [...ranked].sort((a, b) => a.step - b.step);
  const last = byStep[byStep.length - 1];
  const notes: string[] = [];
  if (ranked.length > 1 && best.step === last.step) {
    notes.push(`the best checkpoint is the last one: the ${metric} was still improving; more training may help`);
  } else if (ranked.length > 1) {
    // only checkpoints strictly worse than the best count as "worse" (ties are reported below)
    const after = byStep.filter((r) => r.step > best.step && r.metrics[metric] !== best.metrics[metric]);
    const trainLossFell = after.some((r) => r.trainLoss !== null && best.trainLoss !== null && r.trainLoss < best.trainLoss);
    const lastWorse = after[after.length - 1];
    if (lastWorse) {
      const drop = Math.abs(lastWorse.metrics[metric] - best.metrics[metric]);
      notes.push(
        `${after.length} later checkpoint(s) score worse (last: ${fmt(lastWorse.metrics[metric])}, ${drop.toFixed(4)} ${greaterIsBetter ? "lower" : "higher"})` +
          (trainLossFell ? " while the train loss kept falling: likely over-fitting" : ""),
      );
    }
  }
  const ties = ranked.filter((r) => r !== best && r.metrics[metric] === best.metrics[metric]);
  if (ties.length) notes.push(`tied on ${metric} with ${ties.map((r) => r.name).join(", ")}; the earliest is chosen (the first to reach it)`);
  return {
    name: best.name,
    path: best.path,
    step: best.step,
    metric,
    value: best.metrics[metric],
    text: `keep ${best.name} (step ${best.step}): best ${metric} ${fmt(best.metrics[metric])} of ${ranked.length} checkpoint(s)`,
    notes,
  };
}
