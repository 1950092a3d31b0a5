import { existsSync, lstatSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { dirBytes, writeFileAtomic } from "../util/fs.ts";
import type { TrainingInfo } from "./scan.ts";

/** The file-system calls slimming makes; tests inject failures through it. */
export interface SlimFs {
  rm(path: string): void;
  rename(from: string, to: string): void;
  writeFileAtomic(path: string, data: string): void;
}

export const nodeSlimFs: SlimFs = {
  rm: (p) => rmSync(p, { recursive: true, force: true }),
  rename: (a, b) => renameSync(a, b),
  writeFileAtomic: (p, d) => writeFileAtomic(p, d),
};

/**
 * Why hf_model/ of a checkpoint cannot stand on its own, or null when it can:
 * config.json plus the weights (model.safetensors, or an index whose shards all exist).
 */
export function hfModelProblem(checkpointPath: string): string | null {
  const hf = join(checkpointPath, "hf_model");
  if (!existsSync(hf)) return "no hf_model/";
  if (!existsSync(join(hf, "config.json"))) return "hf_model/config.json is missing";
  const index = join(hf, "model.safetensors.index.json");
  if (existsSync(index)) {
    let weightMap: Record<string, string>;
    try {
      weightMap = JSON.parse(readFileSync(index, "utf8")).weight_map ?? {};
    } catch {
      return "hf_model/model.safetensors.index.json is not valid JSON";
    }
    const missing = [...new Set(Object.values(weightMap))].filter((f) => !existsSync(join(hf, f)));
    if (missing.length) return `hf_model/ misses shard(s) ${missing.join(", ")}`;
    return null;
  }
  if (existsSync(join(hf, "model.safetensors"))) return null;
  if (readdirSync(hf).some((f) => f.endsWith(".safetensors"))) return null;
  return "hf_model/ holds no safetensors weights";
}

/** Why this checkpoint may not be slimmed, or null when it may. Never touches anything. */
export function slimRefusal(checkpointPath: string): string | null {
  const infoPath = join(checkpointPath, "training_info.json");
  if (!existsSync(infoPath)) return "no training_info.json (incomplete or foreign): never touched";
  const hf = hfModelProblem(checkpointPath);
  if (hf) return `${hf}: slimming would leave nothing usable (export it first: bun run tasks/export.ts --checkpoint ${checkpointPath})`;
  return null;
}

export interface SlimResult {
  path: string;
  /** true when deepspeed/ was (or, in a dry run, would be) removed. */
  slimmed: boolean;
  freedBytes: number;
  reason: string;
}

/**
 * Removes deepspeed/ from a complete checkpoint that has a usable hf_model/.
 * training_info.json is rewritten atomically FIRST (slim: true, has_deepspeed_state: false, bytes),
 * so a crash in between leaves a checkpoint marked slim with leftover state, never the reverse;
 * running again finishes the removal. Throws a UserError when the checkpoint may not be slimmed.
 */
export function slimCheckpoint(params: { path: string; dryRun?: boolean; fs?: SlimFs }): SlimResult {
  const { path } = params;
  const fs = params.fs ?? nodeSlimFs;
  const refusal = slimRefusal(path);
  if (refusal) throw new UserError(`cannot slim ${path}: ${refusal}`);
  const infoPath = join(path, "training_info.json");
  const info = JSON.parse(readFileSync(infoPath, "utf8")) as TrainingInfo;
  const ds = join(path, "deepspeed");
  let dsExists = false;
  try {
    lstatSync(ds);
    dsExists = true;
  } catch {
    dsExists = false;
  }
  const leftovers = readdirSync(path).filter((f) => f.startsWith(".deepspeed.slimming-"));
  if (!dsExists && info.slim && leftovers.length === 0) {
    return { path, slimmed: false, freedBytes: 0, reason: "already slim" };
  }
  const leftoverBytes = leftovers.reduce((n, f) => n + dirBytes(join(path, f)), 0);
  const dsBytes = (dsExists ? dirBytes(ds) : 0) + leftoverBytes;
  const hfBytes = dirBytes(join(path, "hf_model"));
  const total = dirBytes(path) - dsBytes;
  const reason = info.slim ? "finishing an interrupted slimming" : "optimizer/ZeRO state removed, hf_model/ kept";
  if (params.dryRun) return { path, slimmed: true, freedBytes: dsBytes, reason };
  const updated: TrainingInfo = {
    ...info,
    slim: true,
    has_deepspeed_state: false,
    has_hf_model: true,
    bytes: { deepspeed: 0, hf_model: hfBytes, total },
  };
  fs.writeFileAtomic(infoPath, JSON.stringify(updated, null, 2) + "\n");
  if (dsExists) {
    // Rename first: deepspeed/ disappears at once; the rm of the renamed folder may take a while.
    const doomed = join(path, `.deepspeed.slimming-${process.pid}`);
    fs.rename(ds, doomed);
    fs.rm(doomed);
  }
  for (const f of leftovers) fs.rm(join(path, f));
  return { path, slimmed: true, freedBytes: dsBytes, reason };
}
