// Replacing one "## heading" section of BENCHMARKS.md (or appending it), keeping every other section.
import { existsSync, readFileSync, writeFileSync } from "node:fs";

export function writeBenchmarkSection(params: { path: string; heading: string; section: string }): void {
  const current = existsSync(params.path) ? readFileSync(params.path, "utf8") : "# Benchmarks\n";
  const start = current.indexOf(params.heading);
  let next: string;
  if (start < 0) next = `${current.trimEnd()}\n\n${params.section}`;
  else {
    const after = current.indexOf("\n## ", start + 3);
    next = current.slice(0, start) + params.section + (after < 0 ? "" : `\n${current.slice(after + 1)}`);
  }
  writeFileSync(params.path, next.endsWith("\n") ? next : `${next}\n`);
}
