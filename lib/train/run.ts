// Launches a training run and sees it through, as six named stages (one file each):
//   1. inputs.ts     resolve and check: model, data, labels, output_dir, all in one report
//   2. preflight.ts  disk (and memory) preflight, Hub push readiness
//   3. run_files.ts  output_dir, resolved_config.json, ds_config.json, logs/  (the first write)
//   4. launch.ts     demo assets, then torchrun in its own process group
//   5. supervise.ts  Ctrl-C, events, retention, Hub pushes
//   6. finish.ts     status, exit code, summary
// Stages 1-2 write nothing: every refusal before launch leaves output_dir as it was.
import { spawn as nodeSpawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { prepareModelSource } from "../hub/model_source.ts";
import { demoAssetsToBuild } from "../config/demo.ts";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import type { PreflightParams } from "../preflight/disk.ts";
import type { MemoryCheck } from "../preflight/memory_inputs.ts";
import type { BackgroundPusher } from "../hub/background.ts";
import { decideOutcome, finishRun, showLogTail, type Outcome, type RunResult } from "./finish.ts";
import { checkRunInputs } from "./inputs.ts";
import { demoAssetsArgs, startChild, startTorchrun, type SpawnFn } from "./launch.ts";
import { ENGINE_MIRROR_LINE, LineTee, redact, secretValues, TorchrunReportFilter } from "./output.ts";
import { runPreflights } from "./preflight.ts";
import { explainNodeFailure, explainNodeStop, ownsRun, roleLine, type NodeInfo } from "./nodes.ts";
import { runFilePaths, writeRunFiles, type RunFiles } from "./run_files.ts";
import { defaultRetention, StopControl, superviseTraining, type ProcessSignals, type RetentionModule } from "./supervise.ts";
import { createWatcher, type OutStream, type Watcher } from "./watch.ts";

export { redact, secretValues, torchrunRootExitCode, TorchrunReportFilter, ENGINE_MIRROR_LINE } from "./output.ts";
export { STOP_MESSAGE, type ProcessSignals, type RetentionModule } from "./supervise.ts";
export type { SpawnFn } from "./launch.ts";
export type { RunResult } from "./finish.ts";

export interface LaunchSpec {
  /** The torchrun argument list (argv[0] is the program). */
  argv: string[];
  /** Environment for the child (merged over process.env); passed through, never written anywhere. */
  env: Record<string, string>;
  /** The project's Python (lib/util/python.ts), for `-m qc_engine.demo_assets`. */
  python: string;
}

export interface RunParams {
  /** The memory preflight's verdict (lib/preflight/memory_inputs.ts), computed by the caller (the dry run shows it too). */
  memory?: MemoryCheck;
  /** Launch even when the memory estimate says one GPU will not hold the run. */
  allowOomRisk?: boolean;
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
  /** Several nodes (--nnodes > 1): this node's place; only node 0's launcher owns the run files (lib/train/nodes.ts). */
  nodes?: NodeInfo | null;
}

/** What stages 4-6 share once the run files exist. */
interface Live {
  files: RunFiles;
  env: Record<string, string>;
  secrets: string[];
  watcher: Watcher;
  control: StopControl;
  toLog: (text: string) => void;
}

export async function runTraining(params: RunParams): Promise<RunResult> {
  const stderr: OutStream = params.stderr ?? process.stderr;
  const now = params.now ?? Date.now;
  const outputDir = resolve(params.outputDir);
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...params.launch.env };
  const startedAt = now();

  const owner = ownsRun(params.nodes);
  if (params.nodes) stderr.write(`${roleLine(params.nodes, outputDir)}\n`);
  if (!owner && params.overwrite) stderr.write("note: --overwrite is node 0's to carry out; ignored on this node\n");

  // 1-2: check everything, write nothing.
  const previous = checkRunInputs({ ...params, outputDir, python: params.launch.python, owner });
  let note: (line: string) => void = (l) => void stderr.write(l + "\n");
  const { pusher } = await runPreflights({ ...params, argv: params.launch.argv, outputDir, env, stderr, log: (l) => note(l), owner });

  // 3: the run is going to start.
  const files = runFilePaths(outputDir, params.nodes);
  const secrets = secretValues(env);
  const resolvedDoc = {
    config: params.config,
    overrides: params.overrides,
    warnings: params.warnings ?? [],
    config_hash: params.configHash,
    source_file: params.sourceFile,
    command: params.launch.argv,
    created_at: new Date(startedAt).toISOString(),
  };
  const trackingEnabled = params.config.training.best_model_tracking?.enabled !== false && !params.config.training.skip_evaluation;
  const releaseRunLock = writeRunFiles({ files, previous, resume: params.resume, overwrite: params.overwrite, resolvedDoc, dsConfig: params.dsConfig, secrets, stderr, command: params.launch.argv, trackingEnabled, now, nodes: params.nodes });
  try {
    return await launchAndSupervise(params, { files, env, secrets, startedAt, now, stderr, pusher, note: (fn) => (note = fn) });
  } finally {
    releaseRunLock();
  }
}

/** Stages 4-6, once the run files exist (and the run lock is held). */
async function launchAndSupervise(
  params: RunParams,
  s: { files: RunFiles; env: Record<string, string>; secrets: string[]; startedAt: number; now: () => number; stderr: OutStream; pusher: BackgroundPusher; note: (fn: (l: string) => void) => void },
): Promise<RunResult> {
  const { files, env, secrets, startedAt, now, stderr, pusher } = s;
  const outputDir = files.outputDir;
  const owner = ownsRun(params.nodes);
  // A Hub model id: downloaded once here (not per rank), resolved_config.json pointed at the snapshot (lib/hub/model_source.ts).
  // Several nodes: by node 0 only, into its cache; the other nodes load the path it recorded (a shared cache).
  if (owner) await (params.prepareModelSource ?? prepareModelSource)({ config: params.config, resolvedPath: files.resolvedPath, env, log: (l) => stderr.write(`${l}\n`) });

  const logFd = openSync(files.logPath, "a");
  const toLog = (text: string) => {
    try {
      writeSync(logFd, text);
    } catch {
      // a full disk must not break the launcher; the engine reports it
    }
  };
  const watcher = createWatcher({ outputDir, stderr, tty: params.tty });
  s.note((l) => watcher.note(l));
  const control = new StopControl({ signals: params.processSignals ?? (process as unknown as ProcessSignals), watcher, stopFile: files.stopFile, now });
  toLog(`==== ${new Date(startedAt).toISOString()} launch: ${redact(params.launch.argv.join(" "), secrets)}\n`);
  const live: Live = { files, env, secrets, watcher, control, toLog };
  let notes: string[] = [];
  let outcome: Outcome;
  try {
    // 4-5: demo assets, then torchrun under supervision.
    // The demo's tiny model and data are built by node 0 (into paths every node reads).
    outcome = (owner ? await buildDemoAssets(params, live) : null) ?? (await train(params, live, pusher, (n) => (notes = n)));
  } finally {
    control.dispose();
    watcher.stop();
    try {
      closeSync(logFd);
    } catch {
      // already closed
    }
    rmSync(files.stopFile, { force: true });
  }
  // 6
  showLogTail({ outcome, watcher, logPath: files.logPath });
  return finishRun({ outcome, notes, watcher, config: params.config, outputDir, wallSeconds: (now() - startedAt) / 1000, sourceFile: params.sourceFile, stdout: params.stdout ?? process.stdout, stderr });
}

/** Stage 4a: the demo's model and data (only when the config says they are generated and they are not there yet). null: go on. */
async function buildDemoAssets(params: RunParams, live: Live): Promise<Outcome | null> {
  // Checked here, not by the engine: a Python start that imports transformers only to find both built costs ~3 s a run.
  const wanted = demoAssetsToBuild({ config: params.config });
  if (!wanted.model && !wanted.data) return null;
  const stderr = params.stderr ?? process.stderr;
  stderr.write("building demo assets (tiny model / digits data set) ...\n");
  const tee = new LineTee([live.toLog, (t) => void stderr.write(t)], live.secrets);
  live.control.current = startChild(params.spawn ?? (nodeSpawn as unknown as SpawnFn), params.launch.python, demoAssetsArgs(live.files.resolvedPath), live.env, tee);
  const r = await live.control.current.exited;
  live.control.current = null;
  if (live.control.stopped) return { status: "interrupted", exitCode: 130, reason: "stopped while building the demo assets" };
  if (r.code !== 0) return { status: "failed", exitCode: r.code === 2 ? 2 : 1, reason: `building the demo assets failed (exit ${r.code ?? r.signal}): see ${live.files.logPath}` };
  return null;
}

/** Stages 4b-5: torchrun, supervised to its end; then its outcome. */
async function train(params: RunParams, live: Live, pusher: BackgroundPusher, setNotes: (n: string[]) => void): Promise<Outcome> {
  const { watcher, control, files } = live;
  // With a bar on the terminal, engine output goes to the log only (printed on failure).
  const torchrunReport = new TorchrunReportFilter();
  const keepOnTerminal = (line: string) => torchrunReport.keep(line) && !ENGINE_MIRROR_LINE.test(line.replace(/^.*\r/, ""));
  const stderr = params.stderr ?? process.stderr;
  const tee = new LineTee([live.toLog], live.secrets, watcher.tty ? [] : [{ sink: (t) => void stderr.write(t), keep: keepOnTerminal }]);
  const spawnFn = params.spawn ?? (nodeSpawn as unknown as SpawnFn);
  const r = await superviseTraining({
    config: params.config,
    outputDir: files.outputDir,
    eventsPath: files.eventsPath,
    pollMs: params.pollMs ?? 250,
    watcher,
    control,
    pusher,
    // several nodes: node 0's launcher alone prunes the shared output_dir
    retention: !ownsRun(params.nodes) ? null : params.retention !== undefined ? params.retention : defaultRetention,
    log: live.toLog,
    // QC_LAUNCHER_PID: the workers watch this process and stop (saving) when it dies unannounced
    // (kill -9, OOM killer): torchrun lives in its own process group, so nothing else would stop them.
    start: () => startTorchrun(spawnFn, params.launch.argv, {
      ...live.env,
      QC_LAUNCHER_PID: String(process.pid),
      // torchrun SIGKILLs its workers this long after forwarding a SIGTERM (default 30 s): let the engine's
      // own bound (training.stop_grace_seconds) decide, with a margin for the exit itself.
      TORCH_ELASTIC_SHUTDOWN_TIMEOUT: live.env.TORCH_ELASTIC_SHUTDOWN_TIMEOUT ?? String(Math.ceil(params.config.training.stop_grace_seconds) + 15),
    }, tee),
  });
  tee.flush();
  setNotes(r.retentionNotes);
  if (r.exit === null) return { status: "interrupted", exitCode: 130, reason: "stopped before training started" };
  const logText = (() => {
    try {
      return readFileSync(files.logPath, "utf8");
    } catch {
      return "";
    }
  })();
  const st = watcher.state;
  const outcome = decideOutcome({ exit: r.exit, end: st.end, lastError: st.errors[st.errors.length - 1], aborted: control.aborted, logText, logPath: files.logPath });
  // Several nodes: a rendezvous nobody else joined, or a lost node, said in words (with the fix) instead of a traceback.
  const nodeReason = !params.nodes
    ? null
    : outcome.status === "failed"
      ? explainNodeFailure({ nodes: params.nodes, logText })
      : outcome.exitCode === 143
        ? explainNodeStop({ nodes: params.nodes, step: st.end?.step ?? null })
        : null;
  return nodeReason ? { ...outcome, reason: nodeReason } : outcome;
}
