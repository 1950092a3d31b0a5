import { existsSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import { resolveClasses, type ClassSpec } from "./classes.ts";
import { inspectImages, type ImageInfo, type ImageReader } from "./image_info.ts";
import { closest } from "../config/didyoumean.ts";
import { forEachLine } from "../util/lines.ts";
import { FindingList, type Finding } from "./problems.ts";
import { silentProgress, type ProgressFactory } from "./progress.ts";

export type SplitName = "train" | "val";

/** Kinds tied to one line or one image: data.on_bad_sample=skip turns them into warnings. */
export const SAMPLE_KINDS = new Set([
  "invalid_json",
  "not_an_object",
  "missing_field",
  "bad_field",
  "label_out_of_range",
  "unknown_class_name",
  "image_missing",
  "image_unreadable",
  "not_an_image",
  "unsupported_image_format",
  "image_truncated",
  "image_aspect_ratio",
  "image_decode_failed",
]);

export interface SplitReport {
  name: SplitName;
  /** The JSONL file, absolute. */
  file: string;
  exists: boolean;
  lines: number;
  blankLines: number;
  /** Lines whose JSON, fields and label are fine (their image may still be bad). */
  wellFormed: number;
  /** Lines that pass every check, image included: what training will see. */
  validSamples: number;
  distinctImages: number;
  /** Per class id: well-formed lines with that label. */
  classCounts: number[];
}

export interface HistogramRow {
  id: number;
  name: string;
  train: number;
  val: number;
}

export interface LeakPair {
  sha256: string;
  train: { image: string; file: string; line: number };
  val: { image: string; file: string; line: number };
  /** Validation lines that show this content. */
  valLines: number;
}

export interface DuplicateGroup {
  sha256: string;
  images: string[];
}

export interface DataReport {
  ok: boolean;
  classes: { numLabels: number; names: string[] | null; source: string; dataset: string | null };
  splits: Record<SplitName, SplitReport>;
  histogram: HistogramRow[];
  missingClasses: Record<SplitName, number[]>;
  images: {
    distinct: number;
    ok: number;
    bytes: number;
    formats: Record<string, number>;
    minWidth: number | null;
    minHeight: number | null;
    maxWidth: number | null;
    maxHeight: number | null;
    deepDecoded: number | null;
  };
  leakage: { count: number; valLines: number; pairs: LeakPair[] };
  duplicates: { groups: number; extraFiles: number; examples: DuplicateGroup[] };
  problems: { counts: Record<string, number>; items: Finding[] };
  warnings: { counts: Record<string, number>; items: Finding[] };
  /** Sample-level problems that data.on_bad_sample=skip will drop (already listed as warnings). */
  skipped: number;
  timings: { linesSeconds: number; imagesSeconds: number; deepSeconds: number | null };
}

/** Decodes images fully (the engine's way); returns path -> error message for the ones that fail. */
export type DeepDecoder = (params: { paths: string[]; onDone?: (done: number) => void }) => Promise<Map<string, string>>;

export interface CheckParams {
  config: QwenClassifyConfig;
  /** Decode every image (needs deepDecoder). */
  deep?: boolean;
  deepDecoder?: DeepDecoder;
  reader?: ImageReader;
  concurrency?: number;
  progress?: ProgressFactory;
  /** Findings kept per kind (the rest are counted). */
  keepPerKind?: number;
  /** Warn when the most frequent train class has this many times the samples of the rarest. */
  imbalanceRatio?: number;
  now?: () => number;
}

interface PathRef {
  /** The image string as written on its first line. */
  raw: string;
  first: Partial<Record<SplitName, number>>;
  count: Record<SplitName, number>;
}

/**
 * Checks data.train_jsonl and data.val_jsonl line by line (streamed), every distinct image once
 * (header, content hash, end-of-file checks; optionally a full decode), the labels against the
 * class names, and the two splits against each other (leakage, duplicates).
 */
export async function checkData(params: CheckParams): Promise<DataReport> {
  const { config } = params;
  const keep = params.keepPerKind ?? 20;
  const progress = params.progress ?? silentProgress;
  const now = params.now ?? (() => performance.now());
  const problems = new FindingList(keep);
  const warnings = new FindingList(keep);
  const classes = resolveClasses({ config });
  for (const p of classes.problems) problems.add(p);
  const nameToId = new Map((classes.names ?? []).map((n, i) => [n, i] as const));

  const splitFiles: Record<SplitName, string> = {
    train: resolve(config.data.train_jsonl),
    val: resolve(config.data.val_jsonl),
  };
  const paths = new Map<string, PathRef>();
  const splits = {} as Record<SplitName, SplitReport>;
  const t0 = now();

  if (existsSync(splitFiles.train) && existsSync(splitFiles.val) && sameFile(splitFiles.train, splitFiles.val)) {
    problems.add({
      kind: "same_file",
      file: splitFiles.val,
      message: "data.train_jsonl and data.val_jsonl are the same file: every validation image leaks into training; give a separate validation file",
    });
  }

  for (const split of ["train", "val"] as SplitName[]) {
    const file = splitFiles[split];
    const rep: SplitReport = {
      name: split,
      file,
      exists: false,
      lines: 0,
      blankLines: 0,
      wellFormed: 0,
      validSamples: 0,
      distinctImages: 0,
      classCounts: new Array(classes.numLabels).fill(0),
    };
    splits[split] = rep;
    const key = split === "train" ? "data.train_jsonl" : "data.val_jsonl";
    if (!existsSync(file) || !statSync(file).isFile()) {
      const why = existsSync(file) ? "not a file" : "no such file";
      if (split === "val" && !valNeeded(config)) {
        warnings.add({ kind: "jsonl_missing", file, message: `${key} not found (${why}); training evaluates nothing, but tasks/evaluate.ts will need it` });
      } else {
        problems.add({ kind: "jsonl_missing", file, message: `${key} not found (${why}); fix the path or convert your data with --from-folder / --from-food101` });
      }
      continue;
    }
    rep.exists = true;
    const dir = dirname(file);
    const absOf = new Map<string, string>(); // image string -> absolute path (images are often shared)
    const shown = basename(file);
    const bar = progress(`${split} lines`, statSync(file).size, { unit: "bytes" });
    const result = await forEachLine({
      path: file,
      onLine: (text, line) => {
        const at = { file: shown, line };
        if (text.trim() === "") {
          rep.blankLines++;
          return;
        }
        const verdict = checkLine(text, classes, nameToId, problems);
        if (verdict.problem) {
          problems.add({ ...at, ...verdict.problem });
          return;
        }
        rep.wellFormed++;
        rep.classCounts[verdict.label!]++;
        let abs = absOf.get(verdict.image!);
        if (abs === undefined) {
          abs = isAbsolute(verdict.image!) ? verdict.image! : resolve(dir, verdict.image!);
          if (absOf.size < 200_000) absOf.set(verdict.image!, abs);
        }
        let ref = paths.get(abs);
        if (!ref) {
          ref = { raw: verdict.image!, first: {}, count: { train: 0, val: 0 } };
          paths.set(abs, ref);
        }
        if (ref.count[split] === 0) {
          ref.first[split] = line;
          rep.distinctImages++;
        }
        ref.count[split]++;
      },
      onProgress: (p) => bar.update(p.bytes, `${p.lines.toLocaleString("en-US")} lines`),
    });
    bar.stop();
    rep.lines = result.lines;
    if (rep.blankLines > 0) {
      warnings.add({ kind: "blank_lines", file: shown, message: `${rep.blankLines} blank line(s) (ignored)` });
    }
  }
  const linesSeconds = (now() - t0) / 1000;

  // Every distinct image once: header, size, content hash.
  const t1 = now();
  const bar = progress("images", paths.size);
  const infos = await inspectImages({
    paths: paths.keys(),
    concurrency: params.concurrency,
    reader: params.reader,
    onDone: (d) => bar.update(d),
  });
  bar.stop();
  const imagesSeconds = (now() - t1) / 1000;

  for (const info of infos.values()) {
    if (info.ok && info.width && info.height && Math.max(info.width, info.height) / Math.min(info.width, info.height) > 200) {
      info.ok = false;
      info.problem = {
        kind: "image_aspect_ratio",
        message: `${info.width}x${info.height}: aspect ratio above 200, which the Qwen2.5-VL processor refuses; crop or pad it`,
      };
    }
  }

  let deepSeconds: number | null = null;
  let deepDecoded: number | null = null;
  if (params.deep) {
    if (!params.deepDecoder) throw new Error("checkData: deep=true needs a deepDecoder");
    const okPaths = [...infos.values()].filter((i) => i.ok).map((i) => i.path);
    const t2 = now();
    const dbar = progress("decode", okPaths.length);
    const failures = await params.deepDecoder({ paths: okPaths, onDone: (d) => dbar.update(d) });
    dbar.stop();
    deepSeconds = (now() - t2) / 1000;
    deepDecoded = okPaths.length;
    for (const [p, msg] of failures) {
      const info = infos.get(p);
      if (info) {
        info.ok = false;
        info.problem = { kind: "image_decode_failed", message: `Pillow cannot decode it: ${msg}` };
      }
    }
  }

  // Image problems, named by the first line that uses the image.
  const splitShown = (s: SplitName) => basename(splitFiles[s]);
  for (const [abs, ref] of paths) {
    const info = infos.get(abs)!;
    const badLines = { train: info.ok ? 0 : ref.count.train, val: info.ok ? 0 : ref.count.val };
    for (const s of ["train", "val"] as SplitName[]) splits[s].validSamples += ref.count[s] - badLines[s];
    if (info.ok) continue;
    const s: SplitName = ref.first.train !== undefined ? "train" : "val";
    const refs = ref.count.train + ref.count.val;
    problems.add({
      kind: info.problem!.kind,
      file: splitShown(s),
      line: ref.first[s],
      message: `${JSON.stringify(ref.raw)}: ${info.problem!.message}${abs !== ref.raw ? ` (${abs})` : ""}${refs > 1 ? `; used by ${refs} lines` : ""}`,
    });
  }

  // Content hashes: leakage (train vs val) and duplicate files.
  const byHash = new Map<string, string[]>();
  for (const info of infos.values()) {
    if (!info.sha256 || !info.ok) continue;
    const list = byHash.get(info.sha256);
    if (list) list.push(info.path);
    else byHash.set(info.sha256, [info.path]);
  }
  const leakPairs: LeakPair[] = [];
  let leakCount = 0;
  let leakValLines = 0;
  let dupGroups = 0;
  let dupExtra = 0;
  const dupExamples: DuplicateGroup[] = [];
  for (const [sha, group] of byHash) {
    const inTrain = group.filter((p) => paths.get(p)!.count.train > 0);
    const inVal = group.filter((p) => paths.get(p)!.count.val > 0);
    if (inTrain.length > 0 && inVal.length > 0) {
      leakCount++;
      const valLines = inVal.reduce((a, p) => a + paths.get(p)!.count.val, 0);
      leakValLines += valLines;
      const t = paths.get(inTrain[0])!;
      const v = paths.get(inVal[0])!;
      const pair: LeakPair = {
        sha256: sha,
        train: { image: t.raw, file: splitShown("train"), line: t.first.train! },
        val: { image: v.raw, file: splitShown("val"), line: v.first.val! },
        valLines,
      };
      if (leakPairs.length < keep) leakPairs.push(pair);
      problems.add({
        kind: "leakage",
        file: pair.val.file,
        line: pair.val.line,
        message:
          `${JSON.stringify(v.raw)} is also in training (${pair.train.file}:${pair.train.line} ${JSON.stringify(t.raw)}, same sha256 ${sha.slice(0, 12)})` +
          `; remove it from one split`,
      });
    }
    if (group.length > 1) {
      dupGroups++;
      dupExtra += group.length - 1;
      const shownPaths = group.map((p) => paths.get(p)!.raw);
      if (dupExamples.length < keep) dupExamples.push({ sha256: sha, images: shownPaths });
      const first = paths.get(group[0])!;
      const s: SplitName = first.first.train !== undefined ? "train" : "val";
      warnings.add({
        kind: "duplicate_image",
        file: splitShown(s),
        line: first.first[s],
        message: `${group.length} files with identical content: ${shownPaths.slice(0, 4).map((x) => JSON.stringify(x)).join(", ")}${group.length > 4 ? ", ..." : ""}`,
      });
    }
  }
  for (const s of ["train", "val"] as SplitName[]) {
    let repeated = 0;
    let extra = 0;
    for (const ref of paths.values()) {
      if (ref.count[s] > 1) {
        repeated++;
        extra += ref.count[s] - 1;
      }
    }
    if (repeated > 0) {
      warnings.add({
        kind: "repeated_image",
        file: splitShown(s),
        message: `${repeated} image(s) are listed on more than one line (${extra} extra line(s)); they weigh more in ${s === "train" ? "training" : "the metrics"}`,
      });
    }
  }

  // Enough samples for one optimizer step (the engine refuses fewer; more processes need more).
  const oneStep = config.training.per_device_batch_size * config.training.gradient_accumulation_steps;
  if (splits.train.exists && splits.train.validSamples < oneStep) {
    problems.add({
      kind: "too_few_samples",
      file: splitShown("train"),
      message: `${splits.train.validSamples} usable training sample(s), fewer than one optimizer step needs (per_device_batch_size ${config.training.per_device_batch_size} x gradient_accumulation_steps ${config.training.gradient_accumulation_steps} x processes)`,
    });
  }
  if (splits.val.exists && splits.val.validSamples === 0 && valNeeded(config)) {
    problems.add({ kind: "too_few_samples", file: splitShown("val"), message: "no usable validation sample, and this run evaluates during/after training" });
  }

  // Histogram, missing classes, imbalance.
  const nameOf = (i: number) => classes.names?.[i] ?? String(i);
  const histogram: HistogramRow[] = Array.from({ length: classes.numLabels }, (_, id) => ({
    id,
    name: nameOf(id),
    train: splits.train.classCounts[id],
    val: splits.val.classCounts[id],
  }));
  const missingClasses: Record<SplitName, number[]> = { train: [], val: [] };
  for (const s of ["train", "val"] as SplitName[]) {
    if (!splits[s].exists || splits[s].wellFormed === 0) continue;
    for (const row of histogram) {
      if (row[s] === 0) {
        missingClasses[s].push(row.id);
        warnings.add({
          kind: `missing_class_${s}`,
          file: splitShown(s),
          message: `class ${row.id} (${JSON.stringify(row.name)}) has no ${s === "train" ? "training" : "validation"} sample`,
        });
      }
    }
  }
  const present = histogram.filter((r) => r.train > 0);
  if (present.length > 1) {
    const most = present.reduce((a, b) => (b.train > a.train ? b : a));
    const least = present.reduce((a, b) => (b.train < a.train ? b : a));
    const ratio = params.imbalanceRatio ?? 10;
    if (most.train / least.train >= ratio) {
      warnings.add({
        kind: "imbalance",
        file: splitShown("train"),
        message: `class ${most.id} (${JSON.stringify(most.name)}) has ${most.train} samples, class ${least.id} (${JSON.stringify(least.name)}) only ${least.train} (${(most.train / least.train).toFixed(1)}x); consider rebalancing`,
      });
    }
  }

  // data.on_bad_sample=skip: line and image problems become warnings (those samples are dropped).
  let skipped = 0;
  let finalProblems: FindingList = problems;
  if (config.data.on_bad_sample === "skip") {
    finalProblems = new FindingList(keep);
    for (const [kind, count] of Object.entries(problems.counts)) {
      const items = problems.items.filter((f) => f.kind === kind);
      if (SAMPLE_KINDS.has(kind)) {
        skipped += count;
        for (const f of items) warnings.add({ ...f, kind: `skipped_${kind}` });
        warnings.counts[`skipped_${kind}`] = count;
      } else {
        for (const f of items) finalProblems.add(f);
        finalProblems.counts[kind] = count;
      }
    }
  }

  const okInfos = [...infos.values()].filter((i) => i.ok);
  const formats: Record<string, number> = {};
  for (const i of infos.values()) if (i.type) formats[i.type] = (formats[i.type] ?? 0) + 1;
  const dimsOf = (key: "width" | "height", pick: (a: number, b: number) => number) =>
    okInfos.length ? okInfos.map((i) => i[key]!).reduce((a, b) => pick(a, b)) : null;
  return {
    ok: finalProblems.total === 0,
    classes: { numLabels: classes.numLabels, names: classes.names, source: classes.source, dataset: classes.datasetName },
    splits,
    histogram,
    missingClasses,
    images: {
      distinct: infos.size,
      ok: okInfos.length,
      bytes: [...infos.values()].reduce((a, i) => a + (i.bytes ?? 0), 0),
      formats,
      minWidth: dimsOf("width", Math.min),
      minHeight: dimsOf("height", Math.min),
      maxWidth: dimsOf("width", Math.max),
      maxHeight: dimsOf("height", Math.max),
      deepDecoded,
    },
    leakage: { count: leakCount, valLines: leakValLines, pairs: leakPairs },
    duplicates: { groups: dupGroups, extraFiles: dupExtra, examples: dupExamples },
    problems: finalProblems.toJSON(),
    warnings: warnings.toJSON(),
    skipped,
    timings: { linesSeconds, imagesSeconds, deepSeconds },
  };
}

/** The engine reads the validation set only when something evaluates (engine/qc_engine/train.py). */
export function valNeeded(config: QwenClassifyConfig): boolean {
  const t = config.training;
  if (t.skip_evaluation) return false;
  return t.best_model_tracking.enabled || t.evaluation.partial_eval_during_training || t.evaluation.full_eval_at_end;
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return a === b;
  }
}

interface LineVerdict {
  problem?: { kind: string; message: string };
  image?: string;
  label?: number;
}

/** One JSONL line: JSON object with "image" (non-empty string) and "label" (int in range or class name). */
export function checkLine(text: string, classes: ClassSpec, nameToId: Map<string, number>, seen?: FindingList): LineVerdict {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    return { problem: { kind: "invalid_json", message: `not valid JSON (${(err as Error).message}): ${preview(text)}` } };
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    return { problem: { kind: "not_an_object", message: `expected an object {"image": ..., "label": ...}, got ${preview(text)}` } };
  }
  const rec = obj as Record<string, unknown>;
  for (const field of ["image", "label"]) {
    if (!(field in rec)) {
      const keys = Object.keys(rec);
      return { problem: { kind: "missing_field", message: `no "${field}" field (keys: ${keys.length ? keys.join(", ") : "none"})` } };
    }
  }
  if (typeof rec.image !== "string" || rec.image.trim() === "") {
    return { problem: { kind: "bad_field", message: `"image" must be a non-empty path string, got ${preview(JSON.stringify(rec.image))}` } };
  }
  const label = rec.label;
  if (typeof label === "number") {
    if (!Number.isInteger(label)) {
      return { problem: { kind: "bad_field", message: `"label" must be an integer id or a class name, got ${label}` } };
    }
    if (label < 0 || label >= classes.numLabels) {
      return {
        problem: {
          kind: "label_out_of_range",
          message: `label ${label} is outside [0, ${classes.numLabels}) (model.num_labels=${classes.numLabels}); fix the line or model.num_labels`,
        },
      };
    }
    return { image: rec.image, label };
  }
  if (typeof label === "string") {
    const id = nameToId.get(label);
    if (id !== undefined) return { image: rec.image, label: id };
    // Suggestions cost a scan of the names: only for the findings that will be shown.
    const wanted = !seen || (seen.counts.unknown_class_name ?? 0) < seen.keep;
    let message: string;
    if (!classes.names) {
      message = `label ${JSON.stringify(label)} is a class name, but the config names no classes; set datasets.dataset_configs.<name>.class_names or data.labels_file, or use integer ids`;
    } else {
      const hint = wanted ? closest(label, classes.names) : null;
      message = `unknown class name ${JSON.stringify(label)} (${classes.names.length} classes from ${classes.source})${hint ? `; did you mean ${JSON.stringify(hint)}?` : ""}`;
    }
    return { problem: { kind: "unknown_class_name", message } };
  }
  return { problem: { kind: "bad_field", message: `"label" must be an integer id or a class name, got ${preview(JSON.stringify(label))}` } };
}

function preview(text: string | undefined): string {
  const t = String(text);
  return t.length > 80 ? `${t.slice(0, 77)}...` : t;
}
