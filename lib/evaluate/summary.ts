// eval_summary.json (the sweep's leaderboard as data) and eval_summary.png (metric and train
// loss against step), both in the run's output_dir.
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { runEngineProcess, type SpawnEngine } from "../util/engine_process.ts";
import { writeFileAtomic } from "../util/fs.ts";
import type { RankedRow, Recommendation } from "./leaderboard.ts";

// eval_summary.json's type is generated from schema/events.schema.json (read by the plot script).
import type { EvalSummary } from "../../generated/messages.ts";
export type { EvalSummary };

export function buildEvalSummary(p: {
  outputDir: string;
  data: string;
  dataSha256: string;
  evalKey: string;
  numSamples: number;
  metric: string;
  greaterIsBetter: boolean;
  ranked: RankedRow[];
  recommendation: Recommendation;
  now?: () => Date;
}): EvalSummary {
  const r = p.recommendation;
  return {
    created_at: (p.now ?? (() => new Date()))().toISOString(),
    output_dir: p.outputDir,
    data: p.data,
    data_sha256: p.dataSha256,
    eval_key: p.evalKey,
    num_samples: p.numSamples,
    metric: p.metric,
    greater_is_better: p.greaterIsBetter,
    best: { name: r.name, path: r.path, step: r.step, value: r.value },
    recommendation: r.text,
    notes: r.notes,
    rows: [...p.ranked]
      .sort((a, b) => a.step - b.step)
      .map((x) => ({
        name: x.name,
        path: x.path,
        step: x.step,
        rank: x.rank,
        is_best: x.isBest,
        status: x.status,
        train_loss: x.trainLoss,
        metrics: x.metrics,
      })),
  };
}

export const PLOT_MODULE = "qc_engine.tools.plot_eval_summary";

/** Writes OUT/eval_summary.json and OUT/eval_summary.png; returns both paths. */
export async function writeEvalSummary(p: {
  summary: EvalSummary;
  outputDir: string;
  python: string;
  /** The plot's process (lib/util/engine_process.ts's runner); injected for tests. */
  spawn?: SpawnEngine;
}): Promise<{ json: string; png: string }> {
  const json = join(p.outputDir, "eval_summary.json");
  const png = join(p.outputDir, "eval_summary.png");
  writeFileAtomic(json, JSON.stringify(p.summary, null, 2) + "\n");
  const { exitCode, stderrTail } = await runEngineProcess<never>({
    argv: [p.python, "-m", PLOT_MODULE, json, png],
    what: "eval summary plot",
    parseLine: () => null,
    spawn: p.spawn,
  });
  if (exitCode !== 0) {
    throw new UserError(`plotting ${png} failed (exit ${exitCode}): ${stderrTail.filter((l) => l.trim()).slice(-3).join(" | ")}`, {
      exitCode: 1,
      hint: `eval_summary.json is written; re-plot with: PYTHONPATH=engine ${p.python} -m ${PLOT_MODULE} ${json} ${png}`,
    });
  }
  return { json, png };
}
