// Stage 2 of a launch, "preflight": will the run fit, and can its Hub pushes start? Nothing is
// written here, so a refusal (UserError, exit 2) leaves output_dir exactly as it was.
import type { QwenClassifyConfig } from "../../generated/config.ts";
import { createBackgroundPusher, type BackgroundPusher } from "../hub/background.ts";
import { preflight as diskPreflight, type PreflightParams, type PreflightResult } from "../preflight/disk.ts";
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
}

export interface PreflightOutcome {
  disk: PreflightResult;
  pusher: BackgroundPusher;
}

export async function runPreflights(p: PreflightStageParams): Promise<PreflightOutcome> {
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
  // A memory preflight (lib/preflight/memory.ts) slots in here: same inputs, refuses the same way.
  // Hub pushes refuse without repo/token now, not after the first checkpoint.
  const pusher = p.pusher ?? createBackgroundPusher({ config: p.config as never, outputDir: p.outputDir, log: p.log });
  return { disk, pusher };
}
