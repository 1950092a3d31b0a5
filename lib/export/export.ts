// Export orchestration: DeepSpeed state -> hf_model/ by `python -m qc_engine.export` (one process per
// checkpoint, argv list), its JSON lines turned into typed events, one outcome per checkpoint.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { UserError } from "../util/errors.ts";
import { formatBytes } from "../util/fs.ts";
import { listCheckpoints, readCheckpoint, type CheckpointInfo } from "../checkpoints/scan.ts";
import { projectPython } from "../util/python.ts";
import { lockCheckpoint } from "../checkpoints/lock.ts";
import { runEngineProcess, type SpawnEngine } from "../util/engine_process.ts";

export const EXPORT_DTYPES = ["auto", "bf16", "fp16", "fp32"] as const;
export type ExportDtype = (typeof EXPORT_DTYPES)[number];

export interface ExportOptions {
  /** auto: the precision the checkpoint was trained in (same logits as the engine). */
  dtype: ExportDtype;
  /** Largest safetensors shard, e.g. "5GB", "500MB". */
  maxShardSize: string;
  verify: boolean;
  verifySamples?: number;
  /** LoRA checkpoints: merge adapter/ into the base (the engine does so for any LoRA checkpoint; refused for a full one). */
  merge?: boolean;
}

/** Checks the options before any Python starts; throws a UserError naming the flag. */
export function checkExportOptions(o: { dtype?: string; maxShardSize?: string; verifySamples?: number }): void {
  if (o.dtype !== undefined && !(EXPORT_DTYPES as readonly string[]).includes(o.dtype)) {
    throw new UserError(`--dtype ${o.dtype}: expected one of ${EXPORT_DTYPES.join(", ")}`);
  }
  if (o.maxShardSize !== undefined && !/^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/i.test(o.maxShardSize)) {
    throw new UserError(`--max-shard-size ${o.maxShardSize}: expected a size such as 5GB, 500MB or 1000000`);
  }
  if (o.verifySamples !== undefined && (!Number.isInteger(o.verifySamples) || o.verifySamples < 1)) {
    throw new UserError(`--verify-samples ${o.verifySamples}: expected a whole number >= 1`);
  }
}

/** The argv that exports one checkpoint; never a shell string. */
export function buildExportArgv(p: { python: string; checkpoint: string } & ExportOptions): string[] {
  const argv = [p.python, "-m", "qc_engine.export", "--checkpoint", p.checkpoint, "--dtype", p.dtype, "--max-shard-size", p.maxShardSize, "--json"];
  if (p.verify) argv.push("--verify");
  if (p.verifySamples !== undefined) argv.push("--verify-samples", String(p.verifySamples));
  if (p.merge) argv.push("--merge");
  return argv;
}

// ---------------------------------------------------------------------------------------------
// Engine protocol (engine/qc_engine/export.py --json)
// ---------------------------------------------------------------------------------------------

// The types are generated from schema/events.schema.json (generated/messages.ts).
import type { ExportErrorEvent, ExportEvent, ExportResultEvent } from "../../generated/messages.ts";
export type {
  ExportErrorEvent,
  ExportEvent,
  ExportLineEvent,
  ExportPausedEvent,
  ExportProgressEvent,
  ExportResultEvent,
  ExportSource,
  ExportVerify,
} from "../../generated/messages.ts";

/** One stdout line -> an event, or null for anything that is not one of ours (a library's print). */
export function parseExportLine(line: string): ExportEvent | null {
  const t = line.trim();
  if (!t.startsWith("{")) return null;
  try {
    const obj = JSON.parse(t);
    if (obj && typeof obj.event === "string" && ["progress", "line", "result", "error"].includes(obj.event)) return obj as ExportEvent;
  } catch {
    // not JSON
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// One checkpoint
// ---------------------------------------------------------------------------------------------

export interface ExportOutcome {
  checkpoint: string;
  name: string;
  status: "exported" | "failed" | "skipped";
  exitCode: number;
  result: ExportResultEvent | null;
  /** Why it failed or was skipped. */
  message: string | null;
  stderrTail: string[];
}

export interface ExportInject {
  python?: string;
  spawn?: SpawnEngine;
  env?: Record<string, string>;
  cwd?: string;
  /** Events of the checkpoint being exported (progress bars, lines). */
  onEvent?: (ev: ExportEvent, checkpoint: string) => void;
  /** stderr lines and stdout lines that are not events. */
  onLog?: (line: string, stream: "stdout" | "stderr") => void;
}


export async function exportCheckpoint(params: { checkpoint: string; options: ExportOptions } & ExportInject): Promise<ExportOutcome> {
  const ckpt = readCheckpoint(params.checkpoint); // UserError unless complete: never touched otherwise
  checkExportOptions(params.options);
  const argv = buildExportArgv({ python: params.python ?? projectPython(), checkpoint: ckpt.path, ...params.options });
  let result: ExportResultEvent | null = null;
  let error: ExportErrorEvent | null = null;
  // Retention and prune leave the checkpoint alone while the export reads and rewrites it.
  const release = lockCheckpoint({ checkpoint: ckpt.path, purpose: "export", command: argv });
  const { exitCode, stderrTail } = await runEngineProcess<ExportEvent>({
    argv,
    what: "export",
    parseLine: parseExportLine,
    spawn: params.spawn,
    env: params.env,
    cwd: params.cwd,
    onLog: params.onLog,
    onEvent: (ev) => {
      if (ev.event === "result") result = ev;
      if (ev.event === "error") error = ev;
      params.onEvent?.(ev, ckpt.path);
    },
  }).finally(release);
  const base = { checkpoint: ckpt.path, name: ckpt.name, stderrTail };
  if (exitCode === 0 && result) return { ...base, status: "exported", exitCode: 0, result, message: null };
  const err = error as ExportErrorEvent | null;
  const message =
    err?.message ??
    (exitCode === 0
      ? "the export engine exited without a result"
      : `the export engine exited with code ${exitCode}${stderrTail.length ? `: ${stderrTail.at(-1)}` : ""}`);
  return { ...base, status: "failed", exitCode: exitCode || 1, result: null, message };
}

// ---------------------------------------------------------------------------------------------
// --all: which checkpoints of a run
// ---------------------------------------------------------------------------------------------

export interface ExportPlanRow {
  checkpoint: CheckpointInfo;
  action: "export" | "skip";
  reason: string;
}

/** Complete checkpoints with DeepSpeed state and no hf_model/ (all of them with force). Pure. */
export function planExportAll(params: { checkpoints: CheckpointInfo[]; force?: boolean }): ExportPlanRow[] {
  return params.checkpoints
    .filter((c) => c.complete && c.info)
    .map((c) => {
      const info = c.info!;
      const hasState = info.has_deepspeed_state !== false && !info.slim;
      const hasHf = info.has_hf_model === true;
      if (!hasState) {
        return { checkpoint: c, action: "skip" as const, reason: "slim (no DeepSpeed state): its hf_model/ is all there is; --checkpoint re-exports it" };
      }
      if (hasHf && !params.force) return { checkpoint: c, action: "skip" as const, reason: "already has hf_model/ (--force re-exports)" };
      return { checkpoint: c, action: "export" as const, reason: hasHf ? "re-export (--force)" : "no hf_model/ yet (deferred)" };
    });
}

export interface RunExportParams extends ExportInject {
  checkpoint?: string;
  all?: string;
  force?: boolean;
  options: ExportOptions;
}

export interface RunExportResult {
  outcomes: ExportOutcome[];
  /** 0 when every export asked for succeeded; else the first failure's code. */
  exitCode: number;
}

/** `--checkpoint C` or `--all D`: exports one after the other (each needs the full model in RAM). */
export async function runExport(params: RunExportParams): Promise<RunExportResult> {
  checkExportOptions(params.options);
  if (Boolean(params.checkpoint) === Boolean(params.all)) {
    throw new UserError("pass exactly one of --checkpoint C or --all D", {
      hint: "bun run tasks/export.ts --checkpoint out/run/checkpoint-800   or   --all out/run",
    });
  }
  const outcomes: ExportOutcome[] = [];
  if (params.checkpoint) {
    outcomes.push(await exportCheckpoint({ ...params, checkpoint: params.checkpoint }));
  } else {
    const dir = resolve(params.all!);
    if (!existsSync(dir)) throw new UserError(`output directory not found: ${dir}`, { hint: "pass the training.output_dir of a run" });
    for (const row of planExportAll({ checkpoints: listCheckpoints({ outputDir: dir }), force: params.force })) {
      if (row.action === "skip") {
        outcomes.push({ checkpoint: row.checkpoint.path, name: row.checkpoint.name, status: "skipped", exitCode: 0, result: null, message: row.reason, stderrTail: [] });
        params.onLog?.(`${row.checkpoint.name}: skipped (${row.reason})`, "stdout");
        continue;
      }
      outcomes.push(await exportCheckpoint({ ...params, checkpoint: row.checkpoint.path }));
    }
  }
  const failed = outcomes.find((o) => o.status === "failed");
  return { outcomes, exitCode: failed ? failed.exitCode : 0 };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

export function formatExportOutcome(o: ExportOutcome): string {
  if (o.status === "skipped") return `${o.name}: skipped (${o.message})`;
  if (o.status === "failed") return `${o.name}: FAILED (exit ${o.exitCode}): ${o.message}; any previous hf_model/ is intact`;
  const r = o.result!;
  const src = r.source.kind === "deepspeed" ? `DeepSpeed ZeRO-${r.source.zero_stage}` : "hf_model/ (slim checkpoint)";
  const lines = [
    `${o.name}: exported from ${src} -> ${join(o.checkpoint, "hf_model")}`,
    `  ${r.files.length} safetensors file(s), ${r.tensors} tensors, ${r.parameters.toLocaleString("en-US")} parameters, ` +
      `${r.safetensors_dtypes.join("/")} (${r.dtype}), ${formatBytes(r.bytes)} in ${r.seconds.toFixed(1)} s` +
      `${r.replaced_previous ? " (replaced the previous hf_model/)" : ""}`,
  ];
  if (r.verify) {
    const v = r.verify;
    lines.push(
      `  verify: ${v.samples} input(s) (${v.inputs}): max |logit diff| ${v.max_abs_diff.toExponential(2)} <= tolerance ` +
        `${v.tolerance.toExponential(2)} (atol ${v.atol} + rtol ${v.rtol} x max|logit| ${v.max_abs_reference.toFixed(3)}); ` +
        `argmax agrees on ${v.argmax_agree}/${v.samples}`,
    );
  }
  return lines.join("\n");
}

export function formatExportReport(res: RunExportResult): string {
  const n = (s: ExportOutcome["status"]) => res.outcomes.filter((o) => o.status === s).length;
  return [
    ...res.outcomes.map(formatExportOutcome),
    `exported ${n("exported")}, skipped ${n("skipped")}, failed ${n("failed")}`,
  ].join("\n") + "\n";
}
