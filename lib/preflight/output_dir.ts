import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { listCheckpoints } from "../checkpoints/scan.ts";
import { UserError } from "../util/errors.ts";

export interface OutputDirState {
  /** "new": no checkpoints there; "same": checkpoints of this config; "different": of another one. */
  state: "new" | "same" | "different";
  checkpoints: string[];
  /** config_hash values found (resolved_config.json and each training_info.json). */
  hashes: string[];
}

/**
 * Refuses an output_dir that holds checkpoints written with a different config (config_hash in
 * resolved_config.json or any checkpoint's training_info.json), unless the run resumes or
 * overwrites. Incomplete checkpoint folders count as checkpoints too. Used by tasks/train.ts
 * (through lib/train/run.ts, before anything is written) and reported by tasks/prepare.ts.
 */
export function checkOutputDir(params: { outputDir: string; configHash: string; resume?: boolean; overwrite?: boolean }): OutputDirState {
  const { outputDir, configHash } = params;
  if (!existsSync(outputDir)) return { state: "new", checkpoints: [], hashes: [] };
  const hashes = new Set<string>();
  try {
    const prev = JSON.parse(readFileSync(join(outputDir, "resolved_config.json"), "utf8"));
    if (typeof prev?.config_hash === "string") hashes.add(prev.config_hash);
  } catch {
    // none or unreadable: the checkpoints decide
  }
  const list = listCheckpoints({ outputDir, includeIncomplete: true });
  for (const c of list) if (typeof c.info?.config_hash === "string") hashes.add(c.info.config_hash);
  const checkpoints = list.map((c) => c.name);
  if (checkpoints.length === 0) return { state: "new", checkpoints, hashes: [...hashes] };
  const foreign = [...hashes].filter((h) => h !== configHash);
  if (foreign.length === 0) return { state: "same", checkpoints, hashes: [...hashes] };
  if (!params.resume && !params.overwrite) {
    throw new UserError(
      `${outputDir} holds checkpoints of a different config (config_hash ${foreign[0].slice(0, 12)}…, this run ${configHash.slice(0, 12)}…): ` +
        `${checkpoints.slice(0, 5).join(", ")}${checkpoints.length > 5 ? ", …" : ""}`,
      {
        exitCode: 2,
        hint: "choose another training.output_dir (--set training.output_dir=...), pass --resume to continue from them with this config, or --overwrite to delete them",
      },
    );
  }
  return { state: "different", checkpoints, hashes: [...hashes] };
}
