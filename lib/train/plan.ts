// From parsed launch flags + a resolved config to everything a launch needs (or a dry run shows):
// the torchrun argv and env, the ds_config, the resume target. No side effects but the GPU count.
import { join, resolve } from "node:path";
import { buildDeepSpeedConfig, formatOverrideReport, type ResolvedConfig } from "../config/index.ts";
import { memoryJson, memoryText, type MemoryCheck } from "../preflight/memory_inputs.ts";
import { UserError } from "../util/errors.ts";
import { ENGINE_DIR, projectPython } from "../util/python.ts";
import { countGpus } from "../util/gpus.ts";
import { buildLaunchCommand, DEFAULT_RDZV_ID, DEFAULT_RDZV_TIMEOUT_S, defaultNprocPerNode, type LaunchCommand } from "./command.ts";
import type { NodeInfo } from "./nodes.ts";

/** tasks/train.ts's launch flags, already typed and bounded by its option declarations (lib/util/cli.ts). */
export interface LaunchFlags {
  "nproc-per-node"?: number;
  nnodes?: number;
  "node-rank"?: number;
  "rdzv-endpoint"?: string;
  "rdzv-id"?: string;
  "rdzv-timeout"?: number;
  resume?: string;
  "allow-batch-change"?: boolean;
}

export interface LaunchPlan {
  launch: LaunchCommand;
  dsConfig: Record<string, unknown>;
  outputDir: string;
  /** "auto", an absolute checkpoint path, or null (start fresh). */
  resume: string | null;
  worldSize: number;
  hasGpu: boolean;
  /** Several nodes (--nnodes > 1): this node's place; null for one node. */
  nodes: NodeInfo | null;
}

export function planLaunch(params: { resolved: ResolvedConfig; flags: LaunchFlags; gpus?: number; python?: string; cwd?: string }): LaunchPlan {
  const { flags } = params;
  const { config } = params.resolved;
  const nnodes = flags.nnodes ?? 1;
  const nodeRank = flags["node-rank"] ?? 0;
  if (nnodes > 1 && !flags["rdzv-endpoint"]) throw new UserError(`--nnodes ${nnodes} needs --rdzv-endpoint HOST:PORT (the same on every node)`);
  if (nodeRank >= nnodes) throw new UserError(`--node-rank ${nodeRank} must be below --nnodes ${nnodes}`);
  for (const flag of ["node-rank", "rdzv-endpoint", "rdzv-id", "rdzv-timeout"] as const) {
    if (nnodes === 1 && flags[flag] !== undefined) throw new UserError(`--${flag} is for several nodes only: add --nnodes N (N > 1), or drop --${flag}`);
  }
  const gpus = params.gpus ?? countGpus();
  const hasGpu = gpus > 0;
  const nprocPerNode = flags["nproc-per-node"] ?? defaultNprocPerNode(gpus);
  const outputDir = config.training.output_dir;
  const resume =
    flags.resume !== undefined ? (flags.resume === "auto" ? "auto" : resolve(params.cwd ?? process.cwd(), flags.resume)) : (config.training.resume_from_checkpoint ?? null);
  const launch = buildLaunchCommand({
    resolvedPath: join(outputDir, "resolved_config.json"),
    dsConfigPath: join(outputDir, "ds_config.json"),
    nprocPerNode,
    nnodes,
    nodeRank,
    rdzvEndpoint: flags["rdzv-endpoint"],
    rdzvId: flags["rdzv-id"],
    rdzvTimeout: flags["rdzv-timeout"],
    configHash: params.resolved.configHash,
    resume,
    allowBatchChange: flags["allow-batch-change"],
    python: params.python ?? projectPython(),
    engineDir: ENGINE_DIR,
    hasGpu,
  });
  const worldSize = nprocPerNode * nnodes;
  const dsConfig = buildDeepSpeedConfig({ config, worldSize, hasGpu }) as Record<string, unknown>;
  const nodes: NodeInfo | null =
    nnodes > 1
      ? { nnodes, nodeRank, nprocPerNode, endpoint: flags["rdzv-endpoint"]!, rdzvId: flags["rdzv-id"] ?? DEFAULT_RDZV_ID, joinTimeoutS: flags["rdzv-timeout"] ?? DEFAULT_RDZV_TIMEOUT_S }
      : null;
  return { launch, dsConfig, outputDir, resume, worldSize, hasGpu, nodes };
}

const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** `--dry-run`: the report and the exact launch command; `--dry-run --json`: one JSON object. */
export function formatDryRun(params: { resolved: ResolvedConfig; plan: LaunchPlan; json: boolean; memory?: MemoryCheck }): string {
  const { resolved, plan } = params;
  if (params.json) {
    const overrides = resolved.overrides.map(({ path, requested, value, source, reason, kind }) => ({ path, requested, value, source, reason, kind }));
    return (
      JSON.stringify({
        config: resolved.config,
        overrides,
        command: plan.launch.argv,
        env: plan.launch.env,
        ds_config: plan.dsConfig,
        warnings: resolved.warnings,
        config_hash: resolved.configHash,
        source_file: resolved.sourceFile,
        ...(params.memory ? { memory: memoryJson(params.memory) } : {}),
      }) + "\n"
    );
  }
  const envText = Object.entries(plan.launch.env).map(([k, v]) => `${k}=${quote(v)}`).join(" ");
  return (
    `config: ${resolved.sourceFile} (valid)\n` +
    formatOverrideReport(resolved.overrides, resolved.warnings) +
    `launch command (dry run: nothing written, nothing started):\n  ${envText} ${plan.launch.argv.map(quote).join(" ")}\n` +
    `output_dir: ${plan.outputDir}\n` +
    (params.memory ? memoryText(params.memory) : "")
  );
}
