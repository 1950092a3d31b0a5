// The data check's speed on a 1,000,000-line JSONL (images shared), beside `wc -l` and a plain
// Python JSON line loop on the same file, in one run:
//   bun run bench/data_check.ts [--lines 1000000] [--images 100] [--distinct-images 5000] [--runs 3] [--write]
//   (--write: update BENCHMARKS.md)
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { checkData } from "../lib/data/check.ts";
import { configForTest, makePng } from "../lib/data/fixtures.ts";
import { projectPython } from "../lib/util/python.ts";
import { formatBytes } from "../lib/util/fs.ts";
import { writeBenchmarkSection } from "./lib/benchmarks_md.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values } = parseArgs({
  options: {
    lines: { type: "string", default: "1000000" },
    images: { type: "string", default: "100" },
    runs: { type: "string", default: "3" },
    write: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    "distinct-images": { type: "string", default: "5000" },
  },
});
const LINES = Number(values.lines);
const IMAGES = Number(values.images);
const RUNS = Number(values.runs);
const VAL_LINES = 10_000;
const VAL_IMAGES = 20;

// --- the data: IMAGES distinct 64x64 PNGs shared by LINES train lines; a separate val set -------
const dir = mkdtempSync(join(tmpdir(), "qc-bench-data-"));
mkdirSync(join(dir, "img"));
for (let i = 0; i < IMAGES + VAL_IMAGES; i++) writeFileSync(join(dir, "img", `${i}.png`), makePng({ width: 64, height: 64, seed: i + 1 }));
const write = (name: string, n: number, first: number, count: number) => {
  const chunks: string[] = [];
  for (let i = 0; i < n; i++) {
    const img = first + (i % count);
    chunks.push(`{"image": "img/${img}.png", "label": ${img % 10}}\n`);
  }
  writeFileSync(join(dir, name), chunks.join(""));
};
write("train.jsonl", LINES, 0, IMAGES);
write("val.jsonl", VAL_LINES, IMAGES, VAL_IMAGES);
const trainFile = join(dir, "train.jsonl");
const fileBytes = statSync(trainFile).size;
console.log(`data: ${LINES.toLocaleString("en-US")} lines (${formatBytes(fileBytes)}) sharing ${IMAGES} PNGs + ${VAL_LINES.toLocaleString("en-US")} val lines on ${VAL_IMAGES}, in ${dir}`);

const config = configForTest({ model: { num_labels: 10 }, data: { train_jsonl: trainFile, val_jsonl: join(dir, "val.jsonl") } });
const python = projectPython();
const PY_LOOP = [
  "import json, sys, time",
  "t = time.perf_counter()",
  "n = 0",
  "with open(sys.argv[1], encoding='utf-8') as fh:",
  "    for line in fh:",
  "        json.loads(line)",
  "        n += 1",
  "print(n, time.perf_counter() - t)",
].join("\n");

// A second set where every line has its own image: the images/s figure of a real data set's shape.
const DISTINCT = Number(values["distinct-images"]);
mkdirSync(join(dir, "distinct"));
const distinctLines: string[] = [];
for (let i = 0; i < DISTINCT; i++) {
  writeFileSync(join(dir, "distinct", `${i}.png`), makePng({ width: 64, height: 64, seed: 100_000 + i }));
  distinctLines.push(`{"image": "distinct/${i}.png", "label": ${i % 10}}\n`);
}
writeFileSync(join(dir, "distinct_train.jsonl"), distinctLines.slice(0, DISTINCT - 500).join(""));
writeFileSync(join(dir, "distinct_val.jsonl"), distinctLines.slice(DISTINCT - 500).join(""));
const distinctConfig = configForTest({ model: { num_labels: 10 }, data: { train_jsonl: join(dir, "distinct_train.jsonl"), val_jsonl: join(dir, "distinct_val.jsonl") } });
const distinctImages: number[] = [];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ours: { lines: number; images: number; total: number }[] = [];
const wc: number[] = [];
const py: number[] = [];
const pyWall: number[] = [];
const cli: number[] = [];
writeFileSync(join(dir, "bench.yaml"), `model:\n  pretrained_name: ${join(dir, "no-model")}\n  num_labels: 10\ndata:\n  train_jsonl: ${trainFile}\n  val_jsonl: ${join(dir, "val.jsonl")}\ntraining:\n  output_dir: ${join(dir, "out")}\n`);

for (let run = 0; run <= RUNS; run++) {
  const warmup = run === 0;
  // ours, in process: lines (both files) then every distinct image once
  const t0 = performance.now();
  const report = await checkData({ config });
  const total = (performance.now() - t0) / 1000;
  if (!report.ok) throw new Error(`the generated data should be clean: ${JSON.stringify(report.problems.counts)}`);
  // wc -l
  let t = performance.now();
  const w = Bun.spawnSync(["wc", "-l", trainFile]);
  const wcSeconds = (performance.now() - t) / 1000;
  if (Number(w.stdout.toString().trim().split(/\s+/)[0]) !== LINES) throw new Error("wc -l disagrees");
  // python json loop (time inside the loop, and the whole process)
  t = performance.now();
  const p = Bun.spawnSync([python, "-c", PY_LOOP, trainFile]);
  const pyWallSeconds = (performance.now() - t) / 1000;
  const [pyLines, pySeconds] = p.stdout.toString().trim().split(/\s+/).map(Number);
  if (pyLines !== LINES) throw new Error(`python loop read ${pyLines} lines: ${p.stderr.toString()}`);
  // the whole CLI (check + plot + preflight), one process
  t = performance.now();
  const c = Bun.spawnSync([process.execPath, "run", join(ROOT, "tasks", "prepare.ts"), "--config", join(dir, "bench.yaml")], { stdout: "pipe", stderr: "pipe" });
  const cliSeconds = (performance.now() - t) / 1000;
  if (c.exitCode !== 0) throw new Error(`prepare exited ${c.exitCode}: ${c.stdout.toString().slice(-2000)}${c.stderr.toString().slice(-2000)}`);
  const d = await checkData({ config: distinctConfig });
  if (!d.ok || d.images.distinct !== DISTINCT) throw new Error(`distinct set: ${JSON.stringify(d.problems.counts)}`);
  if (warmup) continue;
  distinctImages.push(d.timings.imagesSeconds);
  ours.push({ lines: report.timings.linesSeconds, images: report.timings.imagesSeconds, total });
  wc.push(wcSeconds);
  py.push(pySeconds);
  pyWall.push(pyWallSeconds);
  cli.push(cliSeconds);
  console.log(
    `run ${run}: ours lines ${report.timings.linesSeconds.toFixed(3)} s + images ${report.timings.imagesSeconds.toFixed(3)} s (total ${total.toFixed(3)} s) | ` +
      `wc -l ${wcSeconds.toFixed(3)} s | python loop ${pySeconds.toFixed(3)} s (process ${pyWallSeconds.toFixed(3)} s) | CLI ${cliSeconds.toFixed(2)} s | ` +
      `${DISTINCT} distinct images ${d.timings.imagesSeconds.toFixed(3)} s`,
  );
}

const allLines = LINES + VAL_LINES;
const oursLines = median(ours.map((o) => o.lines));
const oursImages = median(ours.map((o) => o.images));
const oursTotal = median(ours.map((o) => o.total));
const rate = (n: number, s: number) => `${Math.round(n / s).toLocaleString("en-US")}/s`;
const rows: [string, string, string][] = [
  ["our check, lines (parse + validate + resolve paths, both files)", `${oursLines.toFixed(3)} s`, `${rate(allLines, oursLines)} lines`],
  ["our check, images (read + sha256 + header, each distinct image once)", `${oursImages.toFixed(3)} s`, `${rate(IMAGES + VAL_IMAGES, oursImages)} images`],
  [`our check, images, ${DISTINCT.toLocaleString("en-US")} distinct 64x64 PNGs (one per line, a second set)`, `${median(distinctImages).toFixed(3)} s`, `${rate(DISTINCT, median(distinctImages))} images`],
  ["our check, total in process (lines + images + report)", `${oursTotal.toFixed(3)} s`, `${rate(allLines, oursTotal)} lines`],
  ["`wc -l` (train file)", `${median(wc).toFixed(3)} s`, `${rate(LINES, median(wc))} lines`],
  ["plain Python `json.loads` loop (train file, loop only)", `${median(py).toFixed(3)} s`, `${rate(LINES, median(py))} lines`],
  ["plain Python loop, whole process", `${median(pyWall).toFixed(3)} s`, ""],
  ["`bun run tasks/prepare.ts` whole process (check + plot + preflight)", `${median(cli).toFixed(2)} s`, ""],
];
const oursRate = allLines / oursLines;
const ratios = {
  wc: oursRate / (LINES / median(wc)),
  py: oursRate / (LINES / median(py)),
};
console.log("");
for (const [what, secs, r] of rows) console.log(`${what.padEnd(72)} ${secs.padStart(9)}  ${r}`);
console.log(`ratio: our line check runs at ${ratios.py.toFixed(2)}x the lines/s of a bare Python json.loads loop, and at ${ratios.wc.toFixed(3)}x the speed of wc -l`);

if (values.write) {
  const section = `## Data check (tasks/prepare.ts)

A generated JSONL of ${LINES.toLocaleString("en-US")} lines (${formatBytes(fileBytes)}) whose images are shared: ${IMAGES} distinct
64x64 PNGs (plus a ${VAL_LINES.toLocaleString("en-US")}-line validation file on ${VAL_IMAGES} other PNGs). In one run, alternating,
one warm-up, median of ${RUNS}: our check (\`checkData\` in process: every line parsed and validated, every
distinct image read once, hashed and its header checked, leakage/duplicates/histogram), \`wc -l\` and a
plain Python \`for line in f: json.loads(line)\` loop on the same train file.

    bun run bench/data_check.ts --lines ${LINES} --images ${IMAGES} --distinct-images ${DISTINCT} --runs ${RUNS} --write

| what | median | rate |
|---|---|---|
${rows.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`).join("\n")}
| ratio: our lines/s / Python json.loads loop lines/s | ${ratios.py.toFixed(2)}x | |
| ratio: our lines/s / \`wc -l\` lines/s | ${ratios.wc.toFixed(3)}x | |

Machine: ${cpus().length} CPU cores (${cpus()[0]?.model ?? "unknown"}), Bun ${Bun.version}, ${new Date().toISOString().slice(0, 10)}; other helpers shared
the cores while this ran. Both images/s figures are over small files that the page cache holds; on a
real data set (Food-101: 101,000 JPEGs, ~5 GB) reading and hashing the bytes from disk dominates.
`;
  const path = join(ROOT, "BENCHMARKS.md");
  writeBenchmarkSection({ path, heading: "## Data check (tasks/prepare.ts)", section });
  console.log(`wrote the section to ${path}`);
}
if (!values.keep) rmSync(dir, { recursive: true, force: true });
