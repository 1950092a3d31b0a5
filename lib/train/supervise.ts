// Stage 5 of a launch, "supervise": Ctrl-C (stop file, then kill), the event stream (progress,
// best checkpoint), retention as checkpoints land, and Hub pushes, until torchrun exits.
import { statSync, writeFileSync } from "node:fs";
import { applyRetention as applyRetentionPolicy, defaultPolicy } from "../checkpoints/retention.ts";
import { tailEvents, type AnyEvent } from "../events/tail.ts";
import type { CheckpointEvent } from "../events/types.ts";
import type { BackgroundPusher } from "../hub/background.ts";
import { formatReport as formatPushReport } from "../hub/push.ts";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import type { Supervised, ChildExit } from "./launch.ts";
import type { Watcher } from "./watch.ts";

export const STOP_MESSAGE = "stopping after the current step and saving a checkpoint (Ctrl-C again to abort)";

export interface ProcessSignals {
  on(event: "SIGINT" | "SIGTERM" | "exit", listener: (...args: unknown[]) => void): unknown;
  off(event: "SIGINT" | "SIGTERM" | "exit", listener: (...args: unknown[]) => void): unknown;
}

export type RetentionModule = {
  applyRetention: (p: {
    outputDir: string;
    policy: string;
    bestPath?: string | string[] | null;
    slimKeep?: number;
    dryRun?: boolean;
    log?: (line: string) => void;
  }) => { failed?: number; warnings?: string[] } | unknown;
};

/**
 * Ctrl-C while training: the first asks the engine to stop after a checkpoint (stop file); a
 * second, or any during the demo assets, kills the whole process tree.
 */
export class StopControl {
  stopRequests = 0;
  aborted = false;
  phase: "assets" | "train" | "done" = "assets";
  current: Supervised | null = null;
  private readonly onSignal = () => this.request();
  private readonly onExit = () => this.current?.tree?.killAll("SIGKILL");

  constructor(private readonly p: { signals: ProcessSignals; watcher: Watcher; stopFile: string; now: () => number }) {
    p.signals.on("SIGINT", this.onSignal);
    p.signals.on("SIGTERM", this.onSignal);
    p.signals.on("exit", this.onExit);
  }

  get stopped(): boolean {
    return this.aborted || this.stopRequests > 0;
  }

  request(): void {
    this.stopRequests += 1;
    if (this.stopRequests === 1 && this.phase === "train") {
      this.p.watcher.note(STOP_MESSAGE);
      try {
        writeFileSync(this.p.stopFile, `${new Date(this.p.now()).toISOString()}\n`);
      } catch (e) {
        this.p.watcher.note(`could not create ${this.p.stopFile}: ${(e as Error).message}; Ctrl-C again to abort`);
      }
      return;
    }
    this.aborted = true;
    this.p.watcher.note("aborting: killing the training processes (only a .checkpoint-N.tmp can be left, never a checkpoint-N)");
    this.current?.tree?.killAll("SIGKILL");
  }

  dispose(): void {
    this.p.signals.off("SIGINT", this.onSignal);
    this.p.signals.off("SIGTERM", this.onSignal);
    this.p.signals.off("exit", this.onExit);
    this.current?.tree?.killAll("SIGKILL");
  }
}

/** Retention after each checkpoint, serialized; a failure is noted and never stops training. */
export function createRetentionRunner(p: {
  config: QwenClassifyConfig;
  outputDir: string;
  retention: RetentionModule | null;
  /** Checkpoints retention must keep (the best, those a push still reads). */
  protectedPaths: () => string[];
  note: (line: string) => void;
}): { apply: (why: string) => void; settled: () => Promise<void>; notes: string[] } {
  const policy = defaultPolicy(p.config);
  const slimKeep = p.config.training.checkpoint?.keep_optimizer_states ?? 0;
  const notes: string[] = [];
  let chain: Promise<void> = Promise.resolve();
  const apply = (why: string) => {
    if (!p.retention || (policy === "all" && slimKeep === 0)) return;
    const retention = p.retention;
    chain = chain.then(() => {
      try {
        retention.applyRetention({
          outputDir: p.outputDir,
          policy,
          bestPath: p.protectedPaths(),
          slimKeep: slimKeep > 0 ? slimKeep : undefined,
          // Only what changes something (deletions, slimming, warnings): "keep" rows are noise.
          log: (line) => {
            if (!/^[^:]+: keep\b/.test(line)) p.note(`retention (${policy}): ${line}`);
          },
        });
      } catch (e) {
        const msg = `retention (${policy}) failed after ${why}, training continues: ${e instanceof Error ? e.message : String(e)}`;
        notes.push(msg);
        p.note(`warning: ${msg}`);
      }
    });
  };
  return { apply, settled: () => chain, notes };
}

export interface SuperviseParams {
  config: QwenClassifyConfig;
  outputDir: string;
  eventsPath: string;
  pollMs: number;
  watcher: Watcher;
  control: StopControl;
  pusher: BackgroundPusher;
  retention: RetentionModule | null;
  log: (text: string) => void;
  /** Starts torchrun (called once the event tail is in place). */
  start: () => Supervised;
}

export interface SuperviseResult {
  /** null: stopped before torchrun started. */
  exit: ChildExit | null;
  retentionNotes: string[];
}

/** Runs torchrun to its end while following its events; then the last retention and pushes. */
export async function superviseTraining(p: SuperviseParams): Promise<SuperviseResult> {
  const { watcher, control, pusher } = p;
  let bestPath: string | null = null;
  const retention = createRetentionRunner({
    config: p.config,
    outputDir: p.outputDir,
    retention: p.retention,
    // pending pushes still read their checkpoint: keep it until they are done
    protectedPaths: () => [bestPath, ...pusher.pendingPaths()].filter((x): x is string => typeof x === "string"),
    note: (l) => watcher.note(l),
  });
  let startAt = 0;
  try {
    startAt = statSync(p.eventsPath).size; // resume/re-run: only this launch's events
  } catch {
    startAt = 0;
  }
  const tail = tailEvents({
    path: p.eventsPath,
    startAt,
    pollMs: p.pollMs,
    onEvent: (ev: AnyEvent) => {
      watcher.onEvent(ev);
      if (ev.event === "checkpoint") {
        const c = ev as CheckpointEvent;
        if (c.is_best) bestPath = c.path;
        pusher.onCheckpoint(c);
        retention.apply(`checkpoint-${c.step}`);
      } else if (ev.event === "end") {
        const b = (ev as { best_checkpoint?: string | null }).best_checkpoint;
        if (typeof b === "string") bestPath = b;
      }
    },
    onBadLine: (b) => p.log(`launcher: ${p.eventsPath}:${b.lineNo}: not an event (${b.error})\n`),
    onError: (e) => watcher.note(`warning: ${e instanceof Error ? e.message : String(e)}`),
  });
  control.phase = "train";
  if (control.aborted) {
    await tail.stop();
    return { exit: null, retentionNotes: retention.notes };
  }
  control.current = p.start();
  const exit = await control.current.exited;
  await tail.stop();
  control.phase = "done";
  const end = watcher.state.end;
  if (end && end.status !== "failed") retention.apply("the end of training");
  await retention.settled();
  if (pusher.mode !== "none") {
    watcher.note("waiting for the Hub pushes to finish ...");
    for (const report of await pusher.drain()) watcher.note(formatPushReport(report).trimEnd());
    retention.apply("the Hub pushes");
    await retention.settled();
  }
  return { exit, retentionNotes: retention.notes };
}

export const defaultRetention: RetentionModule = { applyRetention: applyRetentionPolicy };
