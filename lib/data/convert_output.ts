// What both converters share: JSONL + labels.json written atomically, the config lines to paste.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve, sep } from "node:path";
import { dump } from "js-yaml";
import { UserError } from "../util/errors.ts";

export interface ConvertedSplit {
  /** File name inside the output folder, e.g. "train.jsonl". */
  file: string;
  /** Absolute image paths and their label ids, in the order written. */
  samples: { image: string; label: number }[];
}

export interface ConvertResult {
  outDir: string;
  datasetName: string;
  classNames: string[];
  files: { train: string; val: string; labels: string };
  counts: { train: number; val: number };
  warnings: string[];
  /** YAML to paste into a config. */
  snippet: string;
}

/** Image path as written in the JSONL: relative to the JSONL's folder, with "/" separators. */
export function jsonlImagePath(outDir: string, image: string): string {
  return relative(outDir, image).split(sep).join("/");
}

/**
 * Writes <train>.jsonl, <val>.jsonl and labels.json (id -> class name) into outDir: every file is
 * first written under a temporary name, and only when all are written are they renamed into
 * place, so an error leaves the old files (or none), never a half-written set.
 */
export function writeConverted(params: {
  outDir: string;
  datasetName: string;
  description: string;
  classNames: string[];
  train: ConvertedSplit;
  val: ConvertedSplit;
  warnings?: string[];
}): ConvertResult {
  const outDir = resolve(params.outDir);
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (err) {
    throw new UserError(`cannot create --out ${outDir}: ${(err as Error).message}`);
  }
  const labels: Record<string, string> = {};
  params.classNames.forEach((n, i) => (labels[String(i)] = n));
  const contents: [string, string][] = [
    [params.train.file, params.train.samples.map((s) => JSON.stringify({ image: jsonlImagePath(outDir, s.image), label: s.label })).join("\n") + "\n"],
    [params.val.file, params.val.samples.map((s) => JSON.stringify({ image: jsonlImagePath(outDir, s.image), label: s.label })).join("\n") + "\n"],
    ["labels.json", JSON.stringify(labels, null, 2) + "\n"],
  ];
  const tmps: string[] = [];
  try {
    for (const [name, text] of contents) {
      const tmp = join(outDir, `.${name}.${process.pid}.tmp`);
      tmps.push(tmp);
      writeFileSync(tmp, text);
    }
    contents.forEach(([name], i) => renameSync(tmps[i], join(outDir, name)));
  } catch (err) {
    for (const t of tmps) rmSync(t, { force: true });
    throw new UserError(`cannot write the converted data set into ${outDir}: ${(err as Error).message}`);
  }
  const files = { train: join(outDir, params.train.file), val: join(outDir, params.val.file), labels: join(outDir, "labels.json") };
  return {
    outDir,
    datasetName: params.datasetName,
    classNames: params.classNames,
    files,
    counts: { train: params.train.samples.length, val: params.val.samples.length },
    warnings: params.warnings ?? [],
    snippet: configSnippet({ datasetName: params.datasetName, description: params.description, numClasses: params.classNames.length, files }),
  };
}

/** The config lines for a converted data set. */
export function configSnippet(params: { datasetName: string; description: string; numClasses: number; files: ConvertResult["files"] }): string {
  return dump(
    {
      model: { num_labels: params.numClasses },
      datasets: { dataset_configs: { [params.datasetName]: { num_classes: params.numClasses, description: params.description } } },
      data: { dataset: params.datasetName, train_jsonl: params.files.train, val_jsonl: params.files.val, labels_file: params.files.labels },
    },
    { lineWidth: -1 },
  );
}

/** A dataset name usable as a YAML key and a --set path segment. */
export function datasetNameFor(root: string): string {
  const name = basename(resolve(root)).replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "");
  return name || "dataset";
}

/** Seeded PRNG (mulberry32): the same seed gives the same split on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle in place with the given random source. */
export function shuffleInPlace<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

export function requireDir(path: string, flag: string): string {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new UserError(`${flag} ${abs} does not exist`);
  return abs;
}
