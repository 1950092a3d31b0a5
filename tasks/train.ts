// bun run tasks/train.ts [--config F] [--set a.b=v ...] [--dry-run [--json]] [launch flags]
import { parseTaskArgs } from "../lib/util/args.ts";
import { runTask } from "../lib/util/errors.ts";
import { resolveConfig, formatOverrideReport, renderConfigOptionsHelp } from "../lib/config/index.ts";
import { formatDryRun, planLaunch, type LaunchFlags } from "../lib/train/plan.ts";
import { checkModelSource } from "../lib/hub/model_source.ts";

const parseArgs = () => parseTaskArgs({
  name: "train",
  summary: "validate and resolve a config, then launch DeepSpeed training with torchrun",
  usage: ["[--config FILE] [--set PATH=VALUE ...] [--dry-run [--json]] [launch options]"],
  options: {
    config: { type: "string", short: "c", valueName: "FILE", description: "YAML config; without it the embedded demo (configs/demo.yaml) runs." },
    set: { type: "string", multiple: true, valueName: "PATH=VALUE", description: "Override one config option, typed by the schema (e.g. training.lr=1e-5)." },
    "dry-run": { type: "boolean", description: "Validate, resolve, print the override report and the launch command; write nothing." },
    json: { type: "boolean", description: "With --dry-run: print one JSON object {config, overrides, command} on stdout." },
    "nproc-per-node": { type: "string", valueName: "N", description: "Processes on this node (default: GPUs in CUDA_VISIBLE_DEVICES / nvidia-smi, else 1)." },
    nnodes: { type: "string", valueName: "N", description: "Number of nodes (default 1: torchrun --standalone)." },
    "node-rank": { type: "string", valueName: "R", description: "Rank of this node, 0..nnodes-1 (several nodes only)." },
    "rdzv-endpoint": { type: "string", valueName: "HOST:PORT", description: "Rendezvous endpoint shared by all nodes (several nodes only)." },
    "rdzv-id": { type: "string", valueName: "ID", description: "Rendezvous id shared by all nodes [default: qwen-classify]." },
    resume: { type: "string", valueName: "auto|PATH", description: "Resume: auto (newest complete checkpoint in output_dir) or a checkpoint path." },
    overwrite: { type: "boolean", description: "Start fresh even if output_dir already holds checkpoints." },
    "allow-low-disk": { type: "boolean", description: "Start even if the disk check says the checkpoints will not fit." },
  },
  examples: [
    "bun run tasks/train.ts                                   # the demo, on the CPU",
    "bun run tasks/train.ts --config configs/food101.yaml --dry-run",
    "bun run tasks/train.ts --config configs/food101_no_eval_save_all.yaml --set training.lr=1e-5",
    "bun run tasks/train.ts --config configs/food101.yaml --nnodes 2 --node-rank 0 --rdzv-endpoint host0:29500",
  ],
  extraHelp: renderConfigOptionsHelp(),
}).values;
let values: ReturnType<typeof parseArgs> = {};

await runTask(async () => {
  values = parseArgs(); // inside runTask: an unknown flag is a clear message and exit 2
  const resolved = resolveConfig({ configPath: (values.config as string | undefined) ?? null, sets: (values.set as string[] | undefined) ?? [] });
  const plan = planLaunch({ resolved, flags: values as LaunchFlags });
  const model = await checkModelSource({ config: resolved.config }); // a Hub id: repo, revision, token, size; exit 2, nothing written
  if (values["dry-run"]) {
    if (model.kind === "hub") process.stderr.write(`${model.text}\n`);
    process.stdout.write(formatDryRun({ resolved, plan, json: Boolean(values.json) }));
    return 0;
  }
  process.stderr.write(formatOverrideReport(resolved.overrides, resolved.warnings));
  const { runTraining } = await import("../lib/train/run.ts");
  const result = await runTraining({
    config: resolved.config,
    overrides: resolved.overrides,
    warnings: resolved.warnings,
    configHash: resolved.configHash,
    sourceFile: resolved.sourceFile,
    launch: plan.launch,
    dsConfig: plan.dsConfig,
    outputDir: plan.outputDir,
    resume: plan.resume !== null, // the launch argv already carries --resume auto|PATH
    overwrite: Boolean(values.overwrite),
    allowLowDisk: Boolean(values["allow-low-disk"]),
  });
  return result.exitCode;
});
