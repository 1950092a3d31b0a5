// The Food-101 layout -> train.jsonl / test.jsonl with the official split and class order.
//   ROOT/images/<class>/<id>.jpg, ROOT/meta/classes.txt, ROOT/meta/train.txt, ROOT/meta/test.txt
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { requireDir, writeConverted, type ConvertResult } from "./convert_output.ts";

const nonBlank = (text: string) =>
  text
    .split("\n")
    .map((l, i) => ({ text: l.replace(/\r$/, "").trim(), line: i + 1 }))
    .filter((l) => l.text !== "");

export function convertFood101(params: { root: string; outDir: string; exists?: (p: string) => boolean }): ConvertResult {
  const root = requireDir(params.root, "--from-food101");
  const exists = params.exists ?? existsSync;
  const meta = join(root, "meta");
  const needed = [join(meta, "classes.txt"), join(meta, "train.txt"), join(meta, "test.txt"), join(root, "images")];
  const absent = needed.filter((p) => !existsSync(p));
  if (absent.length) {
    throw new UserError(`--from-food101 ${root} is not a Food-101 folder: missing ${absent.join(", ")}`, {
      hint: "expected images/<class>/<id>.jpg, meta/classes.txt, meta/train.txt, meta/test.txt (the food-101 archive, extracted)",
    });
  }
  const classFile = join(meta, "classes.txt");
  const classNames = nonBlank(readFileSync(classFile, "utf8")).map((l) => l.text);
  const ids = new Map<string, number>();
  classNames.forEach((n, i) => {
    if (ids.has(n)) throw new UserError(`${classFile}: class "${n}" is listed twice`);
    ids.set(n, i);
  });
  if (classNames.length < 2) throw new UserError(`${classFile} lists ${classNames.length} class(es); at least 2 are needed`);

  const missing: string[] = [];
  let missingCount = 0;
  const readSplit = (name: string) => {
    const file = join(meta, name);
    return nonBlank(readFileSync(file, "utf8")).map(({ text, line }) => {
      const slash = text.indexOf("/");
      const cls = slash > 0 ? text.slice(0, slash) : "";
      const label = ids.get(cls);
      if (label === undefined) {
        throw new UserError(`${file}:${line}: "${text}" does not start with a class of meta/classes.txt (expected <class>/<id>)`);
      }
      const image = join(root, "images", `${text}.jpg`);
      if (!exists(image)) {
        missingCount++;
        if (missing.length < 5) missing.push(`${file}:${line} -> ${image}`);
      }
      return { image, label };
    });
  };
  const train = readSplit("train.txt");
  const test = readSplit("test.txt");
  if (missingCount) {
    throw new UserError(`${missingCount} image(s) listed in meta/ are not under ${join(root, "images")}:\n  ${missing.join("\n  ")}${missingCount > missing.length ? `\n  ... and ${missingCount - missing.length} more` : ""}`, {
      hint: "extract the whole archive (images/ and meta/ side by side)",
    });
  }
  return writeConverted({
    outDir: params.outDir,
    datasetName: "food101",
    description: `Food-101, official split (${train.length.toLocaleString("en-US")} train / ${test.length.toLocaleString("en-US")} test)`,
    classNames,
    train: { file: "train.jsonl", samples: train },
    val: { file: "test.jsonl", samples: test },
  });
}
