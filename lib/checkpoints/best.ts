// OUT/best_checkpoint.json across modes. The engine reads it on resume to restore best-model
// state; a run without best-model tracking (training.skip_evaluation) must not inherit the best
// of an earlier standard run in the same output_dir, so the launcher sets the record aside before
// launch, and puts it back when a later run tracks the best again.
import { existsSync, renameSync } from "node:fs";
import { join } from "node:path";

export const BEST_RECORD = "best_checkpoint.json";
/** Where a no-eval run keeps the earlier standard run's record (not read by the engine). */
export const BEST_RECORD_SET_ASIDE = "best_checkpoint.before_no_eval.json";

/** Moves the best record aside (tracking off) or back (tracking on). Returns what it did, or null. */
export function reconcileBestRecord(params: { outputDir: string; trackingEnabled: boolean }): string | null {
  const record = join(params.outputDir, BEST_RECORD);
  const aside = join(params.outputDir, BEST_RECORD_SET_ASIDE);
  if (!params.trackingEnabled && existsSync(record)) {
    renameSync(record, aside);
    return `best-model tracking is off (training.skip_evaluation): the earlier run's ${BEST_RECORD} is set aside as ${BEST_RECORD_SET_ASIDE}; this run tracks no best checkpoint`;
  }
  if (params.trackingEnabled && !existsSync(record) && existsSync(aside)) {
    renameSync(aside, record);
    return `best-model tracking is on again: ${BEST_RECORD} of the earlier standard run is restored from ${BEST_RECORD_SET_ASIDE}`;
  }
  return null;
}
