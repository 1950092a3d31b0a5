import { formatBytes } from "../util/fs.ts";
import type { DataReport, HistogramRow } from "./check.ts";
import { formatFindings } from "./problems.ts";

const n = (x: number) => x.toLocaleString("en-US");

/** The class table: every class when there are few, else the most and least frequent ones. */
export function formatHistogram(rows: HistogramRow[], maxRows = 40): string[] {
  const totalTrain = rows.reduce((a, r) => a + r.train, 0) || 1;
  const nameWidth = Math.min(30, Math.max(5, ...rows.map((r) => r.name.length)));
  const line = (r: HistogramRow) =>
    `  ${String(r.id).padStart(4)}  ${r.name.slice(0, 30).padEnd(nameWidth)}  ${n(r.train).padStart(9)}  ${n(r.val).padStart(9)}  ${((100 * r.train) / totalTrain).toFixed(1).padStart(6)}%`;
  const out = [`  ${"id".padStart(4)}  ${"class".padEnd(nameWidth)}  ${"train".padStart(9)}  ${"val".padStart(9)}  ${"train%".padStart(7)}`];
  if (rows.length <= maxRows) {
    out.push(...rows.map(line));
  } else {
    const sorted = [...rows].sort((a, b) => b.train - a.train || a.id - b.id);
    const half = Math.floor(maxRows / 2);
    out.push(...sorted.slice(0, half).map(line));
    out.push(`  ... ${rows.length - 2 * half} classes in between (all of them: --json, data_report.png) ...`);
    out.push(...sorted.slice(-half).map(line));
  }
  return out;
}

/** The human-readable report printed by tasks/prepare.ts. */
export function formatDataReport(r: DataReport): string {
  const out: string[] = [];
  out.push(`data check: ${r.ok ? "OK" : "PROBLEMS FOUND"}`);
  out.push(
    `classes: ${r.classes.numLabels} (names from ${r.classes.source}${r.classes.dataset ? `, data set ${r.classes.dataset}` : ""})`,
  );
  for (const s of [r.splits.train, r.splits.val]) {
    if (!s.exists) {
      out.push(`${s.name.padEnd(5)}: ${s.file} (missing)`);
      continue;
    }
    out.push(
      `${s.name.padEnd(5)}: ${s.file}: ${n(s.lines)} lines, ${n(s.validSamples)} valid samples, ${n(s.distinctImages)} distinct images` +
        (s.blankLines ? `, ${n(s.blankLines)} blank` : ""),
    );
  }
  const im = r.images;
  out.push(
    `images: ${n(im.distinct)} distinct (${n(im.ok)} OK, ${formatBytes(im.bytes)}), formats ${Object.entries(im.formats).map(([k, v]) => `${k} ${n(v)}`).join(", ") || "-"}` +
      (im.minWidth !== null ? `, sizes ${im.minWidth}..${im.maxWidth} x ${im.minHeight}..${im.maxHeight} px` : "") +
      (im.deepDecoded !== null ? `, ${n(im.deepDecoded)} fully decoded` : ""),
  );
  out.push(`leakage: ${r.leakage.count === 0 ? "none (no validation image occurs in training)" : `${n(r.leakage.count)} image(s) occur in both train and validation (${n(r.leakage.valLines)} validation lines)`}`);
  out.push(`duplicates: ${r.duplicates.groups === 0 ? "none" : `${n(r.duplicates.groups)} group(s) of identical files (${n(r.duplicates.extraFiles)} extra copies)`}`);
  for (const s of ["train", "val"] as const) {
    if (r.missingClasses[s].length) out.push(`classes missing from ${s}: ${r.missingClasses[s].length} (${r.missingClasses[s].slice(0, 20).join(", ")}${r.missingClasses[s].length > 20 ? ", ..." : ""})`);
  }
  if (r.splits.train.wellFormed + r.splits.val.wellFormed > 0) out.push("", "class histogram:", ...formatHistogram(r.histogram));
  if (Object.keys(r.warnings.counts).length) out.push("", "warnings:", ...formatFindings(r.warnings));
  if (Object.keys(r.problems.counts).length) out.push("", "problems:", ...formatFindings(r.problems));
  if (r.skipped) out.push("", `data.on_bad_sample=skip: ${n(r.skipped)} bad line(s)/image(s) will be skipped`);
  const t = r.timings;
  const lines = r.splits.train.lines + r.splits.val.lines;
  out.push(
    "",
    `checked ${n(lines)} lines in ${t.linesSeconds.toFixed(2)} s and ${n(im.distinct)} images in ${t.imagesSeconds.toFixed(2)} s` +
      (t.deepSeconds !== null ? ` (+ ${t.deepSeconds.toFixed(2)} s decoding)` : ""),
  );
  return out.join("\n") + "\n";
}
