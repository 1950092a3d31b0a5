/** One finding, named by file:line when it comes from a data line. */
export interface Finding {
  kind: string;
  message: string;
  file?: string;
  line?: number;
}

/** Keeps the first `keep` findings of each kind and counts them all. */
export class FindingList {
  readonly keep: number;
  readonly counts: Record<string, number> = {};
  readonly items: Finding[] = [];
  constructor(keep = 20) {
    this.keep = keep;
  }
  add(f: Finding): void {
    const n = (this.counts[f.kind] ?? 0) + 1;
    this.counts[f.kind] = n;
    if (n <= this.keep) this.items.push(f);
  }
  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
  toJSON(): { counts: Record<string, number>; items: Finding[] } {
    return { counts: this.counts, items: this.items };
  }
}

/** "train.jsonl:17: message" or just the message. */
export function formatFinding(f: Finding): string {
  const where = f.file ? `${f.file}${f.line ? `:${f.line}` : ""}: ` : "";
  return `${where}${f.message}`;
}

/** The kept findings grouped by kind, then "... and N more <kind>" where some were left out. */
export function formatFindings(list: { counts: Record<string, number>; items: Finding[] }, indent = "  "): string[] {
  const out: string[] = [];
  for (const [kind, count] of Object.entries(list.counts)) {
    const items = list.items.filter((f) => f.kind === kind);
    out.push(`${indent}[${kind}] ${count}`);
    for (const f of items) out.push(`${indent}  ${formatFinding(f)}`);
    if (count > items.length) out.push(`${indent}  ... and ${count - items.length} more ${kind}`);
  }
  return out;
}
