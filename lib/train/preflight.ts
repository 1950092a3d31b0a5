// Stage 2 of a launch, "preflight": will the run fit, and can its Hub pushes start? Nothing is
// written here, so a refusal (UserError, exit 2) leaves output_dir exactly as it was.
import type { QwenClassifyConfig } from "../../generated/config.ts";
import { createBackgroundPusher, type BackgroundPusher } from "../hub/background.ts";
import { preflight as diskPreflight, type PreflightParams, type PreflightResult } from "../preflight/disk.ts";
import { memoryText, type MemoryCheck } from "../preflight/memory_inputs.ts";
import { UserError } from "../util/errors.ts";
import { worldSizeFromArgv } from "./command.ts";

export interface PreflightStageParams {
  config: QwenClassifyConfig;
  outputDir: string;
  /** The torchrun argv: its process count sets the number of steps (and of checkpoints). */
  argv: string[];
  env: Record<string, string>;
  resume?: boolean;
  allowLowDisk?: boolean;
  statfs?: PreflightParams["statfs"];
  /** An injected pusher (tests); default: from config.hub. */
  pusher?: BackgroundPusher;
  /** Where push progress goes once training runs (the watcher's note). */
  log: (line: string) => void;
  stderr: { write(s: string): unknown };
  /** The memory estimate (lib/preflight/memory_inputs.ts checkMemory), when the caller made one. */
  memory?: MemoryCheck;
  allowOomRisk?: boolean;
  /** false: a node other than node 0 of several: node 0 checks the shared disk and pushes (counted once). */
  owner?: boolean;
}

export interface PreflightOutcome {
  /** null: not this launcher's to check (owner false). */
  disk: PreflightResult | null;
  pusher: BackgroundPusher;
}

export async function runPreflights(p: PreflightStageParams): Promise<PreflightOutcome> {
  if (p.owner === false) {
    memoryPreflight(p); // this node's GPUs
    return { disk: null, pusher: createBackgroundPusher({ config: { ...p.config, hub: { ...p.config.hub, push: "none" } } as never, outputDir: p.outputDir, log: p.log }) };
  }
  const disk = await diskPreflight({
    config: { ...p.config, training: { ...p.config.training, output_dir: p.outputDir } },
    allowLowDisk: p.allowLowDisk,
    statfs: p.statfs,
    worldSize: worldSizeFromArgv(p.argv),
    // tasks/train.ts sets DS_ACCELERATOR=cpu when it found no GPU; otherwise preflight counts them
    hasGpu: p.env.DS_ACCELERATOR === "cpu" ? false : undefined,
    resume: p.resume,
    env: p.env,
  });
  if (disk.overridden) p.stderr.write("warning: not enough disk space for the checkpoints of this run (--allow-low-disk: going ahead)\n");
  p.stderr.write(disk.text);
  memoryPreflight(p);
  // Hub pushes refuse without repo/token now, not after the first checkpoint.
  const pusher = p.pusher ?? createBackgroundPusher({ config: p.config as never, outputDir: p.outputDir, log: p.log });
  return { disk, pusher };
}

/** Will one GPU hold the run? The report is shown when the GPU's memory is known (nvidia-smi or --gpu-memory). */
function memoryPreflight(p: PreflightStageParams): void {
  const m = p.memory;
  if (!m) return;
  if (m.preflight?.gpuMemoryBytes != null) p.stderr.write(memoryText(m));
  if (m.preflight?.fits !== false) return;
  if (!p.allowOomRisk) throw new UserError("the run will not fit in GPU memory (estimate above): apply one of the changes listed, or pass --allow-oom-risk to launch anyway");
  p.stderr.write("warning: the memory estimate says this run will not fit (--allow-oom-risk: going ahead)\n");
}
