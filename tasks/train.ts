// bun run tasks/train.ts [--config F] [--set a.b=v ...] [--dry-run [--json]] [launch flags]
import { parseTask } from "../lib/util/cli.ts";
import { runTask } from "../lib/util/errors.ts";
import { resolveConfig, formatOverrideReport, renderConfigOptionsHelp } from "../lib/config/index.ts";
import { formatDryRun, planLaunch } from "../lib/train/plan.ts";
import { checkMemory } from "../lib/preflight/memory_inputs.ts";
import { checkModelSource } from "../lib/hub/model_source.ts";

await runTask(async () => {
  // inside runTask: an unknown flag is a clear message and exit 2
  const values = parseTask({
    name: "train",
    summary: "validate and resolve a config, then launch DeepSpeed training with torchrun",
    usage: ["[--config FILE] [--set PATH=VALUE ...] [--dry-run [--json] [--plan]] [--gpu-memory SIZE] [launch options]"],
    options: {
      config: { type: "string", short: "c", valueName: "FILE", help: "YAML config; without it the embedded demo (configs/demo.yaml) runs." },
      set: { type: "strings", valueName: "PATH=VALUE", help: "Override one config option, typed by the schema (e.g. training.lr=1e-5)." },
      "dry-run": { type: "boolean", help: "Validate, resolve, print the override report and the launch command; write nothing." },
      json: { type: "boolean", help: "With --dry-run: print one JSON object {config, overrides, command} on stdout." },
      "nproc-per-node": { type: "int", min: 1, valueName: "N", help: "Processes on this node (default: GPUs in CUDA_VISIBLE_DEVICES / nvidia-smi, else 1)." },
      nnodes: { type: "int", min: 1, valueName: "N", help: "Number of nodes (default 1: torchrun --standalone)." },
      "node-rank": { type: "int", min: 0, valueName: "R", help: "Rank of this node, 0..nnodes-1 (several nodes only)." },
      "rdzv-endpoint": { type: "string", valueName: "HOST:PORT", help: "Rendezvous endpoint shared by all nodes (several nodes only)." },
      "rdzv-id": { type: "string", valueName: "ID", help: "Rendezvous id shared by all nodes [default: qwen-classify]." },
      "rdzv-timeout": { type: "int", min: 1, valueName: "SECONDS", help: "Several nodes: how long the rendezvous waits for every node to join before this node exits with an error [default: 600]." },
      resume: { type: "string", valueName: "auto|PATH", conflicts: ["overwrite"], help: "Resume: auto (newest complete checkpoint in output_dir) or a checkpoint path. Another process count keeps the global batch (accumulation adjusted; ZeRO state converted to DeepSpeed's universal format); an older checkpoint moves the newer ones to output_dir/superseded-<time>/." },
      "allow-batch-change": { type: "boolean", help: "Resume even though the global batch (processes x per-device batch x accumulation) differs from the checkpoint's (a warning instead of exit 2)." },
      overwrite: { type: "boolean", help: "Start fresh even if output_dir already holds checkpoints." },
      "allow-low-disk": { type: "boolean", help: "Start even if the disk check says the checkpoints will not fit." },
      "gpu-memory": { type: "string", valueName: "SIZE", help: "Memory of one GPU for the memory check (e.g. 80GiB) when planning on a machine without them [default: nvidia-smi]." },
      "allow-oom-risk": { type: "boolean", help: "Start even if the memory estimate says one GPU will not hold the run." },
      plan: { type: "boolean", help: "With --dry-run: the smallest GPU setups that fit, for full fine-tuning and for LoRA." },
    },
    examples: [
      "bun run tasks/train.ts                                   # the demo, on the CPU",
      "bun run tasks/train.ts --config configs/food101.yaml --dry-run",
      "bun run tasks/train.ts --config configs/food101.yaml --dry-run --plan --gpu-memory 80GiB   # will it fit; how many GPUs",
      "bun run tasks/train.ts --config configs/food101_no_eval_save_all.yaml --set training.lr=1e-5",
      "bun run tasks/train.ts --config configs/food101.yaml --nnodes 2 --node-rank 0 --rdzv-endpoint host0:29500   # and --node-rank 1 on the other node",
    ],
    extraHelp: renderConfigOptionsHelp(),
  });
  const resolved = resolveConfig({ configPath: values.config ?? null, sets: values.set });
  const plan = planLaunch({ resolved, flags: values });
  const model = await checkModelSource({ config: resolved.config }); // a Hub id: repo, revision, token, size; exit 2, nothing written
  const memory = checkMemory({ config: resolved.config, worldSize: plan.worldSize, hasGpu: plan.hasGpu, gpuMemory: values["gpu-memory"], plan: values.plan });
  if (values["dry-run"]) {
    if (model.kind === "hub") process.stderr.write(`${model.text}\n`);
    process.stdout.write(formatDryRun({ resolved, plan, json: values.json, memory }));
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
    overwrite: values.overwrite,
    allowLowDisk: values["allow-low-disk"],
    memory,
    allowOomRisk: values["allow-oom-risk"],
    nodes: plan.nodes,
  });
  return result.exitCode;
});
