// bun run tasks/evaluate.ts --checkpoint out/checkpoint-800 | --all out/ [options]
import { parseTaskArgs } from "../lib/util/args.ts";
import { UserError, runTask } from "../lib/util/errors.ts";
import { evaluateCheckpoints } from "../lib/evaluate/evaluate.ts";
import { humanReport, jsonPayload } from "../lib/evaluate/report.ts";

function intFlag(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(String(v)) || n < 1) throw new UserError(`--${flag} must be a whole number >= 1, got '${v}'`);
  return n;
}

await runTask(async () => {
  const { values } = parseTaskArgs({
    name: "evaluate",
    summary: "evaluate one checkpoint, or every checkpoint of a run and pick the best",
    usage: ["--checkpoint OUT/checkpoint-N [options]", "--all OUT [--keep-best K] [options]"],
    options: {
      checkpoint: { type: "string", alias: ["checkpoint_path"], valueName: "PATH", description: "A checkpoint-N folder to evaluate." },
      all: { type: "string", valueName: "OUT", description: "A run's output_dir: evaluate every complete checkpoint in one engine process (the sweep)." },
      config: { type: "string", alias: ["config_path"], valueName: "FILE", description: "The run's config (resolved_config.json or YAML). Default: OUT/resolved_config.json." },
      "eval-data": { type: "string", alias: ["eval_data"], valueName: "JSONL", description: "Evaluation set. Default: the config's data.val_jsonl." },
      json: { type: "boolean", description: "Print the metrics as JSON on stdout (progress stays on stderr)." },
      force: { type: "boolean", description: "Re-evaluate checkpoints already evaluated on the same set." },
      "keep-best": { type: "string", valueName: "K", description: "After a sweep, apply the retention policy best:K (deletes the other checkpoints)." },
      "nproc-per-node": { type: "string", valueName: "N", description: "Data-parallel evaluation with N processes (torchrun); metrics stay exact." },
      "batch-size": { type: "string", valueName: "B", description: "Per-process batch size. Default: training.evaluation.batch_size, else 2 x per_device_batch_size." },
    },
    examples: [
      "bun run tasks/evaluate.ts --checkpoint out/run/checkpoint-800",
      "bun run tasks/evaluate.ts --checkpoint out/run/checkpoint-800 --eval-data data/test.jsonl --json",
      "bun run tasks/evaluate.ts --all out/run --keep-best 2",
      "bun run tasks/evaluate.ts --all out/run --nproc-per-node 8",
    ],
  });
  const result = await evaluateCheckpoints({
    checkpoint: values.checkpoint as string | undefined,
    all: values.all as string | undefined,
    config: values.config as string | undefined,
    evalData: values["eval-data"] as string | undefined,
    force: Boolean(values.force),
    keepBest: intFlag(values["keep-best"], "keep-best"),
    nprocPerNode: intFlag(values["nproc-per-node"], "nproc-per-node"),
    batchSize: intFlag(values["batch-size"], "batch-size"),
  });
  process.stdout.write(values.json ? JSON.stringify(jsonPayload(result), null, 2) + "\n" : humanReport(result));
  return result.retention?.failed ? 1 : 0;
});
