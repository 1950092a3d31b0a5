// bun run tasks/evaluate.ts --checkpoint out/checkpoint-800 | --all out/ [options]
import { parseTask } from "../lib/util/cli.ts";
import { runTask } from "../lib/util/errors.ts";
import { evaluateCheckpoints } from "../lib/evaluate/evaluate.ts";
import { humanReport, jsonPayload } from "../lib/evaluate/report.ts";

await runTask(async () => {
  const values = parseTask({
    name: "evaluate",
    summary: "evaluate one checkpoint, or every checkpoint of a run and pick the best",
    usage: ["--checkpoint OUT/checkpoint-N [options]", "--all OUT [--keep-best K] [options]"],
    options: {
      checkpoint: { type: "string", alias: ["checkpoint_path"], valueName: "PATH", help: "A checkpoint-N folder to evaluate." },
      all: { type: "string", valueName: "OUT", help: "A run's output_dir: evaluate every complete checkpoint in one engine process (the sweep)." },
      config: { type: "string", alias: ["config_path"], valueName: "FILE", help: "The run's config (resolved_config.json or YAML). Default: OUT/resolved_config.json." },
      "eval-data": { type: "string", alias: ["eval_data"], valueName: "JSONL", help: "Evaluation set. Default: the config's data.val_jsonl." },
      json: { type: "boolean", help: "Print the metrics as JSON on stdout (progress stays on stderr)." },
      force: { type: "boolean", help: "Re-evaluate checkpoints already evaluated on the same set." },
      "keep-best": { type: "int", min: 1, valueName: "K", help: "After a sweep, apply the retention policy best:K (deletes the other checkpoints)." },
      "nproc-per-node": { type: "int", min: 1, valueName: "N", help: "Data-parallel evaluation with N processes (torchrun); metrics stay exact." },
      "batch-size": { type: "int", min: 1, valueName: "B", help: "Per-process batch size. Default: training.evaluation.batch_size, else 2 x per_device_batch_size." },
      "cache-mb": { type: "int", min: 0, valueName: "MB", help: "--all: decoded images kept in RAM per process (uint8, at the processor's size) [default: 4096]." },
      "cache-disk-mb": { type: "int", min: 0, valueName: "MB", help: "--all: spill file bound per process; images beyond both budgets are decoded again for every checkpoint [default: 4096]." },
    },
    examples: [
      "bun run tasks/evaluate.ts --checkpoint out/run/checkpoint-800",
      "bun run tasks/evaluate.ts --checkpoint out/run/checkpoint-800 --eval-data data/test.jsonl --json",
      "bun run tasks/evaluate.ts --all out/run --keep-best 2",
      "bun run tasks/evaluate.ts --all out/run --nproc-per-node 8",
    ],
  });
  const result = await evaluateCheckpoints({
    checkpoint: values.checkpoint,
    all: values.all,
    config: values.config,
    evalData: values["eval-data"],
    force: values.force,
    keepBest: values["keep-best"],
    nprocPerNode: values["nproc-per-node"],
    batchSize: values["batch-size"],
    cacheMb: values["cache-mb"],
    cacheDiskMb: values["cache-disk-mb"],
  });
  process.stdout.write(values.json ? JSON.stringify(jsonPayload(result), null, 2) + "\n" : humanReport(result));
  return result.retention?.failed ? 1 : 0;
});
