// Classify images with a trained classifier: checks the arguments, runs `python -m qc_engine.predict`
// (or torchrun for N processes) through lib/util/engine_process.ts, shows progress, returns the summary.
// The engine reads the preprocessing from the checkpoint and writes --out atomically (tmp + rename).
import { existsSync } from "node:fs";
import { extname, resolve } from "node:path";
import { UserError } from "../util/errors.ts";
import { engineEnv, runEngineProcess, type SpawnEngine } from "../util/engine_process.ts";
import { projectPython } from "../util/python.ts";
import { makeProgress, type Progress, type ProgressFactory } from "../data/progress.ts";

export type BadImagePolicy = "error" | "skip";

export interface PredictParams {
  /** checkpoint-N folder (a LoRA one without hf_model/: base + adapter/), hf_model/ folder or Hub model id (namespace/name). */
  checkpoint: string;
  revision?: string;
  /** Image files, folders, JSONL files. */
  images: string[];
  /** .jsonl or .csv; default predictions.jsonl in the current folder. */
  out?: string;
  topK?: number;
  batchSize?: number;
  nprocPerNode?: number;
  onBadImage?: BadImagePolicy;
  // --- injected side effects ---
  python?: string;
  spawn?: SpawnEngine;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Progress and engine log lines (stderr by default). */
  progress?: (ev: PredictEvent) => void;
  log?: (line: string) => void;
}

export interface PredictSummary {
  out: string;
  format: "jsonl" | "csv";
  num_images: number;
  skipped: { image: string; where: string; problem: string }[];
  labeled: number;
  accuracy: number | null;
  seconds: number;
  images_per_s: number;
  model: string;
  source: "checkpoint" | "adapter" | "hf_model" | "hub";
  commit: string | null;
  preprocessing: { prompt: string; image_min_pixels: number | null; image_max_pixels: number | null; from: string };
  world_size: number;
  device: string;
}

export type PredictEvent =
  | { event: "plan"; num_images: number; skipped: number; labeled: number; world_size: number; device: string; source: string; model: string }
  | { event: "progress"; batch: number; num_batches: number; images: number }
  | { event: "bad_image"; image: string; where: string; problem: string }
  | ({ event: "summary" } & PredictSummary)
  | { event: "error"; message: string; exit_code?: number };

const HUB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function parsePredictLine(line: string): PredictEvent | null {
  if (!line.startsWith("{")) return null;
  try {
    const ev = JSON.parse(line);
    return typeof ev?.event === "string" ? (ev as PredictEvent) : null;
  } catch {
    return null;
  }
}

/** The checks that need no model: every one names the flag and the fix. */
export function checkPredictParams(p: PredictParams, cwd: string): { out: string } {
  if (!p.checkpoint) throw new UserError("--checkpoint is required (checkpoint-N, an hf_model/ folder or a Hub model id)");
  const local = resolve(cwd, p.checkpoint);
  if (!existsSync(local) && !HUB_ID_RE.test(p.checkpoint)) {
    throw new UserError(`--checkpoint ${p.checkpoint}: no such folder, and not a Hub model id (namespace/name)`);
  }
  if (!p.images.length) throw new UserError("--images is required: image files, folders or a JSONL", { hint: "bun run tasks/predict.ts --help" });
  for (const img of p.images) {
    const path = resolve(cwd, img);
    if (!existsSync(path) && (extname(img).toLowerCase() === ".jsonl" || p.images.length === 1)) {
      throw new UserError(`--images ${img}: does not exist`);
    }
  }
  const out = resolve(cwd, p.out ?? "predictions.jsonl");
  if (![".jsonl", ".csv"].includes(extname(out).toLowerCase())) {
    throw new UserError(`--out ${p.out}: the file name must end in .jsonl or .csv`);
  }
  for (const [flag, v] of [["--top-k", p.topK], ["--batch-size", p.batchSize], ["--nproc-per-node", p.nprocPerNode]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new UserError(`${flag} must be a whole number >= 1, got ${v}`);
  }
  if (p.onBadImage && p.onBadImage !== "error" && p.onBadImage !== "skip") {
    throw new UserError(`--on-bad-image must be 'error' or 'skip', got '${p.onBadImage}'`);
  }
  return { out };
}

/** The argv that runs the predict engine; never a shell string. */
export function buildPredictArgv(p: PredictParams & { python: string; out: string; cwd: string }): string[] {
  const nproc = p.nprocPerNode ?? 1;
  const launcher =
    nproc > 1
      ? [p.python, "-m", "torch.distributed.run", "--standalone", `--nproc-per-node=${nproc}`, "-m", "qc_engine.predict"]
      : [p.python, "-m", "qc_engine.predict"];
  const local = resolve(p.cwd, p.checkpoint);
  const argv = [...launcher, "--checkpoint", existsSync(local) ? local : p.checkpoint];
  if (p.revision) argv.push("--revision", p.revision);
  argv.push("--images", ...p.images.map((i) => resolve(p.cwd, i)), "--out", p.out);
  if (p.topK !== undefined) argv.push("--top-k", String(p.topK));
  if (p.batchSize !== undefined) argv.push("--batch-size", String(p.batchSize));
  argv.push("--on-bad-image", p.onBadImage ?? "error");
  return argv;
}

export async function predict(p: PredictParams): Promise<PredictSummary> {
  const cwd = p.cwd ?? process.cwd();
  const { out } = checkPredictParams(p, cwd);
  const env = p.env ?? process.env;
  const python = p.python ?? projectPython({ env });
  const argv = buildPredictArgv({ ...p, python, out, cwd });
  let summary: PredictSummary | null = null;
  let error: { message: string; exit_code?: number } | null = null;
  const verbose = env.QC_VERBOSE === "1";
  const log = p.log ?? ((line: string) => verbose && process.stderr.write(`${line}\n`));
  const progress = p.progress ?? (process.stderr.isTTY ? barProgress() : plainProgress());
  const { exitCode, stderrTail } = await runEngineProcess<PredictEvent>({
    argv,
    what: "predict",
    parseLine: parsePredictLine,
    onEvent: (ev) => {
      if (ev.event === "summary") summary = ev;
      if (ev.event === "error") error = ev;
      progress(ev);
    },
    onLog: (line) => log(line),
    spawn: p.spawn,
    env: engineEnv(env),
    cwd,
  });
  if (exitCode !== 0 || !summary) {
    const err = error as { message: string; exit_code?: number } | null;
    if (err) throw new UserError(err.message, { exitCode: err.exit_code ?? (exitCode || 1) });
    const tail = stderrTail.slice(-15).join("\n");
    throw new UserError(`the predict engine failed (exit ${exitCode})${tail ? `:\n${tail}` : ""}`, {
      exitCode: exitCode === 0 || exitCode === 2 ? 1 : exitCode,
      hint: "re-run with QC_VERBOSE=1 to see the engine's full output",
    });
  }
  return summary;
}

/** Plain progress lines on stderr (at most one batch line every intervalMs, the last always). */
export function plainProgress(params: { write?: (s: string) => void; now?: () => number; intervalMs?: number } = {}) {
  const write = params.write ?? ((s: string) => process.stderr.write(s));
  const now = params.now ?? Date.now;
  const interval = params.intervalMs ?? 2000;
  let last = 0;
  return (ev: PredictEvent) => {
    if (ev.event === "plan") {
      write(`[predict] ${ev.num_images} image(s)${ev.skipped ? ` (${ev.skipped} bad, skipped)` : ""}, ${ev.labeled} labeled; ` +
        `model ${ev.model} (${ev.source}); ${ev.world_size} process(es) on ${ev.device}\n`);
    } else if (ev.event === "bad_image") {
      write(`[predict] skipped ${ev.where}: ${ev.image} ${ev.problem}\n`);
    } else if (ev.event === "progress" && (ev.batch === ev.num_batches || now() - last >= interval)) {
      last = now();
      write(`[predict] batch ${ev.batch}/${ev.num_batches} (${ev.images} images)\n`);
    }
  };
}

/** A progress bar on a terminal (lib/data/progress.ts), after the plan line. */
export function barProgress(factory: ProgressFactory = makeProgress(), write: (s: string) => void = (s) => process.stderr.write(s)) {
  const plain = plainProgress({ write });
  let bar: Progress | null = null;
  return (ev: PredictEvent) => {
    if (ev.event === "plan" || ev.event === "bad_image") plain(ev);
    if (ev.event === "plan") bar = factory("predict", ev.num_images);
    else if (ev.event === "progress") bar?.update(ev.images, `batch ${ev.batch}/${ev.num_batches}`);
    else if (ev.event === "summary" || ev.event === "error") {
      bar?.stop();
      bar = null;
    }
  };
}

/** What the CLI prints on stdout when the run is done. */
export function formatPredictReport(s: PredictSummary): string {
  const lines = [`wrote ${s.num_images} prediction(s) to ${s.out} (${s.images_per_s.toFixed(1)} images/s, ${s.world_size} process(es) on ${s.device})`];
  if (s.skipped.length) lines.push(`skipped ${s.skipped.length} bad image(s): ${s.skipped.slice(0, 3).map((b) => b.image).join(", ")}${s.skipped.length > 3 ? ", ..." : ""}`);
  if (s.accuracy !== null) lines.push(`accuracy ${(100 * s.accuracy).toFixed(2)}% on the ${s.labeled} labeled image(s)`);
  lines.push(`preprocessing from ${s.preprocessing.from}${s.commit ? `; model commit ${s.commit}` : ""}`);
  return lines.join("\n") + "\n";
}
