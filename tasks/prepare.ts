// bun run tasks/prepare.ts [--config F] [--set a.b=v ...] [--deep] [--json]      check data + disk
// bun run tasks/prepare.ts --from-folder ROOT --out DIR [--val-ratio R] [--seed S]  convert
// bun run tasks/prepare.ts --from-food101 ROOT --out DIR                              convert
// bun run tasks/prepare.ts --from-hf ID_OR_PATH [--split S] [--out DIR]                convert (datasets, streamed)
import { resolveConfig } from "../lib/config/index.ts";
import { prepare, type PrepareMode } from "../lib/data/prepare.ts";
import { makeProgress, silentProgress } from "../lib/data/progress.ts";
import { parseTask } from "../lib/util/cli.ts";
import { runTask, UserError } from "../lib/util/errors.ts";

await runTask(async () => {
  const values = parseTask({
    name: "prepare",
    summary: "check the data and the disk before training, or convert an image folder / Food-101 / a Hugging Face data set to JSONL",
    usage: [
      "[--config FILE] [--set PATH=VALUE ...] [--deep] [--json] [--allow-low-disk] [--out DIR]",
      "--from-folder ROOT --out DIR [--val-ratio R] [--seed S] [--json]",
      "--from-food101 ROOT --out DIR [--json]",
      "--from-hf ID_OR_PATH [--split TRAIN,HELD_OUT] [--image-column C] [--label-column C] [--labels-file F] [--revision R] [--out DIR] [--json]",
    ],
    options: {
      config: { type: "string", short: "c", valueName: "FILE", help: "YAML config to check; without it the embedded demo (configs/demo.yaml)." },
      set: { type: "strings", valueName: "PATH=VALUE", help: "Override one config option (e.g. data.train_jsonl=data/train.jsonl)." },
      deep: { type: "boolean", help: "Also decode every image with Pillow, as the engine does (slower)." },
      json: { type: "boolean", help: "Print the report as JSON (the check also writes data_report.json)." },
      "allow-low-disk": { type: "boolean", help: "Report a disk shortfall without failing." },
      "from-folder": { type: "string", conflicts: ["from-food101", "from-hf", "config", "set", "deep", "allow-low-disk"], valueName: "ROOT", help: "Convert ROOT/<class>/<image> to a stratified train/val JSONL + labels.json." },
      "from-food101": { type: "string", conflicts: ["from-hf", "config", "set", "deep", "allow-low-disk", "val-ratio", "seed"], valueName: "ROOT", help: "Convert Food-101 (images/, meta/) to train.jsonl/test.jsonl with the official split." },
      "from-hf": { type: "string", conflicts: ["config", "set", "deep", "allow-low-disk", "val-ratio", "seed"], valueName: "ID_OR_PATH", help: "Convert a Hugging Face data set (Hub id or local folder; streamed) to images/ + train.jsonl/test.jsonl + labels.json [default --out: data/<name>]." },
      split: { type: "string", valueName: "TRAIN[,HELD_OUT]", help: "--from-hf: the splits to convert [default: train + validation|test]; the held-out one becomes test.jsonl." },
      "image-column": { type: "string", valueName: "C", help: "--from-hf: the image column [default: image]." },
      "label-column": { type: "string", valueName: "C", help: "--from-hf: the label column, a ClassLabel (else give --labels-file) [default: label]." },
      "labels-file": { type: "string", valueName: "F", help: "--from-hf: class names (JSON list) when the label column is not a ClassLabel." },
      revision: { type: "string", valueName: "REV", help: "--from-hf: Hub revision (branch, tag or commit)." },
      out: { type: "string", valueName: "DIR", help: "Converters: where the JSONL and labels.json go. Check: where data_report.png goes [default: the folder of data.train_jsonl]." },
      "val-ratio": { type: "number", above: 0, below: 1, valueName: "R", help: "--from-folder: share of each class put in validation, 0 < R < 1 [default: 0.1]." },
      seed: { type: "int", min: 0, valueName: "S", help: "--from-folder: seed of the split [default: 42]." },
    },
    examples: [
      "bun run tasks/prepare.ts --config configs/food101.yaml",
      "bun run tasks/prepare.ts --config configs/food101.yaml --deep --json > report.json",
      "bun run tasks/prepare.ts --from-food101 /data/food-101 --out data/food101",
      "bun run tasks/prepare.ts --from-hf ethz/food101   # -> data/food101, what configs/food101.yaml expects",
      "bun run tasks/prepare.ts --from-folder /data/pets --out data/pets --val-ratio 0.2 --seed 1",
    ],
    extraHelp:
      "Exit codes: 0 all good (warnings allowed); 2 data problems, not enough disk, or bad arguments.\n" +
      "Problems: bad JSON, missing fields, labels out of range or unknown, missing/corrupt/truncated images,\n" +
      "class names that disagree with the config, validation images also in training (by content hash).\n" +
      "Warnings: duplicate images, class imbalance, classes missing from a split, blank lines.",
  });

  const folder = values["from-folder"];
  const food = values["from-food101"];
  const hf = values["from-hf"];
  const converting = folder ?? food ?? hf;
  if (!folder) for (const k of ["val-ratio", "seed"] as const) if (values[k] !== undefined) throw new UserError(`--${k} only goes with --from-folder`);
  if (!hf) for (const k of ["split", "image-column", "label-column", "labels-file", "revision"] as const) if (values[k] !== undefined) throw new UserError(`--${k} only goes with --from-hf`);
  if (converting && !hf && !values.out) throw new UserError(`--from-${folder ? "folder" : "food101"} needs --out DIR (where the JSONL and labels.json are written)`);

  let mode: PrepareMode;
  if (folder) {
    mode = {
      kind: "from-folder",
      root: folder,
      out: values.out!,
      valRatio: values["val-ratio"],
      seed: values.seed,
    };
  } else if (hf) {
    mode = { kind: "from-hf", source: hf, outDir: values.out, split: values.split, imageColumn: values["image-column"], labelColumn: values["label-column"], labelsFile: values["labels-file"], revision: values.revision };
  } else if (food) {
    mode = { kind: "from-food101", root: food, out: values.out! };
  } else {
    const resolved = resolveConfig({ configPath: values.config ?? null, sets: values.set });
    for (const w of resolved.warnings) process.stderr.write(`warning: ${w}\n`);
    mode = {
      kind: "check",
      config: resolved.config,
      configHash: resolved.configHash,
      deep: values.deep,
      reportDir: values.out,
      allowLowDisk: values["allow-low-disk"],
    };
  }
  const result = await prepare({ mode, json: values.json, progress: values.json ? silentProgress : makeProgress() });
  process.stdout.write(result.output);
  return result.exitCode;
});
