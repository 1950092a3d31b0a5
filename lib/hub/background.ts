// Hub pushes during training (hub.push: none | final | best | every_save). The launcher calls
// onCheckpoint for every `checkpoint` event and awaits drain() at the end. Pushes run one at a
// time in the background: training never waits on them, and a failed push never throws; it is
// reported with the command that finishes it later.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { listCheckpoints, readCheckpoint } from "../checkpoints/scan.ts";
import { UserError } from "../util/errors.ts";
import { checkpointTarget, checkRepoId, chooseBest, readResolvedConfig, type PushPlan } from "./plan.ts";
import { createLogProgress } from "./progress.ts";
import { DEFAULT_HUB_URL, describeError, executePush, resumeCommand, type PushReport } from "./push.ts";
import { redact, requireToken } from "./token.ts";

export type HubPushMode = "none" | "final" | "best" | "every_save";

export interface HubSettings {
  push?: HubPushMode;
  repo_id?: string;
  private?: boolean;
  endpoint?: string;
}

/** The `checkpoint` event fields the pusher reads (lib/events/types.ts CheckpointEvent). */
export interface CheckpointEventLike {
  step: number;
  path: string;
  is_final?: boolean;
  is_best?: boolean;
}

export interface BackgroundPusherParams {
  /** The resolved config (only `hub` is read). */
  config: { hub?: HubSettings };
  outputDir: string;
  /** Default: HF_TOKEN / the usual token file (a UserError when hub.push is on and none is found). */
  token?: string | null;
  /** Default: config hub.endpoint, else https://huggingface.co. */
  hubUrl?: string;
  log?: (line: string) => void;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  retries?: number;
  baseDelayMs?: number;
  env?: Record<string, string | undefined>;
}

export interface BackgroundPusher {
  readonly mode: HubPushMode;
  onCheckpoint(event: CheckpointEventLike): void;
  /** Checkpoint folders a queued or running push still reads: retention should keep them for now. */
  pendingPaths(): string[];
  /** Waits for every push (plus the final refresh of main); never throws. */
  drain(): Promise<PushReport[]>;
}

interface Job {
  path: string;
  step: number;
  branch: string;
  reason: string;
}

export function createBackgroundPusher(params: BackgroundPusherParams): BackgroundPusher {
  const hub = params.config.hub ?? {};
  const mode: HubPushMode = hub.push ?? "none";
  const log = params.log ?? ((line: string) => void process.stderr.write(line + "\n"));
  const outputDir = resolve(params.outputDir);
  if (mode === "none") {
    return { mode, onCheckpoint() {}, pendingPaths: () => [], drain: async () => [] };
  }
  if (!hub.repo_id) {
    throw new UserError(`hub.push is '${mode}' but hub.repo_id is empty`, {
      hint: "set hub.repo_id: namespace/name (e.g. --set hub.repo_id=me/food101-qwen), or hub.push: none",
    });
  }
  const repo = checkRepoId(hub.repo_id, "hub.repo_id");
  const token = params.token ?? requireToken({ env: params.env }).token;
  const hubUrl = (params.hubUrl ?? hub.endpoint ?? DEFAULT_HUB_URL).replace(/\/+$/, "");
  const progress = createLogProgress(log);

  const reports: PushReport[] = [];
  const queue: Job[] = [];
  let running: Job | null = null;
  let chain: Promise<void> = Promise.resolve();
  let refused: string | null = null; // set once the Hub refused the token: later pushes are skipped

  const failedReport = (job: Job, error: string, withResume = true): PushReport => ({
    repo,
    hubUrl,
    repoCreated: false,
    ok: false,
    retries: 0,
    targets: [
      {
        checkpoint: `checkpoint-${job.step}`,
        checkpointPath: job.path,
        step: job.step,
        branch: job.branch,
        status: "failed",
        filesChanged: [],
        filesUnchanged: 0,
        filesDeleted: [],
        lfsBytesSent: 0,
        error,
        ...(withResume ? { resumeCommand: resumeCommand({ target: { checkpointPath: job.path, branch: job.branch, createPr: false }, repo, hubUrl }) } : {}),
      },
    ],
  });

  async function run(job: Job): Promise<PushReport | null> {
    if (refused) return failedReport(job, `not pushed: ${refused}`);
    if (!existsSync(resolve(job.path, "training_info.json"))) {
      return failedReport(job, `checkpoint-${job.step} no longer exists (removed by retention before it could be pushed)`, false);
    }
    try {
      const checkpoint = readCheckpoint(job.path);
      const resolved = readResolvedConfig(outputDir);
      const plan: PushPlan = {
        repo,
        private: hub.private,
        outputDir,
        targets: [checkpointTarget(checkpoint, job.branch, { repo, resolved, createPr: false, reason: job.reason })],
        skipped: [],
      };
      return await push(plan);
    } catch (err) {
      const message = onPushError(err, "the rest of the run");
      return failedReport(job, message);
    }
  }

  /** One executePush with this pusher's settings. */
  function push(plan: PushPlan): Promise<PushReport> {
    return executePush({ plan, token, hubUrl, fetch: params.fetch, sleep: params.sleep, retries: params.retries, baseDelayMs: params.baseDelayMs, progress });
  }

  /** A safe message for a failed push; a refused token disables every later push. */
  function onPushError(err: unknown, disabledFor: string): string {
    const message = err instanceof UserError ? redact(err.message, token) : describeError(err, token);
    if ((err as { name?: string }).name === "HubAuthError") {
      refused = `the Hub refused the token (${message})`;
      log(`[hub] pushes disabled for ${disabledFor}: ${message}`);
    }
    return message;
  }

  function schedule(): void {
    chain = chain.then(async () => {
      const job = queue.shift();
      if (!job) return;
      running = job;
      try {
        const report = await run(job);
        if (report) {
          reports.push(report);
          for (const t of report.targets) {
            if (t.status === "failed") log(`[hub] push of ${t.checkpoint} to ${repo}@${t.branch} failed: ${t.error}${t.resumeCommand ? `\n[hub]   finish it later with: ${t.resumeCommand}` : ""}`);
          }
        }
      } catch (err) {
        // run() catches everything; this is a last guard so the chain never rejects.
        reports.push(failedReport(job, describeError(err, token)));
      } finally {
        running = null;
      }
    });
  }

  function enqueue(job: Job): void {
    // A queued push to the same branch that has not started yet is superseded by the newer one.
    const i = queue.findIndex((q) => q.branch === job.branch);
    if (i >= 0) queue.splice(i, 1, job);
    else {
      queue.push(job);
      schedule();
    }
  }

  // Check the token and create the repo now, so that a refused token shows within seconds of the
  // start, not at the first checkpoint hours later.
  chain = chain.then(async () => {
    try {
      await push({ repo, private: hub.private, outputDir, targets: [], skipped: [] });
    } catch (err) {
      const message = onPushError(err, "this run");
      if (!refused) log(`[hub] cannot reach ${hubUrl} yet (${message}); pushes will try again as checkpoints land`);
    }
  });

  let sawBest = false;
  let finalEvent: CheckpointEventLike | null = null;

  return {
    mode,
    onCheckpoint(event) {
      try {
        const path = resolve(outputDir, event.path);
        if (event.is_final) finalEvent = { ...event, path };
        if (mode === "every_save") enqueue({ path, step: event.step, branch: `checkpoint-${event.step}`, reason: "every saved checkpoint on its own branch" });
        else if (mode === "best" && event.is_best) {
          sawBest = true;
          enqueue({ path, step: event.step, branch: "main", reason: "the best checkpoint so far" });
        } else if (mode === "final" && event.is_final) enqueue({ path, step: event.step, branch: "main", reason: "the final checkpoint" });
      } catch (err) {
        log(`[hub] ignored a checkpoint event: ${describeError(err, token)}`);
      }
    },
    pendingPaths() {
      return [...(running ? [running.path] : []), ...queue.map((j) => j.path)];
    },
    async drain() {
      try {
        // main at the end: refreshed so that it carries evaluations made after the checkpoint landed.
        if (mode === "final") {
          if (finalEvent) enqueue({ path: finalEvent.path, step: finalEvent.step, branch: "main", reason: "the final checkpoint" });
          else log("[hub] the run ended without a final checkpoint: nothing pushed to main");
        } else {
          let checkpoints: ReturnType<typeof listCheckpoints> = [];
          try {
            checkpoints = listCheckpoints({ outputDir }).filter((c) => c.info?.has_hf_model !== false);
          } catch {
            checkpoints = [];
          }
          const best = chooseBest({ checkpoints, outputDir, resolved: readResolvedConfig(outputDir) });
          if (best && (mode === "every_save" || sawBest || best.checkpoint.info?.is_final)) {
            enqueue({ path: best.checkpoint.path, step: best.checkpoint.step, branch: "main", reason: best.reason });
          } else if (mode === "best" && !best) log("[hub] no checkpoint to push to main");
        }
      } catch (err) {
        log(`[hub] could not choose the checkpoint for main: ${describeError(err, token)}`);
      }
      await chain.catch(() => {});
      return reports.slice();
    },
  };
}
