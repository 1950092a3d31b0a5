// --from-hf: a Hugging Face data set (Hub id or local folder) -> images on disk + train/test JSONL +
// labels.json, through `python -m qc_engine.tools.from_hf` (streamed, images not re-encoded, written
// atomically by the engine), then the data check on the result.
import { basename, join, resolve } from "node:path";
import { resolveConfig } from "../config/resolve.ts";
import { UserError } from "../util/errors.ts";
import { engineEnv, runEngineProcess, type SpawnEngine } from "../util/engine_process.ts";
import { projectPython } from "../util/python.ts";
import { checkData, type DataReport } from "./check.ts";
import { configSnippet, type ConvertResult } from "./convert_output.ts";
import { silentProgress, type Progress, type ProgressFactory } from "./progress.ts";

export interface ConvertHfParams {
  /** Hub data set id (namespace/name) or a local folder load_dataset understands. */
  source: string;
  /** Default: data/<name of the data set, lower case> (ethz/food101 -> data/food101). */
  outDir?: string;
  /** "train" or "train,validation"; default: train + validation|test. */
  split?: string;
  imageColumn?: string;
  labelColumn?: string;
  labelsFile?: string;
  revision?: string;
  // --- injected side effects ---
  python?: string;
  spawn?: SpawnEngine;
  env?: Record<string, string | undefined>;
  cwd?: string;
  progress?: ProgressFactory;
  log?: (line: string) => void;
}

export interface ConvertHfResult extends ConvertResult {
  splits: string[];
  seconds: number;
  imagesPerS: number;
  /** The data check of the converted files (null: one split only, nothing to check against). */
  check: DataReport | null;
}

type HfEvent =
  | { event: "plan"; splits: string[]; files: string[]; out: string }
  | { event: "progress"; split: string; rows: number; total: number | null }
  | { event: "done"; out: string; splits: string[]; counts: Record<string, number>; class_names: string[]; files: { train: string; val: string | null; labels: string }; seconds: number; images_per_s: number }
  | { event: "error"; message: string; exit_code?: number };

function parseLine(line: string): HfEvent | null {
  if (!line.startsWith("{")) return null;
  try {
    const ev = JSON.parse(line);
    return typeof ev?.event === "string" ? ev : null;
  } catch {
    return null;
  }
}

/** data/<name>: the data set's last path segment, lower case, safe as a folder and YAML key. */
export function defaultOutDir(source: string, cwd: string): string {
  const name = basename(source.replace(/\/+$/, "")).toLowerCase().replace(/[^a-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "") || "dataset";
  return resolve(cwd, "data", name);
}

export function buildFromHfArgv(p: ConvertHfParams & { python: string; outDir: string; cwd: string }): string[] {
  const local = resolve(p.cwd, p.source);
  const argv = [p.python, "-m", "qc_engine.tools.from_hf", "--dataset", p.source.startsWith(".") || p.source.startsWith("/") ? local : p.source, "--out", p.outDir];
  if (p.split) argv.push("--split", p.split);
  if (p.imageColumn) argv.push("--image-column", p.imageColumn);
  if (p.labelColumn) argv.push("--label-column", p.labelColumn);
  if (p.labelsFile) argv.push("--labels-file", resolve(p.cwd, p.labelsFile));
  if (p.revision) argv.push("--revision", p.revision);
  return argv;
}

export async function convertHf(p: ConvertHfParams): Promise<ConvertHfResult> {
  const cwd = p.cwd ?? process.cwd();
  const env = p.env ?? process.env;
  const outDir = resolve(cwd, p.outDir ?? defaultOutDir(p.source, cwd));
  const argv = buildFromHfArgv({ ...p, python: p.python ?? projectPython({ env }), outDir, cwd });
  const progress = p.progress ?? silentProgress;
  const bars = new Map<string, Progress>();
  let done: Extract<HfEvent, { event: "done" }> | null = null;
  let error: { message: string; exit_code?: number } | null = null;
  const verbose = env.QC_VERBOSE === "1";
  const { exitCode, stderrTail } = await runEngineProcess<HfEvent>({
    argv,
    what: "--from-hf conversion",
    parseLine,
    onEvent: (ev) => {
      if (ev.event === "progress") {
        if (!bars.has(ev.split)) bars.set(ev.split, progress(`from-hf ${ev.split}`, ev.total ?? 0));
        bars.get(ev.split)!.update(ev.rows, `${ev.rows.toLocaleString("en-US")} rows`);
      } else if (ev.event === "done") done = ev;
      else if (ev.event === "error") error = ev;
    },
    onLog: (line) => (p.log ?? ((l: string) => verbose && process.stderr.write(`${l}\n`)))(line),
    spawn: p.spawn,
    env: engineEnv(env),
    cwd,
  });
  for (const bar of bars.values()) bar.stop();
  const finished = done as Extract<HfEvent, { event: "done" }> | null;
  if (exitCode !== 0 || !finished) {
    const err = error as { message: string; exit_code?: number } | null;
    if (err) throw new UserError(err.message, { exitCode: err.exit_code ?? (exitCode || 1) });
    throw new UserError(`the --from-hf conversion failed (exit ${exitCode}):\n${stderrTail.slice(-15).join("\n")}`, { exitCode: 1 });
  }
  return resultOf(finished, p.source, progress);
}

async function resultOf(done: Extract<HfEvent, { event: "done" }>, source: string, progress: ProgressFactory): Promise<ConvertHfResult> {
  const datasetName = basename(done.out);
  const [trainSplit, valSplit] = done.splits;
  const files = { train: done.files.train, val: done.files.val ?? "", labels: done.files.labels };
  const description = `${source} (${done.splits.join(" / ")}), converted with --from-hf`;
  let check: DataReport | null = null;
  if (done.files.val) {
    // The data check on what was written, as a config pointing at it would see it.
    // Every other option at the embedded default config's value (the check reads a few of them).
    const { config } = resolveConfig({ configPath: null });
    config.model.num_labels = done.class_names.length;
    config.datasets.dataset_configs = {};
    Object.assign(config.data, { dataset: "", train_jsonl: done.files.train, val_jsonl: done.files.val, labels_file: done.files.labels, on_bad_sample: "error" });
    check = await checkData({ config, progress });
  }
  return {
    outDir: done.out,
    datasetName,
    classNames: done.class_names,
    files,
    counts: { train: done.counts[trainSplit] ?? 0, val: valSplit ? (done.counts[valSplit] ?? 0) : 0 },
    warnings: valSplit ? [] : [`${source} has only the '${trainSplit}' split converted: no test.jsonl (split it with --from-folder on ${join(done.out, "images", trainSplit)}, or pass --split TRAIN,HELD_OUT)`],
    snippet: configSnippet({ datasetName, description, numClasses: done.class_names.length, files }),
    splits: done.splits,
    seconds: done.seconds,
    imagesPerS: done.images_per_s,
    check,
  };
}
