// Launches a training run and sees it through: output_dir checks, resolved_config.json and
// ds_config.json, demo assets, torchrun in its own process group, live progress from the event
// stream, retention as checkpoints land, the stop protocol on Ctrl-C, and the final summary.
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { applyRetention as applyRetentionPolicy, defaultPolicy } from "../checkpoints/retention.ts";
import { tailEvents, type AnyEvent } from "../events/tail.ts";
import type { CheckpointEvent, ErrorEvent } from "../events/types.ts";
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { prepareModelSource } from "../hub/model_source.ts";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import { preflight, type PreflightParams } from "../preflight/disk.ts";
import { checkOutputDir } from "../preflight/output_dir.ts";
import { worldSizeFromArgv } from "./command.ts";
import { createBackgroundPusher, type BackgroundPusher } from "../hub/background.ts";
import { formatReport as formatPushReport } from "../hub/push.ts";
import { ProcessTree } from "./process_tree.ts";
import { buildSummary, formatSummary, type RunStatus, type RunSummary } from "./summary.ts";
import { createWatcher, type OutStream, type Watcher } from "./watch.ts";

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

export type SpawnFn = (command: string, args: string[], options: SpawnOptions) => ChildProcess;

export interface ProcessSignals {
  on(event: "SIGINT" | "SIGTERM" | "exit", listener: (...args: unknown[]) => void): unknown;
  off(event: "SIGINT" | "SIGTERM" | "exit", listener: (...args: unknown[]) => void): unknown;
}

export interface LaunchSpec {
  /** The torchrun argument list (argv[0] is the program). */
  argv: string[];
  /** Environment for the child (merged over process.env); passed through, never written anywhere. */
  env: Record<string, string>;
  /** Python for `-m qc_engine.demo_assets`; default: derived from argv[0]. */
  python?: string;
}

/** The parts of the config the launcher reads directly (a full resolved config is one). */
export interface RunConfig {
  training: {
    output_dir: string;
    save_all_checkpoints?: boolean;
    save_total_limit?: number;
    best_model_tracking?: { enabled?: boolean };
    checkpoint?: { retention?: string };
  };
}

export interface RunParams {
  /** The fully resolved config (the disk preflight reads most of it). */
  config: QwenClassifyConfig;
  /** Injected for tests; default lib/hub/model_source.ts (a Hub id: check, download once, record). */
  prepareModelSource?: typeof prepareModelSource;
  overrides: unknown[];
  warnings?: string[];
  configHash: string;
  sourceFile: string | null;
  launch: LaunchSpec;
  dsConfig: unknown;
  outputDir: string;
  resume?: boolean;
  overwrite?: boolean;
  allowLowDisk?: boolean;
  spawn?: SpawnFn;
  stdout?: OutStream;
  stderr?: OutStream;
  /** Draw a bar (default: stderr.isTTY). */
  tty?: boolean;
  /** Clock in ms since the epoch. */
  now?: () => number;
  processSignals?: ProcessSignals;
  /** Event-file poll interval (ms). */
  pollMs?: number;
  /** Free space probe for the pre-launch disk preflight (lib/preflight; tests inject one). */
  statfs?: PreflightParams["statfs"];
  /** Retention (default: lib/checkpoints/retention.ts; null: none, for tests of other parts). */
  retention?: RetentionModule | null;
  /** Hub pushes as checkpoints land (default: from config.hub; tests inject one with a local Hub). */
  pusher?: BackgroundPusher;
}

export interface RunResult {
  exitCode: number;
  status: RunStatus;
  summary: RunSummary;
}

const SECRET_ENV = ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN", "WANDB_API_KEY"];
const STOP_FILE = ".stop_requested";
export const STOP_MESSAGE = "stopping after the current step and saving a checkpoint (Ctrl-C again to abort)";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** Secret values present in the environment (long enough to be worth redacting). */
export function secretValues(env: Record<string, string | undefined>): string[] {
  return SECRET_ENV.map((k) => env[k]).filter((v): v is string => typeof v === "string" && v.length >= 6);
}

export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join("***");
  return out;
}

/** Python next to torchrun (same venv), or argv[0] when it already is a python. */
export function pythonFor(argv: string[]): string {
  const prog = argv[0] ?? "python3";
  if (/^python[0-9.]*$/.test(basename(prog))) return prog;
  if (prog.includes("/")) {
    for (const name of ["python", "python3"]) {
      const candidate = join(dirname(prog), name);
      if (existsSync(candidate)) return candidate;
    }
  }
  return "python3";
}

/** The first `exitcode : N` of torchrun's failure report (the root cause), if any. */
export function torchrunRootExitCode(log: string): number | null {
  const at = log.lastIndexOf("Root Cause");
  const m = /exitcode\s*:\s*(-?\d+)/.exec(at >= 0 ? log.slice(at) : log);
  return m ? Number(m[1]) : null;
}

function lastLines(path: string, n: number): string[] {
  try {
    const lines = readFileSync(path, "utf8").split("\n");
    while (lines.length && lines[lines.length - 1] === "") lines.pop();
    return lines.slice(-n);
  } catch {
    return [];
  }
}

/**
 * Engine lines that only repeat an event the watcher already prints (or tqdm noise): they stay in
 * train.log but are not echoed to the terminal twice. A format change only costs a duplicate line.
 */
export const ENGINE_MIRROR_LINE = /^(step \d+\/\d+ \||eval step \d+ \(|checkpoint checkpoint-\d+ saved|Writing model shards|Loading weights:)/;

/**
 * Hides torchrun's own failure report (the "failed (exitcode: N)" line, its ChildFailedError
 * traceback and the "Root Cause" table) from the terminal: the launcher says the same in one
 * line. The report stays in train.log and is shown from there when no engine message explains
 * the failure.
 */
export class TorchrunReportFilter {
  private hiding = false;
  private sawRootCause = false;
  keep(line: string): boolean {
    if (!this.hiding && /elastic\/multiprocessing\/api\.py:\d+\] failed \(exitcode: -?\d+\)/.test(line)) {
      this.hiding = true;
      this.sawRootCause = false;
      return false;
    }
    if (!this.hiding) return true;
    if (/^Root Cause/.test(line)) this.sawRootCause = true;
    else if (this.sawRootCause && /^=+\s*$/.test(line)) this.hiding = false;
    return false;
  }
}

/** Splits child output into lines, redacts secrets, and writes each to every sink. */
class LineTee {
  private pending = "";
  constructor(
    private readonly sinks: ((text: string) => void)[],
    private readonly secrets: string[],
    /** Sinks that get only the lines this keeps. */
    private readonly filtered: { sink: (text: string) => void; keep: (line: string) => boolean }[] = [],
  ) {}
  write(chunk: Buffer | string): void {
    this.pending += chunk.toString();
    const nl = this.pending.lastIndexOf("\n");
    if (nl < 0) return;
    const complete = this.pending.slice(0, nl + 1);
    this.pending = this.pending.slice(nl + 1);
    this.emit(complete);
  }
  flush(): void {
    if (this.pending) this.emit(this.pending + "\n");
    this.pending = "";
  }
  private emit(text: string): void {
    const clean = redact(text, this.secrets);
    for (const s of this.sinks) s(clean);
    if (this.filtered.length === 0) return;
    const lines = clean.split("\n");
    lines.pop(); // text always ends with a newline
    for (const f of this.filtered) {
      const kept = lines.filter(f.keep);
      if (kept.length) f.sink(kept.join("\n") + "\n");
    }
  }
}

/** What --overwrite removes: only the entries a run writes, never anything else in output_dir. */
function clearRun(outputDir: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(outputDir).sort()) {
    if (
      /^checkpoint-\d+$/.test(name) ||
      /^\.checkpoint-\d+\./.test(name) ||
      ["logs", "resolved_config.json", "ds_config.json", "best_checkpoint.json", STOP_FILE].includes(name)
    ) {
      rmSync(join(outputDir, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
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


// ---------------------------------------------------------------------------------------------
// Supervised child: spawn detached, tee output, wait for exit, never leave a process behind
// ---------------------------------------------------------------------------------------------

interface Supervised {
  child: ChildProcess;
  tree: ProcessTree | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function supervise(
  spawnFn: SpawnFn,
  command: string,
  args: string[],
  env: Record<string, string>,
  tee: LineTee,
): Supervised {
  const child = spawnFn(command, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const tree = typeof child.pid === "number" ? new ProcessTree(child.pid) : null;
  child.stdout?.on("data", (d) => tee.write(d));
  child.stderr?.on("data", (d) => tee.write(d));
  // Workers live in their own sessions: remember them while they run.
  const timer = setInterval(() => tree?.snapshot(), 1000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    let done = false;
    const settle = async (r: { code: number | null; signal: NodeJS.Signals | null }) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      tree?.killAll("SIGKILL"); // anything the child left behind
      // Let the pipes drain; a surviving grandchild could hold them open, so never wait forever.
      await Promise.race([
        new Promise<void>((r2) => (child.stdout?.readableEnded !== false && child.stderr?.readableEnded !== false ? r2() : child.once("close", () => r2()))),
        new Promise<void>((r2) => setTimeout(r2, 1500)),
      ]);
      child.stdout?.destroy();
      child.stderr?.destroy();
      tee.flush();
      res(r);
    };
    child.once("error", (err) => {
      tee.write(`failed to start ${command}: ${err.message}\n`);
      void settle({ code: 127, signal: null });
    });
    child.once("exit", (code, signal) => void settle({ code, signal }));
  });
  return { child, tree, exited };
}

// ---------------------------------------------------------------------------------------------
// runTraining
// ---------------------------------------------------------------------------------------------

export async function runTraining(params: RunParams): Promise<RunResult> {
  const spawnFn = params.spawn ?? (nodeSpawn as unknown as SpawnFn);
  const stdout: OutStream = params.stdout ?? process.stdout;
  const stderr: OutStream = params.stderr ?? process.stderr;
  const now = params.now ?? Date.now;
  const signals: ProcessSignals = params.processSignals ?? (process as unknown as ProcessSignals);
  const outputDir = resolve(params.outputDir);
  const config = params.config;
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...params.launch.env };
  const secrets = secretValues(env);
  const startedAt = now();

  // --- 1. output_dir: refuse a different config's checkpoints (lib/preflight), then create ------
  const previous = checkOutputDir({ outputDir, configHash: params.configHash, resume: params.resume, overwrite: params.overwrite });
  mkdirSync(outputDir, { recursive: true });
  if (params.overwrite && !params.resume) {
    const removed = clearRun(outputDir);
    if (removed.length) stderr.write(`overwrite: removed ${removed.join(", ")} from ${outputDir}\n`);
  } else if (previous.checkpoints.length > 0 && !params.resume) {
    stderr.write(
      `note: ${outputDir} already holds ${previous.checkpoints.length} checkpoint(s) of this config; this run starts from step 0 ` +
        `(pass --resume to continue from the newest)\n`,
    );
  }
  const stopFile = join(outputDir, STOP_FILE);
  rmSync(stopFile, { force: true }); // a stale request from an earlier run must not stop this one

  // --- 2. resolved_config.json + ds_config.json (atomic, no secrets) -------------------------
  const resolvedPath = join(outputDir, "resolved_config.json");
  const dsPath = join(outputDir, "ds_config.json");
  const resolvedDoc = {
    config,
    overrides: params.overrides,
    warnings: params.warnings ?? [],
    config_hash: params.configHash,
    source_file: params.sourceFile,
    command: params.launch.argv,
    created_at: new Date(startedAt).toISOString(),
  };
  writeFileAtomic(resolvedPath, redact(JSON.stringify(resolvedDoc, null, 2) + "\n", secrets));
  writeFileAtomic(dsPath, redact(JSON.stringify(params.dsConfig, null, 2) + "\n", secrets));
  // A Hub model id: downloaded once here (not per rank), resolved_config.json pointed at the snapshot (lib/hub/model_source.ts).
  await (params.prepareModelSource ?? prepareModelSource)({ config, resolvedPath, env, log: (l) => stderr.write(`${l}\n`) });

  // --- 3. log, watcher, signals --------------------------------------------------------------
  const logDir = join(outputDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, "train.log");
  const eventsPath = join(logDir, "events.jsonl");
  const logFd = openSync(logPath, "a");
  const toLog = (text: string) => {
    try {
      writeSync(logFd, text);
    } catch {
      // a full disk must not break the launcher; the engine reports it
    }
  };
  const watcher: Watcher = createWatcher({ outputDir, stderr, tty: params.tty });
  const toStderr = (text: string) => void stderr.write(text);
  // With a bar on the terminal, engine output goes to the log only (printed on failure).
  const torchrunReport = new TorchrunReportFilter();
  const keepOnTerminal = (line: string) =>
    torchrunReport.keep(line) && !ENGINE_MIRROR_LINE.test(line.replace(/^.*\r/, ""));
  const tee = new LineTee([toLog], secrets, watcher.tty ? [] : [{ sink: toStderr, keep: keepOnTerminal }]);
  toLog(`==== ${new Date(startedAt).toISOString()} launch: ${redact(params.launch.argv.join(" "), secrets)}\n`);

  let current: Supervised | null = null;
  let stopRequests = 0;
  let aborted = false;
  const onSignal = () => {
    stopRequests += 1;
    if (stopRequests === 1 && phase === "train") {
      watcher.note(STOP_MESSAGE);
      try {
        writeFileSync(stopFile, `${new Date(now()).toISOString()}\n`);
      } catch (e) {
        watcher.note(`could not create ${stopFile}: ${(e as Error).message}; Ctrl-C again to abort`);
      }
      return;
    }
    aborted = true;
    watcher.note("aborting: killing the training processes (only a .checkpoint-N.tmp can be left, never a checkpoint-N)");
    current?.tree?.killAll("SIGKILL");
  };
  const onExit = () => current?.tree?.killAll("SIGKILL");
  let phase: "assets" | "train" | "done" = "assets";
  signals.on("SIGINT", onSignal);
  signals.on("SIGTERM", onSignal);
  signals.on("exit", onExit);

  let status: RunStatus = "failed";
  let exitCode = 1;
  let reason: string | null = null;
  const retentionNotes: string[] = [];
  let bestPath: string | null = null;

  try {
    // --- 4. demo assets (before the disk check: they create the model folder) ----------------
    if (config.demo?.build_tiny_model || config.demo?.build_digits_dataset) {
      const python = params.launch.python ?? pythonFor(params.launch.argv);
      const args = ["-m", "qc_engine.demo_assets", "--resolved", resolvedPath];
      stderr.write("building demo assets (tiny model / digits data set) ...\n");
      const demoTee = new LineTee([toLog, toStderr], secrets);
      current = supervise(spawnFn, python, args, env, demoTee);
      const r = await current.exited;
      current = null;
      if (aborted || stopRequests > 0) {
        status = "interrupted";
        exitCode = 130;
        reason = "stopped while building the demo assets";
        return finish();
      }
      if (r.code !== 0) {
        exitCode = r.code === 2 ? 2 : 1;
        reason = `building the demo assets failed (exit ${r.code ?? r.signal}): see ${logPath}`;
        return finish();
      }
    }

    // --- 5. disk preflight: refuses (UserError, exit 2) unless the checkpoints fit or allowLowDisk
    const disk = await preflight({
      config: { ...config, training: { ...config.training, output_dir: outputDir } },
      allowLowDisk: params.allowLowDisk,
      statfs: params.statfs,
      worldSize: worldSizeFromArgv(params.launch.argv),
      // tasks/train.ts sets DS_ACCELERATOR=cpu when it found no GPU; otherwise preflight counts them
      hasGpu: env.DS_ACCELERATOR === "cpu" ? false : undefined,
      resume: params.resume,
      env,
    });
    if (disk.overridden) stderr.write("warning: not enough disk space for the checkpoints of this run (--allow-low-disk: going ahead)\n");
    stderr.write(disk.text);

    // --- 6. Hub pushes in the background (hub.push); refuses before launch without repo/token ---
    const pusher = params.pusher ?? createBackgroundPusher({ config: config as never, outputDir, log: (l) => watcher.note(l) });

    // --- 7. launch torchrun in its own process group, follow the events -------------------------
    const retention: RetentionModule | null = params.retention !== undefined ? params.retention : { applyRetention: applyRetentionPolicy };
    const policy = defaultPolicy(config);
    const slimKeep = config.training.checkpoint?.keep_optimizer_states ?? 0;
    let retentionChain: Promise<void> = Promise.resolve();
    const applyRetention = (why: string) => {
      if (!retention || (policy === "all" && slimKeep === 0)) return;
      retentionChain = retentionChain.then(() => {
        try {
          retention.applyRetention({
            outputDir,
            policy,
            // pending pushes still read their checkpoint: keep it until they are done
            bestPath: [bestPath, ...pusher.pendingPaths()].filter((p): p is string => typeof p === "string"),
            slimKeep: slimKeep > 0 ? slimKeep : undefined,
            // Only what changes something (deletions, slimming, warnings): "keep" rows are noise.
            log: (line) => {
              if (!/^[^:]+: keep\b/.test(line)) watcher.note(`retention (${policy}): ${line}`);
            },
          });
        } catch (e) {
          const msg = `retention (${policy}) failed after ${why}, training continues: ${e instanceof Error ? e.message : String(e)}`;
          retentionNotes.push(msg);
          watcher.note(`warning: ${msg}`);
        }
      });
    };

    let eventsOffset = 0;
    try {
      eventsOffset = statSync(eventsPath).size; // resume/re-run: only this launch's events
    } catch {
      eventsOffset = 0;
    }
    const tail = tailEvents({
      path: eventsPath,
      startAt: eventsOffset,
      pollMs: params.pollMs ?? 250,
      onEvent: (ev: AnyEvent) => {
        watcher.onEvent(ev);
        if (ev.event === "checkpoint") {
          const c = ev as CheckpointEvent;
          if (c.is_best) bestPath = c.path;
          pusher.onCheckpoint(c);
          applyRetention(`checkpoint-${c.step}`);
        } else if (ev.event === "end") {
          const b = (ev as { best_checkpoint?: string | null }).best_checkpoint;
          if (typeof b === "string") bestPath = b;
        }
      },
      onBadLine: (b) => toLog(`launcher: ${eventsPath}:${b.lineNo}: not an event (${b.error})\n`),
      onError: (e) => watcher.note(`warning: ${e instanceof Error ? e.message : String(e)}`),
    });

    phase = "train";
    if (aborted) {
      await tail.stop();
      status = "interrupted";
      exitCode = 130;
      reason = "stopped before training started";
      return finish();
    }
    const [cmd, ...args] = params.launch.argv;
    if (!cmd) throw new UserError("empty launch command", { exitCode: 1 });
    current = supervise(spawnFn, cmd, args, env, tee);
    const result = await current.exited;
    await tail.stop();
    phase = "done";
    const end = watcher.state.end;
    if (end && end.status !== "failed") applyRetention("the end of training");
    await retentionChain;
    if (pusher.mode !== "none") {
      watcher.note("waiting for the Hub pushes to finish ...");
      for (const report of await pusher.drain()) watcher.note(formatPushReport(report).trimEnd());
      applyRetention("the Hub pushes");
      await retentionChain;
    }

    // --- 8. exit code and status ----------------------------------------------------------------
    const logText = (() => {
      try {
        return readFileSync(logPath, "utf8");
      } catch {
        return "";
      }
    })();
    const lastError: ErrorEvent | undefined = watcher.state.errors[watcher.state.errors.length - 1];
    if (end?.status === "completed" && result.code === 0 && !aborted) {
      status = "completed";
      exitCode = 0;
    } else if (end?.status === "interrupted" || aborted) {
      status = "interrupted";
      exitCode = 130;
      reason = aborted
        ? "aborted by a second Ctrl-C: the step in progress was lost"
        : `stopped on request after saving a checkpoint at step ${end?.step}`;
    } else {
      status = "failed";
      const root = torchrunRootExitCode(logText);
      // The engine puts its exit code in `end`/`error` (torchrun turns every failure into 1).
      const endCode = typeof end?.exit_code === "number" ? (end.exit_code as number) : null;
      const engineCode = endCode ?? (typeof lastError?.exit_code === "number" ? lastError.exit_code : root);
      exitCode = engineCode !== null && engineCode > 0 ? engineCode : result.code && result.code > 0 ? result.code : 1;
      if (lastError) reason = `the engine failed: ${lastError.message}`;
      else if (!end && root !== null && root < 0) reason = `worker died (killed by signal ${-root}): see ${logPath}`;
      else if (!end) reason = `worker died: see ${logPath}`;
      else reason = `training ended with status ${end.status}: see ${logPath}`;
      if (end?.status === "completed") reason = `training completed but torchrun exited with ${result.code ?? result.signal}: see ${logPath}`;
    }
    // The log's last lines, unless the engine already said what went wrong on the terminal.
    if (status === "failed" && (!lastError || watcher.tty)) {
      const tailLines = lastLines(logPath, 20);
      if (tailLines.length) {
        watcher.note(`last lines of ${logPath}:`);
        for (const l of tailLines) watcher.note(`  | ${l}`);
      }
    }
    return finish();
  } finally {
    signals.off("SIGINT", onSignal);
    signals.off("SIGTERM", onSignal);
    signals.off("exit", onExit);
    current?.tree?.killAll("SIGKILL");
    watcher.stop();
    tee.flush();
    try {
      closeSync(logFd);
    } catch {
      // already closed
    }
    rmSync(stopFile, { force: true });
  }

  function finish(): RunResult {
    watcher.stop();
    const st = watcher.state;
    const summary = buildSummary({
      status,
      exitCode,
      outputDir,
      wallSeconds: (now() - startedAt) / 1000,
      reason: [reason, ...retentionNotes].filter(Boolean).join("; ") || null,
      lastStep: st.lastStep,
      totalSteps: st.start?.total_steps ?? null,
      end: st.end,
      evals: st.evals,
      checkpointEvents: st.checkpoints,
      metricName: config.training.best_model_tracking?.metric,
      trackingEnabled: config.training.best_model_tracking?.enabled,
      skipEvaluation: config.training.skip_evaluation,
      hubRepoId: config.hub?.repo_id,
      sourceFile: params.sourceFile,
    });
    if (status !== "completed" && reason) stderr.write(`error: ${reason}\n`);
    stdout.write(formatSummary(summary));
    return { exitCode, status, summary };
  }
}
