// Typed events of OUT/logs/events.jsonl (contract: schema/events.schema.json, docs/architecture.md
// "Event stream"). The types are generated from the schema (generated/messages.ts); this module keeps
// the runtime helpers. Every object has `event` and `time` (unix seconds, float); rank 0 writes them.
import type { TrainEvent } from "../../generated/messages.ts";

export type {
  CheckpointEvent,
  EndEvent,
  EndStatus,
  ErrorEvent,
  EvalEvent,
  ScalarMetrics as EvalMetrics,
  StartEvent,
  StepEvent,
  TrainEvent,
} from "../../generated/messages.ts";

export interface EventBase {
  event: string;
  time: number;
}

/** An event type this launcher does not know: kept, never fatal (forward compatibility). */
export interface UnknownEvent extends EventBase {
  [extra: string]: unknown;
}


/** Parse one JSONL line into an event; throws with a short reason when it is not one. */
export function parseEventLine(line: string): TrainEvent | UnknownEvent {
  const value: unknown = JSON.parse(line);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error("not a JSON object");
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.event !== "string") throw new Error('missing string field "event"');
  if (typeof obj.time !== "number") obj.time = Number.NaN;
  return obj as unknown as TrainEvent | UnknownEvent;
}
