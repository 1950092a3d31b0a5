// Post-training evaluation: one checkpoint or a sweep over every complete checkpoint of a run,
// in ONE engine process (the evaluation set is preprocessed once). Then the readable table
// (one checkpoint) or the leaderboard, eval_summary.json/.png and the recommendation (sweep),
// and optionally retention best:K.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, resolve } from "node:path";
import { UserError } from "../util/errors.ts";
import { listCheckpoints, readCheckpoint, type CheckpointInfo } from "../checkpoints/scan.ts";
import { applyRetention as defaultApplyRetention, type ApplyParams, type RetentionResult } from "../checkpoints/retention.ts";
import { lockCheckpoint as defaultLockCheckpoint, type CheckpointLockParams } from "../checkpoints/lock.ts";
import { resolveConfig } from "../config/resolve.ts";
import {
  buildEvaluateArgv,
  defaultPython,
  engineEnv,
  runEvaluateEngine,
  type SpawnEngine,
} from "./engine.ts";
import { createEvalProgress, type EvalProgress } from "./progress.ts";
import type { EvalEngineEvent, FullMetrics, SummaryEvent } from "./protocol.ts";
import { formatLeaderboard, rankCheckpoints, recommend, type RankedRow, type Recommendation, type SweepRow } from "./leaderboard.ts";
import { buildEvalSummary, writeEvalSummary, type EvalSummary } from "./summary.ts";
import { formatMetricsTable } from "./table.ts";

export interface EvaluateParams {
  /** One checkpoint-N folder (exclusive with `all`). */
  checkpoint?: string;
  /** A run's output_dir: every complete checkpoint in it. */
  all?: string;
  /** resolved_config.json of a run, or a YAML config; default: OUT/resolved_config.json. */
  config?: string;
  /** Evaluation JSONL; default: the config's data.val_jsonl. */
  evalData?: string;
  force?: boolean;
  keepBest?: number;
  nprocPerNode?: number;
  batchSize?: number;
  /** The sweep's image cache budgets per process (MB): RAM, spill file. */
  cacheMb?: number;
  cacheDiskMb?: number;
  // --- injected side effects ---
  python?: string;
  spawn?: SpawnEngine;
  /** The eval_summary.png plot's process (default: the runner's spawnEngine). */
  plotSpawn?: SpawnEngine;
  applyRetention?: (p: ApplyParams) => RetentionResult;
  /** Marks each checkpoint in use (purpose "evaluate") while the engine runs; default lib/checkpoints/lock.ts. */
  lockCheckpoint?: (p: CheckpointLockParams) => () => void;
  progress?: EvalProgress;
  /** Engine stderr / stray stdout lines (default: dropped unless QC_VERBOSE=1, shown on failure). */
  log?: (line: string) => void;
  env?: Record<string, string | undefined>;
  cwd?: string;
  now?: () => Date;
}

export interface CheckpointOutcome {
  name: string;
  path: string;
  step: number;
  status: "evaluated" | "skipped";
  source: "hf_model" | "adapter" | "deepspeed" | null;
  metrics: FullMetrics;
  trainLoss: number | null;
  seconds: number | null;
  imagesPerS: number | null;
  evalResults: string;
  predictions: string;
}

export interface EvaluateResult {
  mode: "single" | "sweep";
  outputDir: string;
  data: string;
  dataSha256: string;
  evalKey: string;
  numSamples: number;
  worldSize: number;
  metric: string;
  greaterIsBetter: boolean;
  checkpoints: CheckpointOutcome[];
  preprocessSeconds: number;
  totalSeconds: number;
  /** single: the readable metrics table; sweep: the leaderboard. */
  text: string;
  ranked?: RankedRow[];
  recommendation?: Recommendation;
  summary?: EvalSummary;
  summaryFiles?: { json: string; png: string };
  retention?: RetentionResult;
  /** --all: checkpoint-N folders without training_info.json, left alone. */
  incomplete?: string[];
}

interface RunConfig {
  /** Path of a resolved_config.json the engine reads. */
  resolvedPath: string;
  config: any;
  /** A temporary resolved file we wrote (a YAML --config), removed at the end. */
  tempDir: string | null;
}

function readJson(path: string, what: string): any {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new UserError(`${what} ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** --config: a run's resolved_config.json, or a YAML resolved like tasks/train.ts does. */
export function loadRunConfig(p: { config?: string; outputDir: string; cwd: string; checkpointDir?: string }): RunConfig {
  if (!p.config) {
    // A self-contained checkpoint carries its own copy: a lone copied checkpoint-N has no OUT/ beside it.
    const own = p.checkpointDir ? join(p.checkpointDir, "resolved_config.json") : null;
    const resolvedPath = own && !existsSync(join(p.outputDir, "resolved_config.json")) && existsSync(own)
      ? own
      : join(p.outputDir, "resolved_config.json");
    if (!existsSync(resolvedPath)) {
      throw new UserError(`no --config given and ${resolvedPath} does not exist`, {
        hint: "pass the run's config with --config (its resolved_config.json or the YAML it was trained with)",
      });
    }
    const data = readJson(resolvedPath, "resolved config");
    if (!data?.config) throw new UserError(`${resolvedPath} has no "config" object: not a qwen-classify resolved_config.json`);
    return { resolvedPath, config: data.config, tempDir: null };
  }
  const path = resolve(p.cwd, p.config);
  if (!existsSync(path)) throw new UserError(`--config: ${path} does not exist`);
  if (extname(path) === ".json") {
    const data = readJson(path, "--config");
    if (!data?.config) {
      throw new UserError(`--config: ${path} is JSON but has no "config" object`, {
        hint: "pass a run's resolved_config.json or a YAML config",
      });
    }
    return { resolvedPath: path, config: data.config, tempDir: null };
  }
  const resolved = resolveConfig({ configPath: path, cwd: p.cwd });
  const tempDir = mkdtempSync(join(tmpdir(), "qc-eval-config-"));
  const resolvedPath = join(tempDir, "resolved_config.json");
  writeFileSync(
    resolvedPath,
    JSON.stringify({ config: resolved.config, overrides: resolved.overrides, config_hash: resolved.configHash, source_file: resolved.sourceFile }),
  );
  return { resolvedPath, config: resolved.config, tempDir };
}

/** The checkpoints to evaluate and the run folder they belong to. */
export function selectCheckpoints(p: { checkpoint?: string; all?: string; cwd: string }): {
  outputDir: string;
  checkpoints: CheckpointInfo[];
  /** checkpoint-N folders without training_info.json: never evaluated (--all only). */
  incomplete: string[];
} {
  if (p.checkpoint && p.all) throw new UserError("give either --checkpoint or --all, not both");
  if (p.checkpoint) {
    const ckpt = readCheckpoint(resolve(p.cwd, p.checkpoint));
    return { outputDir: dirname(ckpt.path), checkpoints: [ckpt], incomplete: [] };
  }
  if (p.all) {
    const outputDir = resolve(p.cwd, p.all);
    const checkpoints = listCheckpoints({ outputDir });
    const incomplete = listCheckpoints({ outputDir, includeIncomplete: true }).filter((c) => !c.complete).map((c) => c.name);
    if (checkpoints.length === 0) {
      throw new UserError(
        `${outputDir} holds no complete checkpoint` +
          (incomplete.length ? ` (${incomplete.length} incomplete checkpoint folder(s) without training_info.json)` : ""),
        { hint: "pass the training.output_dir of a run that saved at least one checkpoint" },
      );
    }
    return { outputDir, checkpoints, incomplete };
  }
  throw new UserError("nothing to evaluate: give --checkpoint out/checkpoint-N or --all out/", {
    hint: "run 'bun run tasks/evaluate.ts --help' for the options",
  });
}

function positiveInt(v: number | undefined, flag: string): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new UserError(`${flag} must be a whole number >= 1, got ${v}`);
}

export async function evaluateCheckpoints(params: EvaluateParams): Promise<EvaluateResult> {
  const cwd = params.cwd ?? process.cwd();
  positiveInt(params.keepBest, "--keep-best");
  positiveInt(params.nprocPerNode, "--nproc-per-node");
  positiveInt(params.batchSize, "--batch-size");
  const { outputDir, checkpoints, incomplete } = selectCheckpoints({ checkpoint: params.checkpoint, all: params.all, cwd });
  if (params.keepBest !== undefined && !params.all) {
    throw new UserError("--keep-best needs --all: it keeps the best K checkpoints of the whole run", {
      hint: "bun run tasks/evaluate.ts --all <output_dir> --keep-best K",
    });
  }
  const runConfig = loadRunConfig({
    config: params.config, outputDir, cwd, checkpointDir: checkpoints.length === 1 ? checkpoints[0]!.path : undefined,
  });
  try {
    return { ...(await evaluateWithConfig(params, { outputDir, checkpoints, runConfig, cwd })), incomplete };
  } finally {
    if (runConfig.tempDir) rmSync(runConfig.tempDir, { recursive: true, force: true });
  }
}

/** The evaluation JSONL: --eval-data, else the run's data.val_jsonl; UserError when it is not a file. */
function evaluationData(params: EvaluateParams, runConfig: RunConfig, cwd: string): string {
  const data = resolve(cwd, params.evalData ?? runConfig.config?.data?.val_jsonl ?? "");
  if (!existsSync(data) || !statSync(data).isFile()) {
    throw new UserError(
      `evaluation data ${data} does not exist` + (params.evalData ? "" : " (data.val_jsonl of the run's config)"),
      { hint: "pass the evaluation JSONL with --eval-data" },
    );
  }
  return data;
}

async function evaluateWithConfig(
  params: EvaluateParams,
  ctx: { outputDir: string; checkpoints: CheckpointInfo[]; runConfig: RunConfig; cwd: string },
): Promise<EvaluateResult> {
  const { outputDir, checkpoints, runConfig, cwd } = ctx;
  const data = evaluationData(params, runConfig, cwd);
  const tracking = runConfig.config?.training?.best_model_tracking ?? {};
  const metric: string = typeof tracking.metric === "string" && tracking.metric ? tracking.metric : "accuracy";
  const greaterIsBetter: boolean = typeof tracking.greater_is_better === "boolean" ? tracking.greater_is_better : metric !== "loss";

  // --- run the engine -------------------------------------------------------------------------
  const python = params.python ?? defaultPython(params.env ?? process.env);
  const workDir = mkdtempSync(join(tmpdir(), "qc-eval-"));
  const outJson = join(workDir, "summary.json");
  const argv = buildEvaluateArgv({
    python,
    checkpoints: checkpoints.map((c) => c.path),
    data,
    resolved: runConfig.resolvedPath,
    outJson,
    batchSize: params.batchSize,
    cacheMb: params.cacheMb,
    cacheDiskMb: params.cacheDiskMb,
    force: params.force,
    nprocPerNode: params.nprocPerNode,
  });
  const progress = params.progress ?? createEvalProgress();
  const verbose = (params.env ?? process.env).QC_VERBOSE === "1";
  const log = params.log ?? ((line: string) => verbose && process.stderr.write(`${line}\n`));
  let engine;
  // Retention and prune leave a checkpoint alone while it is evaluated. Released before --keep-best's
  // retention below, which would otherwise see this process's own locks and keep everything.
  const lock = params.lockCheckpoint ?? defaultLockCheckpoint;
  const releases: (() => void)[] = [];
  try {
    for (const c of checkpoints) releases.push(lock({ checkpoint: c.path, purpose: "evaluate" }));
    engine = await runEvaluateEngine({
      argv,
      spawn: params.spawn,
      env: engineEnv(params.env ?? process.env),
      onEvent: (ev: EvalEngineEvent) => progress.onEvent(ev),
      onLog: (line) => log(line),
    });
  } finally {
    progress.stop();
    for (const release of releases) release();
  }
  let summary: SummaryEvent | null = engine.summary;
  if (existsSync(outJson)) summary = readJson(outJson, "engine summary");
  rmSync(workDir, { recursive: true, force: true });

  if (engine.exitCode !== 0 || !summary) {
    if (engine.error && engine.exitCode !== 0) {
      throw new UserError(engine.error.message, { exitCode: engine.error.exit_code ?? engine.exitCode });
    }
    if (engine.exitCode === 130) {
      throw new UserError("evaluation interrupted; the checkpoints finished so far keep their results", {
        exitCode: 130,
        hint: "run the same command again: those are skipped (same evaluation set), the rest are evaluated",
      });
    }
    const tail = engine.stderrTail.slice(-15).join("\n");
    throw new UserError(`the evaluation engine failed (exit ${engine.exitCode})${tail ? `:\n${tail}` : ""}`, {
      exitCode: engine.exitCode === 0 || engine.exitCode === 2 ? 1 : engine.exitCode,
      hint: "re-run with QC_VERBOSE=1 to see the engine's full output",
    });
  }

  // --- outcomes -------------------------------------------------------------------------------
  const byPath = new Map(checkpoints.map((c) => [resolve(c.path), c]));
  const outcomes: CheckpointOutcome[] = summary.results.map((r) => {
    const ckpt = byPath.get(resolve(r.path));
    return {
      name: basename(r.path),
      path: r.path,
      step: r.step,
      status: r.status,
      source: r.source,
      metrics: r.metrics,
      trainLoss: typeof ckpt?.info?.train_loss === "number" ? ckpt.info.train_loss : null,
      seconds: r.seconds,
      imagesPerS: r.images_per_s,
      evalResults: r.eval_results,
      predictions: r.predictions,
    };
  });
  const base = {
    outputDir,
    data: summary.data,
    dataSha256: summary.data_sha256,
    evalKey: summary.eval_key,
    numSamples: summary.num_samples,
    worldSize: summary.world_size,
    metric,
    greaterIsBetter,
    checkpoints: outcomes,
    preprocessSeconds: summary.preprocess_seconds,
    totalSeconds: summary.total_seconds,
  };

  if (!params.all) {
    const o = outcomes[0];
    const text = formatMetricsTable({ checkpoint: o.name, step: o.step, data: summary.data, numSamples: summary.num_samples, metrics: o.metrics });
    return { mode: "single", ...base, text };
  }

  // --- sweep: leaderboard, summary, plot, retention --------------------------------------------
  const rows: SweepRow[] = outcomes.map((o) => ({
    name: o.name,
    path: o.path,
    step: o.step,
    metrics: scalarMetrics(o.metrics),
    trainLoss: o.trainLoss,
    status: o.status,
  }));
  const ranked = rankCheckpoints({ rows, metric, greaterIsBetter });
  const recommendation = recommend({ ranked, metric, greaterIsBetter });
  const evalSummary = buildEvalSummary({
    outputDir,
    data: summary.data,
    dataSha256: summary.data_sha256,
    evalKey: summary.eval_key,
    numSamples: summary.num_samples,
    metric,
    greaterIsBetter,
    ranked,
    recommendation,
    now: params.now,
  });
  const summaryFiles = await writeEvalSummary({ summary: evalSummary, outputDir, python, spawn: params.plotSpawn });
  let retention: RetentionResult | undefined;
  if (params.keepBest !== undefined) {
    retention = (params.applyRetention ?? defaultApplyRetention)({
      outputDir,
      policy: `best:${params.keepBest}`,
      bestPath: [recommendation.path],
    });
  }
  const text = formatLeaderboard({ ranked, metric });
  return { mode: "sweep", ...base, text, ranked, recommendation, summary: evalSummary, summaryFiles, retention };
}

function scalarMetrics(m: FullMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) if (typeof v === "number") out[k] = v;
  return out;
}
