import { statfsSync } from "node:fs";
import { join } from "node:path";
import { dirBytes } from "../util/fs.ts";
import { listCheckpoints } from "./scan.ts";

/** Bytes of each part of a checkpoint folder (symlinks are not followed). */
export interface CheckpointBytes {
  deepspeed: number;
  hf_model: number;
  total: number;
}

export function checkpointBytes(path: string): CheckpointBytes {
  return {
    deepspeed: dirBytes(join(path, "deepspeed")),
    hf_model: dirBytes(join(path, "hf_model")),
    total: dirBytes(path),
  };
}

export interface FreeSpace {
  /** Bytes an unprivileged process may still write. */
  freeBytes: number;
  totalBytes: number;
}

/** Free and total space of the file system holding path (fs.statfs). */
export function freeSpace(params: { path: string; statfs?: typeof statfsSync }): FreeSpace {
  const st = (params.statfs ?? statfsSync)(params.path);
  return { freeBytes: Number(st.bavail) * Number(st.bsize), totalBytes: Number(st.blocks) * Number(st.bsize) };
}

export interface RunDiskUsage {
  outputDir: string;
  /** Bytes of everything under output_dir (checkpoints, logs, configs). */
  runBytes: number;
  /** Bytes of the complete checkpoints, one entry each. */
  checkpoints: { name: string; step: number; bytes: CheckpointBytes }[];
  free: FreeSpace;
}

/** What a run occupies and what remains free on its disk (printed by the launcher at each save). */
export function runDiskUsage(params: { outputDir: string; statfs?: typeof statfsSync }): RunDiskUsage {
  const checkpoints = listCheckpoints({ outputDir: params.outputDir }).map((c) => ({
    name: c.name,
    step: c.step,
    bytes: checkpointBytes(c.path),
  }));
  return {
    outputDir: params.outputDir,
    runBytes: dirBytes(params.outputDir),
    checkpoints,
    free: freeSpace({ path: params.outputDir, statfs: params.statfs }),
  };
}
