// Stage 6 of a launch, "finish": what the run's outcome was (status, exit code, one-line reason),
// the log's last lines when nothing else explains a failure, and the summary.
import { constants } from "node:os";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import type { ErrorEvent } from "../events/types.ts";
import type { ChildExit } from "./launch.ts";
import { lastLines, torchrunRootExitCode } from "./output.ts";
import { buildSummary, formatSummary, type RunStatus, type RunSummary } from "./summary.ts";
import type { OutStream, Watcher } from "./watch.ts";

export interface Outcome {
  status: RunStatus;
  exitCode: number;
  reason: string | null;
}

type EndEvent = NonNullable<Watcher["state"]["end"]>;

/** Status and exit code from the child's exit (torchrun, or the engine itself for one process), the engine's end/error events and its log. */
export function decideOutcome(p: { exit: ChildExit; end: EndEvent | null; lastError?: ErrorEvent; aborted: boolean; logText: string; logPath: string }): Outcome {
  const { exit, end, lastError, logPath } = p;
  if (end?.status === "completed" && exit.code === 0 && !p.aborted) return { status: "completed", exitCode: 0, reason: null };
  if (end?.status === "interrupted" || p.aborted) {
    // 143: SIGTERM (a scheduler's preemption, to torchrun or its process group) or the launcher gone.
    if (!p.aborted && end?.exit_code === 143) {
      return { status: "interrupted", exitCode: 143, reason: `terminated (SIGTERM / preemption) after saving a checkpoint at step ${end.step}` };
    }
    const reason = p.aborted ? "aborted by a second Ctrl-C: the step in progress was lost" : `stopped on request after saving a checkpoint at step ${end?.step}`;
    return { status: "interrupted", exitCode: 130, reason };
  }
  // torchrun's report names the worker's exit (negative: a signal); a single process (no torchrun) is the child itself.
  const root = torchrunRootExitCode(p.logText) ?? (exit.signal ? -(constants.signals[exit.signal] ?? 0) || null : null);
  // The engine puts its exit code in `end`/`error` (torchrun turns every failure into 1).
  const endCode = typeof end?.exit_code === "number" ? (end.exit_code as number) : null;
  const engineCode = endCode ?? (typeof lastError?.exit_code === "number" ? lastError.exit_code : root);
  const exitCode = engineCode !== null && engineCode > 0 ? engineCode : exit.code && exit.code > 0 ? exit.code : 1;
  let reason: string;
  if (end?.status === "completed") reason = `training completed but torchrun exited with ${exit.code ?? exit.signal}: see ${logPath}`;
  else if (lastError) reason = `the engine failed: ${lastError.message}`;
  else if (!end && root !== null && root < 0) reason = `worker died (killed by signal ${-root}): see ${logPath}`;
  else if (!end) reason = `worker died: see ${logPath}`;
  else reason = `training ended with status ${end.status}: see ${logPath}`;
  return { status: "failed", exitCode, reason };
}

/** The log's last lines, unless the engine already said what went wrong on the terminal. */
export function showLogTail(p: { outcome: Outcome; watcher: Watcher; logPath: string }): void {
  const lastError = p.watcher.state.errors[p.watcher.state.errors.length - 1];
  if (p.outcome.status !== "failed" || (lastError && !p.watcher.tty)) return;
  const tail = lastLines(p.logPath, 20);
  if (!tail.length) return;
  p.watcher.note(`last lines of ${p.logPath}:`);
  for (const l of tail) p.watcher.note(`  | ${l}`);
}

export interface RunResult {
  exitCode: number;
  status: RunStatus;
  summary: RunSummary;
}

/** Prints the error line (if any) and the summary; returns the run's result. */
export function finishRun(p: {
  outcome: Outcome;
  notes: string[];
  watcher: Watcher;
  config: QwenClassifyConfig;
  outputDir: string;
  wallSeconds: number;
  sourceFile: string | null;
  stdout: OutStream;
  stderr: OutStream;
}): RunResult {
  const { outcome, watcher, config } = p;
  watcher.stop();
  const st = watcher.state;
  const reason = [outcome.reason, ...p.notes].filter(Boolean).join("; ") || null;
  const summary = buildSummary({
    status: outcome.status,
    exitCode: outcome.exitCode,
    outputDir: p.outputDir,
    wallSeconds: p.wallSeconds,
    reason,
    lastStep: st.lastStep,
    totalSteps: st.start?.total_steps ?? null,
    end: st.end,
    evals: st.evals,
    checkpointEvents: st.checkpoints,
    metricName: config.training.best_model_tracking?.metric,
    trackingEnabled: config.training.best_model_tracking?.enabled,
    skipEvaluation: config.training.skip_evaluation,
    hubRepoId: config.hub?.repo_id,
    sourceFile: p.sourceFile,
  });
  if (outcome.status !== "completed" && outcome.reason) p.stderr.write(`error: ${outcome.reason}\n`);
  p.stdout.write(formatSummary(summary));
  return { exitCode: outcome.exitCode, status: outcome.status, summary };
}
