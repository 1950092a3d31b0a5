// bun run tasks/train.ts [--config F] [--set a.b=v ...] [--dry-run [--json]] [launch flags]
import { join, resolve } from "node:path";
import { parseTaskArgs } from "../lib/util/args.ts";
import { runTask, UserError } from "../lib/util/errors.ts";
import { resolveConfig, formatOverrideReport, buildDeepSpeedConfig, renderConfigOptionsHelp, REPO_ROOT } from "../lib/config/index.ts";
import { buildLaunchCommand, countGpus, defaultNprocPerNode } from "../lib/train/command.ts";
import { projectPython } from "../lib/util/python.ts";

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

function intFlag(name: string, min: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(String(raw).trim()) || n < min) throw new UserError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

await runTask(async () => {
  values = parseArgs(); // inside runTask: an unknown flag is a clear message and exit 2
  const nnodes = intFlag("nnodes", 1) ?? 1;
  const nodeRank = intFlag("node-rank", 0) ?? 0;
  if (nnodes > 1 && !values["rdzv-endpoint"]) throw new UserError(`--nnodes ${nnodes} needs --rdzv-endpoint HOST:PORT (the same on every node)`);
  if (nodeRank >= nnodes) throw new UserError(`--node-rank ${nodeRank} must be below --nnodes ${nnodes}`);

  const resolved = resolveConfig({ configPath: (values.config as string | undefined) ?? null, sets: (values.set as string[] | undefined) ?? [] });
  const { config } = resolved;
  const gpus = countGpus();
  const hasGpu = gpus > 0;
  const nprocPerNode = intFlag("nproc-per-node", 1) ?? defaultNprocPerNode(gpus);
  const outputDir = config.training.output_dir;
  const resumeFlag = values.resume as string | undefined;
  const resume = resumeFlag !== undefined ? (resumeFlag === "auto" ? "auto" : resolve(resumeFlag)) : config.training.resume_from_checkpoint;
  const launch = buildLaunchCommand({
    resolvedPath: join(outputDir, "resolved_config.json"),
    dsConfigPath: join(outputDir, "ds_config.json"),
    nprocPerNode,
    nnodes,
    nodeRank,
    rdzvEndpoint: values["rdzv-endpoint"] as string | undefined,
    rdzvId: values["rdzv-id"] as string | undefined,
    resume,
    python: projectPython(),
    engineDir: join(REPO_ROOT, "engine"),
    hasGpu,
  });
  const dsConfig = buildDeepSpeedConfig({ config, worldSize: nprocPerNode * nnodes, hasGpu });

  if (values["dry-run"]) {
    if (values.json) {
      const overrides = resolved.overrides.map(({ path, requested, value, source, reason, kind }) => ({ path, requested, value, source, reason, kind }));
      process.stdout.write(
        JSON.stringify({ config, overrides, command: launch.argv, env: launch.env, ds_config: dsConfig, warnings: resolved.warnings, config_hash: resolved.configHash, source_file: resolved.sourceFile }) + "\n",
      );
      return 0;
    }
    process.stdout.write(`config: ${resolved.sourceFile} (valid)\n`);
    process.stdout.write(formatOverrideReport(resolved.overrides, resolved.warnings));
    const envText = Object.entries(launch.env).map(([k, v]) => `${k}=${quote(v)}`).join(" ");
    process.stdout.write(`launch command (dry run: nothing written, nothing started):\n  ${envText} ${launch.argv.map(quote).join(" ")}\n`);
    process.stdout.write(`output_dir: ${outputDir}\n`);
    return 0;
  }

  process.stderr.write(formatOverrideReport(resolved.overrides, resolved.warnings));
  const { runTraining } = await import("../lib/train/run.ts");
  const result = await runTraining({
    config,
    overrides: resolved.overrides,
    warnings: resolved.warnings,
    configHash: resolved.configHash,
    sourceFile: resolved.sourceFile,
    launch,
    dsConfig,
    outputDir,
    resume: Boolean(resume), // the launch argv already carries --resume auto|PATH
    overwrite: Boolean(values.overwrite),
    allowLowDisk: Boolean(values["allow-low-disk"]),
  });
  return result.exitCode;
});
