// What tasks/evaluate.ts prints: the human report (table or leaderboard, files, recommendation)
// or the --json payload.
import { formatBytes } from "../util/fs.ts";
import type { EvaluateResult } from "./evaluate.ts";

export function jsonPayload(r: EvaluateResult): unknown {
  const base = {
    data: r.data, data_sha256: r.dataSha256, eval_key: r.evalKey, num_samples: r.numSamples, world_size: r.worldSize,
    preprocess_seconds: r.preprocessSeconds, total_seconds: r.totalSeconds,
  };
  const timing = (c: EvaluateResult["checkpoints"][number]) => ({ seconds: c.seconds, images_per_s: c.imagesPerS });
  if (r.mode === "single") {
    const c = r.checkpoints[0];
    return { ...base, checkpoint: c.path, step: c.step, status: c.status, source: c.source, ...timing(c), metrics: c.metrics, eval_results: c.evalResults, predictions: c.predictions };
  }
  return {
    ...base,
    summary: r.summary,
    summary_files: r.summaryFiles,
    checkpoints: r.checkpoints.map((c) => ({ checkpoint: c.path, step: c.step, status: c.status, source: c.source, ...timing(c), metrics: c.metrics })),
    retention: r.retention ? r.retention.rows.map((x) => ({ name: x.name, action: x.action, done: x.done, reason: x.reason })) : null,
  };
}

export function humanReport(r: EvaluateResult): string {
  const lines = [r.text.trimEnd()];
  const evaluated = r.checkpoints.filter((c) => c.status === "evaluated");
  const skipped = r.checkpoints.length - evaluated.length;
  const speed = evaluated.map((c) => c.imagesPerS ?? 0).filter((x) => x > 0);
  lines.push(
    "",
    `evaluated ${evaluated.length} checkpoint(s)` +
      (skipped ? `, ${skipped} already evaluated on this set (cached; --force re-evaluates)` : "") +
      ` in ${r.totalSeconds.toFixed(1)} s` +
      (speed.length ? ` (${(speed.reduce((a, b) => a + b, 0) / speed.length).toFixed(1)} images/s` : "") +
      (speed.length > 1 ? `, preprocessing once: ${r.preprocessSeconds.toFixed(1)} s)` : speed.length ? ")" : ""),
  );
  if (r.incomplete?.length) lines.push(`left alone: ${r.incomplete.join(", ")} (incomplete: no training_info.json)`);
  if (r.mode === "single") {
    const c = r.checkpoints[0];
    lines.push(`results: ${c.evalResults} (key ${r.evalKey}); predictions: ${c.predictions}`);
  } else {
    lines.push(`summary: ${r.summaryFiles!.json}`, `plot:    ${r.summaryFiles!.png}`, "", `recommendation: ${r.recommendation!.text}`);
    for (const n of r.recommendation!.notes) lines.push(`  note: ${n}`);
    if (r.retention) {
      const deleted = r.retention.rows.filter((x) => x.action === "delete" && x.done).map((x) => x.name);
      lines.push(
        `retention ${r.retention.policy}: deleted ${deleted.length ? deleted.join(", ") : "nothing"}, freed ${formatBytes(r.retention.freedBytes)}` +
          (r.retention.failed ? `; ${r.retention.failed} action(s) FAILED` : ""),
      );
      for (const w of r.retention.warnings) lines.push(`  warning: ${w}`);
    } else {
      lines.push(`to keep only the best: bun run tasks/evaluate.ts --all ${r.outputDir} --keep-best 1  (or bun run tasks/prune.ts --output-dir ${r.outputDir} --keep best:1)`);
    }
  }
  return lines.join("\n") + "\n";
}
