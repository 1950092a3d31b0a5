// What the launcher shows and keeps of the child's output: secrets redacted, lines teed to the
// log and (filtered) to the terminal, torchrun's own failure report folded into one line.
import { readFileSync } from "node:fs";

const SECRET_ENV = ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN", "WANDB_API_KEY"];

/** Secret values present in the environment (long enough to be worth redacting). */
export function secretValues(env: Record<string, string | undefined>): string[] {
  return SECRET_ENV.map((k) => env[k]).filter((v): v is string => typeof v === "string" && v.length >= 6);
}

export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join("***");
  return out;
}

/** The first `exitcode : N` of torchrun's failure report (the root cause), if any. */
export function torchrunRootExitCode(log: string): number | null {
  const at = log.lastIndexOf("Root Cause");
  const m = /exitcode\s*:\s*(-?\d+)/.exec(at >= 0 ? log.slice(at) : log);
  return m ? Number(m[1]) : null;
}

export function lastLines(path: string, n: number): string[] {
  try {
    const lines = readFileSync(path, "utf8").split("\n");
    while (lines.length && lines[lines.length - 1] === "") lines.pop();
    return lines.slice(-n);
  } catch {
    return [];
  }
}

/**
 * Engine lines that only repeat an event the watcher already prints (or tqdm noise): they stay in
 * train.log but are not echoed to the terminal twice. A format change only costs a duplicate line.
 */
export const ENGINE_MIRROR_LINE = /^(step \d+\/\d+ \||eval step \d+ \(|checkpoint checkpoint-\d+ saved|Writing model shards|Loading weights:)/;

/**
 * Hides torchrun's own failure report (the "failed (exitcode: N)" line, its ChildFailedError
 * traceback and the "Root Cause" table) from the terminal: the launcher says the same in one
 * line. The report stays in train.log and is shown from there when no engine message explains
 * the failure.
 */
export class TorchrunReportFilter {
  private hiding = false;
  private sawRootCause = false;
  keep(line: string): boolean {
    if (!this.hiding && /elastic\/multiprocessing\/api\.py:\d+\] failed \(exitcode: -?\d+\)/.test(line)) {
      this.hiding = true;
      this.sawRootCause = false;
      return false;
    }
    if (!this.hiding) return true;
    if (/^Root Cause/.test(line)) this.sawRootCause = true;
    else if (this.sawRootCause && /^=+\s*$/.test(line)) this.hiding = false;
    return false;
  }
}

/** Splits child output into lines, redacts secrets, and writes each to every sink. */
export class LineTee {
  private pending = "";
  constructor(
    private readonly sinks: ((text: string) => void)[],
    private readonly secrets: string[],
    /** Sinks that get only the lines this keeps. */
    private readonly filtered: { sink: (text: string) => void; keep: (line: string) => boolean }[] = [],
  ) {}
  write(chunk: Buffer | string): void {
    this.pending += chunk.toString();
    const nl = this.pending.lastIndexOf("\n");
    if (nl < 0) return;
    const complete = this.pending.slice(0, nl + 1);
    this.pending = this.pending.slice(nl + 1);
    this.emit(complete);
  }
  flush(): void {
    if (this.pending) this.emit(this.pending + "\n");
    this.pending = "";
  }
  private emit(text: string): void {
    const clean = redact(text, this.secrets);
    for (const s of this.sinks) s(clean);
    if (this.filtered.length === 0) return;
    const lines = clean.split("\n");
    lines.pop(); // text always ends with a newline
    for (const f of this.filtered) {
      const kept = lines.filter(f.keep);
      if (kept.length) f.sink(kept.join("\n") + "\n");
    }
  }
}
