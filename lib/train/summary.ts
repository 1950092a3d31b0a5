// The end-of-run summary: what happened, what is on disk, and the commands to run next.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { listCheckpoints, type CheckpointInfo } from "../checkpoints/scan.ts";
import type { CheckpointEvent, EndEvent, EvalEvent, StepEvent } from "../events/types.ts";
import { dirBytes, formatBytes } from "../util/fs.ts";
import { formatDuration } from "./watch.ts";

export type RunStatus = "completed" | "interrupted" | "failed";

export interface RunSummary {
  status: RunStatus;
  exitCode: number;
  outputDir: string;
  step: number | null;
  totalSteps: number | null;
  wallSeconds: number;
  finalLoss: number | null;
  best: { path: string; metric: string; value: number | null } | null;
  checkpoints: { count: number; bytes: number; names: string[]; newest: string | null };
  /** Human reason when the run did not complete. */
  reason: string | null;
  nextSteps: string[];
  /** The engine's time split (end event of a completed run): setup, data_wait, compute, checkpoint, evaluation, other. */
  timeSplit: Record<string, number> | null;
  /** Share of padding among the training tokens (end event), with data.batching it came from. */
  paddingFraction: number | null;
}

export interface SummaryParams {
  status: RunStatus;
  exitCode: number;
  outputDir: string;
  wallSeconds: number;
  reason?: string | null;
  lastStep?: StepEvent | null;
  totalSteps?: number | null;
  end?: EndEvent | null;
  evals?: EvalEvent[];
  checkpointEvents?: CheckpointEvent[];
  /** Name of the metric used for best-model tracking (training.best_model_tracking.metric). */
  metricName?: string;
  trackingEnabled?: boolean;
  skipEvaluation?: boolean;
  hubRepoId?: string;
  /** Config file and extra args, to print an exact resume command. */
  sourceFile?: string | null;
  /** How the user runs tasks (default "bun run"). */
  taskRunner?: string;
}

/** Quote a path for a POSIX shell only when needed. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function safeList(outputDir: string): CheckpointInfo[] {
  try {
    return existsSync(outputDir) ? listCheckpoints({ outputDir }) : [];
  } catch {
    return [];
  }
}

// A metric by name: the generated metric interfaces have no index signature.
function metricOf(metrics: object | undefined, name: string): unknown {
  return (metrics as Record<string, unknown> | undefined)?.[name];
}

export function buildSummary(p: SummaryParams): RunSummary {
  const checkpoints = safeList(p.outputDir);
  const bytes = checkpoints.reduce((sum, c) => sum + (c.info?.bytes?.total ?? dirBytes(c.path)), 0);
  const newest = checkpoints.length ? checkpoints[checkpoints.length - 1]!.path : null;

  // Best: the engine's word (end event), else the newest checkpoint event flagged best, else training_info.
  const metric = p.metricName ?? "accuracy";
  // Without tracking (no-eval) there is no best, whatever earlier runs in output_dir recorded.
  const tracking = p.trackingEnabled !== false && !p.skipEvaluation;
  let bestPath: string | null = tracking ? (p.end?.best_checkpoint ?? null) : null;
  if (!bestPath && tracking) bestPath = [...(p.checkpointEvents ?? [])].reverse().find((c) => c.is_best)?.path ?? null;
  if (!bestPath && tracking) bestPath = [...checkpoints].reverse().find((c) => c.info?.is_best)?.path ?? null;
  let best: RunSummary["best"] = null;
  if (bestPath) {
    const evs = (p.evals ?? []).filter((e) => e.checkpoint === bestPath && typeof metricOf(e.metrics, metric) === "number");
    const full = evs.find((e) => e.split === "full") ?? evs[evs.length - 1];
    let value: number | null = (metricOf(full?.metrics, metric) as number | undefined) ?? null;
    if (value === null) {
      const ev = [...(p.checkpointEvents ?? [])].reverse().find((c) => c.path === bestPath);
      value = typeof ev?.metric === "number" ? ev.metric : null;
    }
    if (value === null) {
      const info = checkpoints.find((c) => c.path === bestPath)?.info;
      const v = info?.eval_metrics?.[metric];
      value = typeof v === "number" ? v : null;
    }
    best = { path: bestPath, metric, value };
  }

  const summary: RunSummary = {
    status: p.status,
    exitCode: p.exitCode,
    outputDir: p.outputDir,
    step: p.end?.step ?? p.lastStep?.step ?? null,
    totalSteps: p.totalSteps ?? p.lastStep?.total_steps ?? null,
    wallSeconds: p.wallSeconds,
    finalLoss: typeof p.lastStep?.loss === "number" ? p.lastStep.loss : null,
    best,
    checkpoints: { count: checkpoints.length, bytes, names: checkpoints.map((c) => c.name), newest },
    reason: p.reason ?? null,
    nextSteps: [],
    timeSplit: p.end?.time_split_s ? (Object.fromEntries(Object.entries(p.end.time_split_s).filter(([, v]) => typeof v === "number")) as Record<string, number>) : null,
    paddingFraction: typeof p.end?.padding_fraction === "number" ? p.end.padding_fraction : null,
  };
  summary.nextSteps = nextSteps(summary, p);
  return summary;
}

function nextSteps(s: RunSummary, p: SummaryParams): string[] {
  const run = p.taskRunner ?? "bun run";
  const q = shellQuote;
  const steps: string[] = [];
  const log = join(s.outputDir, "logs", "train.log");
  if (s.status === "interrupted" || (s.status === "failed" && s.checkpoints.count > 0)) {
    const config = p.sourceFile ? ` --config ${q(p.sourceFile)}` : "";
    steps.push(`resume:    ${run} tasks/train.ts${config} --set training.output_dir=${q(s.outputDir)} --resume auto`);
  }
  if (s.status === "failed") steps.push(`read the log: ${log}`);
  if (s.checkpoints.count === 0) return steps;
  const target = s.best?.path ?? s.checkpoints.newest!;
  if (p.skipEvaluation || !s.best) {
    steps.push(`evaluate:  ${run} tasks/evaluate.ts --all ${q(s.outputDir)}   # every checkpoint, picks the best`);
  } else {
    steps.push(`evaluate:  ${run} tasks/evaluate.ts --checkpoint ${q(target)}`);
  }
  steps.push(`export:    ${run} tasks/export.ts --checkpoint ${q(target)}`);
  const repo = p.hubRepoId && p.hubRepoId.length > 0 ? p.hubRepoId : "<namespace>/<name>";
  steps.push(`push:      ${run} tasks/push.ts --checkpoint ${q(target)} --repo ${q(repo)}`);
  return steps;
}

export function formatSummary(s: RunSummary): string {
  const lines: string[] = [];
  lines.push("");
  lines.push(`── summary ── ${s.status} (exit code ${s.exitCode})`);
  if (s.reason) lines.push(`  reason:        ${s.reason}`);
  const steps = s.step === null ? "none" : s.totalSteps ? `${s.step}/${s.totalSteps}` : String(s.step);
  lines.push(`  steps:         ${steps}`);
  lines.push(`  wall time:     ${formatDuration(s.wallSeconds)}`);
  lines.push(`  final loss:    ${s.finalLoss === null ? "-" : s.finalLoss.toFixed(4)}`);
  if (s.timeSplit) {
    const total = Object.values(s.timeSplit).reduce((a, b) => a + b, 0) || 1;
    const parts = Object.entries(s.timeSplit).map(([k, v]) => `${k.replace("_", " ")} ${formatDuration(v)} (${Math.round((100 * v) / total)}%)`);
    lines.push(`  time split:    ${parts.join(", ")}`);
  }
  if (s.paddingFraction !== null) lines.push(`  padding:       ${(100 * s.paddingFraction).toFixed(1)}% of training tokens`);
  if (s.best) {
    const v = s.best.value === null ? "" : ` (${s.best.metric} ${s.best.value.toFixed(4)})`;
    lines.push(`  best:          ${s.best.path}${v}`);
  } else {
    lines.push(`  best:          none tracked`);
  }
  lines.push(
    `  checkpoints:   ${s.checkpoints.count} kept, ${formatBytes(s.checkpoints.bytes)}` +
      (s.checkpoints.count ? ` (${s.checkpoints.names.join(", ")})` : ""),
  );
  lines.push(`  output:        ${s.outputDir}`);
  if (s.nextSteps.length) {
    lines.push("next:");
    for (const n of s.nextSteps) lines.push(`  ${n}`);
  }
  return lines.join("\n") + "\n";
}
