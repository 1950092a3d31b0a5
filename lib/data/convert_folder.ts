// ROOT/<class>/<image> (any depth below the class folder) -> stratified, seeded train/val JSONL.
import { readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { UserError } from "../util/errors.ts";
import { datasetNameFor, requireDir, seededRandom, shuffleInPlace, writeConverted, type ConvertResult } from "./convert_output.ts";

/** Extensions taken as images (Pillow decodes them; the check verifies the content). */
export const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"]);

const isHidden = (name: string) => name.startsWith(".");
const extOf = (name: string) => {
  const i = name.lastIndexOf(".");
  return i <= 0 ? "" : name.slice(i).toLowerCase();
};

function listImages(dir: string, skip: string, out: string[], ignored: { count: number }): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (isHidden(entry.name)) continue;
    const p = join(dir, entry.name);
    if (p === skip) continue;
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && statSync(p).isDirectory());
    if (isDir) listImages(p, skip, out, ignored);
    else if (IMAGE_EXTENSIONS.has(extOf(entry.name))) out.push(p);
    else ignored.count++;
  }
}

/** Per-class validation counts: round(n x ratio), at least 1 and at most n - 1 when n >= 2. */
export function valCount(n: number, ratio: number): number {
  if (n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.round(n * ratio)));
}

/**
 * Converts an image-folder tree: class names are the sub-folders of ROOT (code-point order,
 * ids 0..N-1); each class is shuffled with the seed and split by valRatio (stratified).
 */
export function convertFolder(params: { root: string; outDir: string; valRatio?: number; seed?: number }): ConvertResult {
  const root = requireDir(params.root, "--from-folder");
  if (!statSync(root).isDirectory()) throw new UserError(`--from-folder ${root} is not a folder`);
  const valRatio = params.valRatio ?? 0.1;
  if (!(valRatio > 0 && valRatio < 1)) throw new UserError(`--val-ratio must be between 0 and 1 (exclusive), got ${valRatio}`);
  const seed = params.seed ?? 42;
  const outDir = resolve(params.outDir);
  const warnings: string[] = [];

  const entries = readdirSync(root, { withFileTypes: true }).filter((e) => !isHidden(e.name));
  const classDirs = entries
    .filter((e) => (e.isDirectory() || (e.isSymbolicLink() && statSync(join(root, e.name)).isDirectory())) && join(root, e.name) !== outDir)
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const looseFiles = entries.filter((e) => e.isFile()).length;
  if (looseFiles) warnings.push(`${looseFiles} file(s) directly in ${root} ignored (images must be in ROOT/<class>/)`);
  if (classDirs.length < 2) {
    throw new UserError(`--from-folder ${root} has ${classDirs.length} class folder(s); at least 2 are needed (layout: ROOT/<class>/<image>)`);
  }

  const random = seededRandom(seed);
  const train: { image: string; label: number }[] = [];
  const val: { image: string; label: number }[] = [];
  const empty: string[] = [];
  const ignored = { count: 0 };
  classDirs.forEach((name, label) => {
    const images: string[] = [];
    listImages(join(root, name), outDir, images, ignored);
    if (images.length === 0) {
      empty.push(name);
      return;
    }
    images.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // readdir order differs between file systems
    shuffleInPlace(images, random);
    const nVal = valCount(images.length, valRatio);
    if (images.length === 1) warnings.push(`class "${name}" has a single image: it goes to train, validation has none`);
    images.slice(0, nVal).forEach((image) => val.push({ image, label }));
    images.slice(nVal).forEach((image) => train.push({ image, label }));
  });
  if (empty.length) {
    throw new UserError(`class folder(s) without images under ${root}: ${empty.slice(0, 10).join(", ")}${empty.length > 10 ? ", ..." : ""}`, {
      hint: `add images (${[...IMAGE_EXTENSIONS].join(" ")}) or remove the empty folders`,
    });
  }
  if (ignored.count) warnings.push(`${ignored.count} file(s) without an image extension ignored`);
  const byPath = (a: { image: string; label: number }, b: { image: string; label: number }) => a.label - b.label || (a.image < b.image ? -1 : 1);
  train.sort(byPath);
  val.sort(byPath);
  return writeConverted({
    outDir,
    datasetName: datasetNameFor(root),
    description: `image folder ${relative(process.cwd(), root) || root}: ${classDirs.length} classes, stratified split val_ratio=${valRatio} seed=${seed}`,
    classNames: classDirs,
    train: { file: "train.jsonl", samples: train },
    val: { file: "val.jsonl", samples: val },
    warnings,
  });
}
