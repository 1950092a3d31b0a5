// The readable report of one checkpoint's evaluation: headline metrics, per-class figures
// (the weakest classes first when there are many) and the confusion matrix for few classes.
import type { FullMetrics, PerClassMetrics } from "./protocol.ts";

export interface MetricsTableParams {
  checkpoint: string;
  step: number;
  data: string;
  numSamples: number;
  metrics: FullMetrics;
  /** Show every class up to this many; beyond, only the `maxClasses` weakest by F1. */
  maxClasses?: number;
  /** Print the confusion matrix up to this many classes. */
  maxConfusion?: number;
}

// null: the engine wrote a non-finite value as null (schema/events.schema.json, ScalarMetrics).
function pct(v: number | null): string {
  return v === null ? "n/a" : `${(v * 100).toFixed(2)}%`;
}

function fixed4(v: number | null): string {
  return v === null ? "n/a" : v.toFixed(4);
}

function pad(cells: string[][], rightFrom = 1): string[] {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => (i >= rightFrom ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd());
}

export function formatMetricsTable(p: MetricsTableParams): string {
  const m = p.metrics;
  const maxClasses = p.maxClasses ?? 20;
  const maxConfusion = p.maxConfusion ?? 12;
  const out: string[] = [];
  out.push(`${p.checkpoint} (step ${p.step}) on ${p.data}: ${p.numSamples} samples`, "");
  out.push(
    ...pad(
      [
        ["metric", "value"],
        ["accuracy", pct(m.accuracy)],
        ["top-5 accuracy", pct(m.top5_accuracy)],
        ["macro-F1", fixed4(m.macro_f1)],
        ["mean loss", fixed4(m.loss)],
      ],
      1,
    ),
  );
  const perClass = Object.entries(m.per_class ?? {}) as [string, PerClassMetrics][];
  if (perClass.length) {
    let shown = perClass;
    out.push("");
    if (perClass.length > maxClasses) {
      shown = [...perClass].sort((a, b) => a[1].f1 - b[1].f1 || a[0].localeCompare(b[0])).slice(0, maxClasses);
      out.push(`per class: the ${maxClasses} weakest of ${perClass.length} by F1 (all in eval_results.json)`);
    } else {
      out.push("per class:");
    }
    out.push(
      ...pad([
        ["class", "precision", "recall", "f1", "support"],
        ...shown.map(([name, c]) => [name, c.precision.toFixed(4), c.recall.toFixed(4), c.f1.toFixed(4), String(c.support)]),
      ]),
    );
  }
  const cm = m.confusion_matrix;
  if (cm && cm.length && cm.length <= maxConfusion) {
    const labels = m.labels ?? cm.map((_, i) => String(i));
    out.push("", "confusion matrix (rows: true label, columns: predicted):");
    out.push(...pad([["", ...labels], ...cm.map((row, i) => [labels[i], ...row.map(String)])]));
  }
  return out.join("\n") + "\n";
}
