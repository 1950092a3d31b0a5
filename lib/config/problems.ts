// One collector for every config problem; one ConfigError that reports them all (exit code 2).
import { relative } from "node:path";
import { UserError } from "../util/errors.ts";

export interface ConfigProblem {
  /** dotted key path ("training.lr"), or "--config" / "--set" for command-line problems */
  path: string;
  file?: string;
  line?: number;
  message: string;
  fix: string;
}

function location(p: ConfigProblem, cwd: string): string {
  if (!p.file) return "";
  const rel = relative(cwd, p.file);
  const shown = rel && !rel.startsWith("..") ? rel : p.file;
  return p.line ? `${shown}:${p.line}` : shown;
}

export function formatProblems(problems: ConfigProblem[], cwd = process.cwd()): string {
  const n = problems.length;
  const lines = [`the config has ${n} problem${n === 1 ? "" : "s"}; nothing was written and nothing was started:`];
  problems.forEach((p, i) => {
    const where = location(p, cwd);
    lines.push(`  ${i + 1}. ${where ? `${where}: ` : ""}${p.path}: ${p.message}`);
    lines.push(`     fix: ${p.fix}`);
  });
  return lines.join("\n");
}

/** Sort file problems by line (command-line ones after), keeping discovery order otherwise. */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => {
      const ka = a.p.file ? (a.p.line ?? 0) : Number.MAX_SAFE_INTEGER;
      const kb = b.p.file ? (b.p.line ?? 0) : Number.MAX_SAFE_INTEGER;
      return ka - kb || a.i - b.i;
    })
    .map(({ p }) => p);
}

export class ConfigError extends UserError {
  problems: ConfigProblem[];
  constructor(problems: ConfigProblem[], opts: { cwd?: string } = {}) {
    super(formatProblems(problems, opts.cwd), { exitCode: 2, hint: "bun run tasks/train.ts --help lists every option with its type, default and bounds" });
    this.name = "ConfigError";
    this.problems = problems;
  }
}
