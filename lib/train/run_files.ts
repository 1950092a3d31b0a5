// Stage 3 of a launch, "write the run files": the first stage that writes. output_dir is created
// (or cleared by --overwrite), then resolved_config.json, ds_config.json and logs/.
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BEST_RECORD, BEST_RECORD_SET_ASIDE, reconcileBestRecord } from "../checkpoints/best.ts";
import { acquireRunLock } from "../checkpoints/lock.ts";
import type { OutputDirState } from "../preflight/output_dir.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { nodeLockName, nodeLogPath, ownsRun, type NodeInfo } from "./nodes.ts";
import { redact } from "./output.ts";

export const STOP_FILE = ".stop_requested";

export interface RunFiles {
  outputDir: string;
  resolvedPath: string;
  dsPath: string;
  logDir: string;
  logPath: string;
  eventsPath: string;
  stopFile: string;
}

/** `nodes`: several nodes; a node other than 0 tees its torchrun into its own log (lib/train/nodes.ts). */
export function runFilePaths(outputDir: string, nodes?: NodeInfo | null): RunFiles {
  const logDir = join(outputDir, "logs");
  return {
    outputDir,
    resolvedPath: join(outputDir, "resolved_config.json"),
    dsPath: join(outputDir, "ds_config.json"),
    logDir,
    logPath: nodeLogPath(logDir, nodes),
    eventsPath: join(logDir, "events.jsonl"),
    stopFile: join(outputDir, STOP_FILE),
  };
}

/** What --overwrite removes: only the entries a run writes, never anything else in output_dir. */
export function clearRun(outputDir: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(outputDir).sort()) {
    if (
      /^checkpoint-\d+$/.test(name) ||
      /^\.checkpoint-\d+\./.test(name) ||
      ["logs", "resolved_config.json", "ds_config.json", BEST_RECORD, BEST_RECORD_SET_ASIDE, STOP_FILE].includes(name)
    ) {
      rmSync(join(outputDir, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

export function writeRunFiles(p: {
  files: RunFiles;
  previous: OutputDirState;
  resume?: boolean;
  overwrite?: boolean;
  /** resolved_config.json's content. */
  resolvedDoc: unknown;
  dsConfig: unknown;
  secrets: string[];
  stderr: { write(s: string): unknown };
  /** The torchrun argv, recorded in the run lock. */
  command: string[];
  /** Best-model tracking on in this run (else an earlier run's best record is set aside). */
  trackingEnabled: boolean;
  now?: () => number;
  /** Several nodes: only node 0 writes the run files; another node takes its own lock and makes logs/. */
  nodes?: NodeInfo | null;
}): () => void {
  const { files } = p;
  mkdirSync(files.outputDir, { recursive: true });
  if (!ownsRun(p.nodes)) {
    const release = acquireRunLock({ outputDir: files.outputDir, name: nodeLockName(p.nodes), now: p.now, command: p.command, log: (l) => void p.stderr.write(`note: ${l}\n`) });
    mkdirSync(files.logDir, { recursive: true });
    return release;
  }
  // One training per output_dir (lib/checkpoints/lock.ts), taken before --overwrite clears anything.
  const releaseRunLock = acquireRunLock({ outputDir: files.outputDir, now: p.now, command: p.command, log: (l) => void p.stderr.write(`note: ${l}\n`) });
  try {
    writeFiles(p);
  } catch (e) {
    releaseRunLock();
    throw e;
  }
  return releaseRunLock;
}

function writeFiles(p: Parameters<typeof writeRunFiles>[0]): void {
  const { files } = p;
  if (p.overwrite && !p.resume) {
    const removed = clearRun(files.outputDir);
    if (removed.length) p.stderr.write(`overwrite: removed ${removed.join(", ")} from ${files.outputDir}\n`);
  } else if (p.previous.checkpoints.length > 0 && !p.resume) {
    p.stderr.write(
      `note: ${files.outputDir} already holds ${p.previous.checkpoints.length} checkpoint(s) of this config; this run starts from step 0 ` +
        `(pass --resume to continue from the newest)\n`,
    );
  }
  rmSync(files.stopFile, { force: true }); // a stale request from an earlier run must not stop this one
  const bestNote = reconcileBestRecord({ outputDir: files.outputDir, trackingEnabled: p.trackingEnabled });
  if (bestNote) p.stderr.write(`note: ${bestNote}\n`);
  // Atomic, and secrets never reach a file.
  writeFileAtomic(files.resolvedPath, redact(JSON.stringify(p.resolvedDoc, null, 2) + "\n", p.secrets));
  writeFileAtomic(files.dsPath, redact(JSON.stringify(p.dsConfig, null, 2) + "\n", p.secrets));
  mkdirSync(files.logDir, { recursive: true });
}
