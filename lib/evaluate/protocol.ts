// The lines `python -m qc_engine.evaluate` prints on stdout (rank 0): one JSON object a line,
// each with `event` and `time`. Anything else on stdout (a library's print) is passed through
// as a log line, never fatal. The final `summary` is also written to --out-json.

// The types are generated from schema/events.schema.json (generated/messages.ts); this module keeps
// the runtime parser.
import type { EvalEngineEvent } from "../../generated/messages.ts";

export type {
  CheckpointDoneEvent,
  CheckpointStartEvent,
  EngineErrorEvent,
  EvalEngineEvent,
  FullMetrics,
  PerClassMetrics,
  PlanCheckpoint,
  PlanEvent,
  PreprocessEvent,
  ProgressEvent,
  ScalarMetrics,
  SkipEvent,
  SummaryEvent,
  SummaryResult,
} from "../../generated/messages.ts";

const KNOWN = new Set(["plan", "preprocess", "checkpoint_start", "progress", "checkpoint_done", "skip", "summary", "error"]);

/** An engine event, or null when the line is not one (plain output from a library). */
export function parseEngineLine(line: string): EvalEngineEvent | null {
  const text = line.trim();
  if (!text.startsWith("{")) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const ev = (value as { event?: unknown }).event;
  if (typeof ev !== "string" || !KNOWN.has(ev)) return null;
  return value as EvalEngineEvent;
}
