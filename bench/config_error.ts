// How long a bad config takes to be refused, beside the time Python needs just to import
// transformers (what a Python-side check would cost before it could even start).
//   bun run bench/config_error.ts [--runs 7] [--write]   (--write: update BENCHMARKS.md)
import { mkdtempSync, writeFileSync } from "node:fs";
import { projectPython } from "../lib/util/python.ts";
import { tmpdir, cpus } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeBenchmarkSection } from "./lib/benchmarks_md.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
const { values } = parseArgs({ options: { runs: { type: "string", default: "7" }, write: { type: "boolean", default: false } } });
const runs = Number(values.runs);

const dir = mkdtempSync(join(tmpdir(), "qc-bench-"));
const bad = join(dir, "bad.yaml");
writeFileSync(bad, "model:\n  num_labels: 100\ntraining:\n  lr: 0\n  save_stpes: 10\ndatasets:\n  dataset_configs:\n    food101: {num_classes: 101}\n");

function timeOnce(argv: string[], expectCode: number, check?: (stderr: string) => boolean): number {
  const start = performance.now();
  const p = Bun.spawnSync(argv, { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, CUDA_VISIBLE_DEVICES: "" } });
  const ms = performance.now() - start;
  if (p.exitCode !== expectCode || (check && !check(p.stderr.toString()))) {
    throw new Error(`${argv.join(" ")}: exit ${p.exitCode} (expected ${expectCode})\n${p.stderr.toString()}`);
  }
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const python = projectPython();
const bunCmd = [BUN, "run", join(ROOT, "tasks/train.ts"), "--config", bad];
const pyCmd = [python, "-c", "import transformers"];

// one warm-up of each (file cache), then alternate so both see the same machine load
timeOnce(bunCmd, 2);
timeOnce(pyCmd, 0);
const bunTimes: number[] = [];
const pyTimes: number[] = [];
for (let i = 0; i < runs; i++) {
  bunTimes.push(timeOnce(bunCmd, 2, (e) => e.includes("3 problems")));
  pyTimes.push(timeOnce(pyCmd, 0));
}
const bunMs = median(bunTimes);
const pyMs = median(pyTimes);
const ratio = pyMs / bunMs;
const fmt = (x: number) => `${x.toFixed(0)} ms`;
console.log(`bad config refused (bun run tasks/train.ts --config bad.yaml, exit 2): median ${fmt(bunMs)} of ${runs} [${bunTimes.map((t) => t.toFixed(0)).join(", ")}]`);
console.log(`python -c "import transformers":                                  median ${fmt(pyMs)} of ${runs} [${pyTimes.map((t) => t.toFixed(0)).join(", ")}]`);
console.log(`ratio: the config error arrives ${ratio.toFixed(1)}x faster than transformers alone imports`);

if (values.write) {
  const transformersVersion = Bun.spawnSync([python, "-c", "import transformers; print(transformers.__version__)"]).stdout.toString().trim();
  const section = `## Config errors before Python

Time from spawning \`bun run tasks/train.ts --config bad.yaml\` (a file with 3 problems: num_labels
mismatch, lr 0, a misspelt key) to its exit with the full report (exit code 2), beside
\`.venv/bin/python -c "import transformers"\` on the same machine, alternating, one warm-up each,
median of ${runs}.

    bun run bench/config_error.ts --runs ${runs} --write

| what | median | runs (ms) |
|---|---|---|
| bad config refused (Bun, whole process) | ${fmt(bunMs)} | ${bunTimes.map((t) => t.toFixed(0)).join(", ")} |
| \`python -c "import transformers"\` (${transformersVersion}) | ${fmt(pyMs)} | ${pyTimes.map((t) => t.toFixed(0)).join(", ")} |
| ratio (Python import / Bun error) | ${ratio.toFixed(1)}x | |

Machine: ${cpus().length} CPU cores (${cpus()[0]?.model ?? "unknown"}), Bun ${Bun.version}, ${new Date().toISOString().slice(0, 10)}. The other helpers'
work shared these cores while this ran, so absolute times are noisy; the ratio is the figure to read.
`;
  const path = join(ROOT, "BENCHMARKS.md");
  writeBenchmarkSection({ path, heading: "## Config errors before Python", section });
  console.log(`wrote the section to ${path}`);
}
