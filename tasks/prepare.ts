// bun run tasks/prepare.ts [--config F] [--set a.b=v ...] [--deep] [--json]      check data + disk
// bun run tasks/prepare.ts --from-folder ROOT --out DIR [--val-ratio R] [--seed S]  convert
// bun run tasks/prepare.ts --from-food101 ROOT --out DIR                              convert
// bun run tasks/prepare.ts --from-hf ID_OR_PATH [--split S] [--out DIR]                convert (datasets, streamed)
import { resolveConfig } from "../lib/config/index.ts";
import { prepare, type PrepareMode } from "../lib/data/prepare.ts";
import { makeProgress, silentProgress } from "../lib/data/progress.ts";
import { parseTaskArgs } from "../lib/util/args.ts";
import { runTask, UserError } from "../lib/util/errors.ts";

await runTask(async () => {
  const { values } = parseTaskArgs({
    name: "prepare",
    summary: "check the data and the disk before training, or convert an image folder / Food-101 / a Hugging Face data set to JSONL",
    usage: [
      "[--config FILE] [--set PATH=VALUE ...] [--deep] [--json] [--allow-low-disk] [--out DIR]",
      "--from-folder ROOT --out DIR [--val-ratio R] [--seed S] [--json]",
      "--from-food101 ROOT --out DIR [--json]",
      "--from-hf ID_OR_PATH [--split TRAIN,HELD_OUT] [--image-column C] [--label-column C] [--labels-file F] [--revision R] [--out DIR] [--json]",
    ],
    options: {
      config: { type: "string", short: "c", valueName: "FILE", description: "YAML config to check; without it the embedded demo (configs/demo.yaml)." },
      set: { type: "string", multiple: true, valueName: "PATH=VALUE", description: "Override one config option (e.g. data.train_jsonl=data/train.jsonl)." },
      deep: { type: "boolean", description: "Also decode every image with Pillow, as the engine does (slower)." },
      json: { type: "boolean", description: "Print the report as JSON (the check also writes data_report.json)." },
      "allow-low-disk": { type: "boolean", description: "Report a disk shortfall without failing." },
      "from-folder": { type: "string", valueName: "ROOT", description: "Convert ROOT/<class>/<image> to a stratified train/val JSONL + labels.json." },
      "from-food101": { type: "string", valueName: "ROOT", description: "Convert Food-101 (images/, meta/) to train.jsonl/test.jsonl with the official split." },
      "from-hf": { type: "string", valueName: "ID_OR_PATH", description: "Convert a Hugging Face data set (Hub id or local folder; streamed) to images/ + train.jsonl/test.jsonl + labels.json [default --out: data/<name>]." },
      split: { type: "string", valueName: "TRAIN[,HELD_OUT]", description: "--from-hf: the splits to convert [default: train + validation|test]; the held-out one becomes test.jsonl." },
      "image-column": { type: "string", valueName: "C", description: "--from-hf: the image column [default: image]." },
      "label-column": { type: "string", valueName: "C", description: "--from-hf: the label column, a ClassLabel (else give --labels-file) [default: label]." },
      "labels-file": { type: "string", valueName: "F", description: "--from-hf: class names (JSON list) when the label column is not a ClassLabel." },
      revision: { type: "string", valueName: "REV", description: "--from-hf: Hub revision (branch, tag or commit)." },
      out: { type: "string", valueName: "DIR", description: "Converters: where the JSONL and labels.json go. Check: where data_report.png goes [default: the folder of data.train_jsonl]." },
      "val-ratio": { type: "string", valueName: "R", description: "--from-folder: share of each class put in validation, 0 < R < 1 [default: 0.1]." },
      seed: { type: "string", valueName: "S", description: "--from-folder: seed of the split [default: 42]." },
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

  const str = (k: string) => values[k] as string | undefined;
  const number = (k: string, valid: (n: number) => boolean, what: string) => {
    const raw = str(k);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n) || !valid(n)) throw new UserError(`--${k} must be ${what}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const folder = str("from-folder");
  const food = str("from-food101");
  const hf = str("from-hf");
  const converters = [folder && "--from-folder", food && "--from-food101", hf && "--from-hf"].filter(Boolean);
  if (converters.length > 1) throw new UserError(converters.length === 2 ? `give ${converters[0]} or ${converters[1]}, not both` : `give one of ${converters.join(", ")}, not several`);
  const converting = folder ?? food ?? hf;
  if (converting) {
    for (const k of ["config", "set", "deep", "allow-low-disk"]) {
      if (values[k] !== undefined && values[k] !== false) throw new UserError(`--${k} checks a config; it does not go with ${converters[0]}`);
    }
  } else {
    for (const k of ["val-ratio", "seed"]) if (values[k] !== undefined) throw new UserError(`--${k} only goes with --from-folder`);
  }
  if (!hf) for (const k of ["split", "image-column", "label-column", "labels-file", "revision"]) if (values[k] !== undefined) throw new UserError(`--${k} only goes with --from-hf`);
  if (converting && !hf && !str("out")) throw new UserError(`${converters[0]} needs --out DIR (where the JSONL and labels.json are written)`);

  let mode: PrepareMode;
  if (folder) {
    mode = {
      kind: "from-folder",
      root: folder,
      out: str("out")!,
      valRatio: number("val-ratio", (n) => n > 0 && n < 1, "a number between 0 and 1 (exclusive)"),
      seed: number("seed", (n) => Number.isInteger(n) && n >= 0, "an integer >= 0"),
    };
  } else if (hf) {
    if (values["val-ratio"] !== undefined || values.seed !== undefined) throw new UserError("--val-ratio and --seed only go with --from-folder (--from-hf keeps the data set's splits)");
    mode = { kind: "from-hf", source: hf, outDir: str("out"), split: str("split"), imageColumn: str("image-column"), labelColumn: str("label-column"), labelsFile: str("labels-file"), revision: str("revision") };
  } else if (food) {
    if (values["val-ratio"] !== undefined || values.seed !== undefined) throw new UserError("--val-ratio and --seed only go with --from-folder (Food-101 has its official split)");
    mode = { kind: "from-food101", root: food, out: str("out")! };
  } else {
    const resolved = resolveConfig({ configPath: str("config") ?? null, sets: (values.set as string[] | undefined) ?? [] });
    for (const w of resolved.warnings) process.stderr.write(`warning: ${w}\n`);
    mode = {
      kind: "check",
      config: resolved.config,
      configHash: resolved.configHash,
      deep: values.deep === true,
      reportDir: str("out"),
      allowLowDisk: values["allow-low-disk"] === true,
    };
  }
  const result = await prepare({ mode, json: values.json === true, progress: values.json ? silentProgress : makeProgress() });
  process.stdout.write(result.output);
  return result.exitCode;
});
