// Launch to first optimizer step: where `bun run tasks/train.ts` spends its start-up, phase by phase,
// for this checkout and (optionally) another one (--before DIR: e.g. a worktree of the previous commit),
// alternating, median of --runs. Same assets and config as bench/e2e_vs_trainer.ts (the tiny random
// Qwen2.5-VL, 256 varied-size digits, batch 8, ZeRO-2, fp32, OMP_NUM_THREADS=1), 4 steps.
//   bun run bench/startup.ts [--runs 3] [--before DIR] [--write]
// Phases come from the start event's `startup` timeline (engine/qc_engine/train.py) and the events'
// times; a checkout whose engine writes no timeline gets the totals only.
// --write updates BENCHMARKS.md (section "Start-up: launch to first step").
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeBenchmarkSection } from "./lib/benchmarks_md.ts";
import { median } from "./e2e_vs_trainer.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
export const HEADING = "## Start-up: launch to first step";

/** Phase names, in order, with what each covers. */
export const PHASES: [string, string][] = [
  ["launcher", "Bun start, config resolve + validation, input checks, disk + memory preflight (image headers), run files, demo-assets check"],
  ["torchrun", "torchrun's agent: its own Python + torch import, rendezvous (0 when the engine runs without torchrun)"],
  ["python", "the engine's interpreter start up to its first import"],
  ["imports", "torch, transformers, DeepSpeed, PIL, qc_engine"],
  ["distributed", "deepspeed.init_distributed (+ DeepSpeed's CPU comm op before this change), event log"],
  ["input_check", "rank 0: model folder, labels, every JSONL line, every image opened (PIL verify)"],
  ["model", "build_classifier (weights from safetensors) + tokenizer / image processor"],
  ["data", "dataset, sampler, DataLoader (num_workers 0 here)"],
  ["engine", "optimizer, scheduler, deepspeed.initialize (ZeRO-2)"],
  ["first_step", "first batch (decode + preprocess 8 images) and the first optimizer step"],
];

/** Seconds per phase from spawn time, the start event's timeline and the first step's time; null where unknown. */
export function startupPhases(p: { spawn: number; startup: Record<string, number> | null; firstStep: number; viaTorchrun: boolean }): Record<string, number | null> {
  const out: Record<string, number | null> = Object.fromEntries(PHASES.map(([k]) => [k, null]));
  const s = p.startup;
  if (!s) return out;
  const firstPython = p.viaTorchrun && s.parent_started !== undefined ? s.parent_started : s.process_started!;
  out.launcher = firstPython - p.spawn;
  out.torchrun = p.viaTorchrun ? s.process_started! - firstPython : 0;
  out.python = s.imports_began! - s.process_started!;
  let prev = s.imports_began!;
  for (const k of ["imports", "distributed", "input_check", "model", "data", "engine"]) {
    const t = s[`${k}_done`];
    if (t === undefined) continue;
    out[k] = t - prev;
    prev = t;
  }
  out.first_step = p.firstStep - prev;
  return out;
}

interface Run { wall: number; startup: number; exit: number; phases: Record<string, number | null> }

function runOnce(root: string, config: string, out: string, env: Record<string, string | undefined>): Run {
  rmSync(out, { recursive: true, force: true });
  const spawn = Date.now() / 1000;
  const t0 = performance.now();
  const r = Bun.spawnSync([BUN, "run", join(root, "tasks", "train.ts"), "--config", config, "--set", `training.output_dir=${out}`], { cwd: root, env, stdout: "pipe", stderr: "pipe" });
  const wall = (performance.now() - t0) / 1000;
  if (r.exitCode !== 0) throw new Error(`${root}: tasks/train.ts failed (exit ${r.exitCode}):\n${r.stderr.toString().slice(-3000)}`);
  const events = readFileSync(join(out, "logs", "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const start = events.find((e) => e.event === "start");
  const firstStep = events.find((e) => e.event === "step")!.time as number;
  const end = events.find((e) => e.event === "end")!.time as number;
  const command: string[] = JSON.parse(readFileSync(join(out, "resolved_config.json"), "utf8")).command;
  return {
    wall, startup: firstStep - spawn, exit: spawn + wall - end,
    phases: startupPhases({ spawn, startup: start?.startup ?? null, firstStep, viaTorchrun: command.includes("torch.distributed.run") }),
  };
}

function main(): void {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "3" }, before: { type: "string" }, write: { type: "boolean", default: false } } });
  const runs = Number(values.runs);
  const work = join(ROOT, ".cache", "bench", "e2e");
  mkdirSync(work, { recursive: true });
  const env: Record<string, string | undefined> = {
    ...process.env, NO_COLOR: "1", OMP_NUM_THREADS: "1", TOKENIZERS_PARALLELISM: "false", DS_ACCELERATOR: "cpu",
    TORCH_EXTENSIONS_DIR: join(ROOT, ".cache", "torch_extensions"), // private: see bench/e2e_vs_trainer.ts
  };
  const modelDir = join(work, "tiny-qwen2.5-vl");
  const dataDir = join(work, "varied-digits-256");
  const prep = Bun.spawnSync([join(ROOT, ".venv", "bin", "python"), "-c",
    `import sys, pathlib; sys.path[:0] = ["engine", "bench"]\nfrom qc_engine.tiny import build_tiny_model\nimport varied_digits\n` +
    `p = pathlib.Path(${JSON.stringify(modelDir)})\np.exists() or build_tiny_model(p, seed=42)\n` +
    `varied_digits.build(${JSON.stringify(dataDir)}, samples=256, val=32, seed=0)`], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
  if (prep.exitCode !== 0) throw new Error(`building the assets failed:\n${prep.stderr.toString().slice(-3000)}`);
  const config = join(work, "startup.yaml");
  writeFileSync(config, [
    `model: {pretrained_name: ${modelDir}, num_labels: 10}`,
    `data: {train_jsonl: ${dataDir}/train.jsonl, val_jsonl: ${dataDir}/val.jsonl, labels_file: ${dataDir}/labels.json, image_min_pixels: 3136, image_max_pixels: 50176, num_workers: 0}`,
    "training: {epochs: 1, max_steps: 4, per_device_batch_size: 8, lr: 2.0e-3, warmup_steps: 2, precision: fp32, logging_steps: 1, save_steps: 4, skip_evaluation: true, seed: 42}",
    "deepspeed: {zero_stage: 2}", "",
  ].join("\n"));

  const sides: [string, string][] = [["after", ROOT]];
  if (values.before) sides.push(["before", resolve(values.before)]);
  const load = [loadavg()[0]!];
  for (const [name, root] of sides) runOnce(root, config, join(work, `startup-warm-${name}`), env); // warm-up: page cache, bytecode, comm op
  const results: Record<string, Run[]> = Object.fromEntries(sides.map(([n]) => [n, []]));
  for (let i = 0; i < runs; i++) {
    for (const [name, root] of i % 2 === 0 ? sides : [...sides].reverse()) {
      const r = runOnce(root, config, join(work, `startup-${name}`), env);
      results[name]!.push(r);
      console.log(`run ${i + 1} ${name}: wall ${r.wall.toFixed(1)} s, spawn -> first step ${r.startup.toFixed(1)} s, ${JSON.stringify(Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, v === null ? null : +v.toFixed(2)])))}`);
    }
    load.push(loadavg()[0]!);
  }
  const med = (xs: (number | null)[]) => { const v = xs.filter((x): x is number => x !== null); return v.length ? median(v).toFixed(2) : "n/a"; };
  const names = sides.map(([n]) => n);
  const header = `| phase | ${names.map((n) => `${n} (median s)`).join(" | ")} | what |`;
  const rows = PHASES.map(([k, what]) => `| ${k} | ${names.map((n) => med(results[n]!.map((r) => r.phases[k] ?? null))).join(" | ")} | ${what} |`);
  const total = (label: string, pick: (r: Run) => number) => `| **${label}** | ${names.map((n) => `**${med(results[n]!.map(pick))}** (${results[n]!.map((r) => pick(r).toFixed(1)).join(", ")})`).join(" | ")} | |`;
  const cmd = `bun run bench/startup.ts --runs ${runs}${values.before ? " --before DIR" : ""} --write`;
  const lines = [
    HEADING, "",
    "Where `bun run tasks/train.ts` spends the time from its spawn to the end of the first optimizer step, phase",
    "by phase, from the start event's `startup` timeline (rank 0) and the events' times. Same assets as the",
    "end-to-end bench (tiny random Qwen2.5-VL, 256 varied-size digit JPEGs, batch 8, ZeRO-2, fp32, OMP_NUM_THREADS=1),",
    `4 steps, one untimed warm-up per side, alternating, median of ${runs}.`, "",
    `    ${cmd}`, "",
    header, `|---|${names.map(() => "---|").join("")}---|`, ...rows,
    total("spawn -> first step done", (r) => r.startup), total("end event -> process exit", (r) => r.exit), total("whole process", (r) => r.wall), "",
    `Machine: ${cpus().length} CPU cores (${cpus()[0]?.model?.trim() ?? "?"}), Bun ${Bun.version}, ${new Date().toISOString().slice(0, 10)}; 1-minute load average`,
    `${load.map((l) => l.toFixed(1)).join(" -> ")} over the runs (other sessions shared the cores): absolute times are noisy.`,
  ];
  console.log("\n" + lines.join("\n"));
  if (values.write) writeBenchmarkSection({ path: join(ROOT, "BENCHMARKS.md"), heading: HEADING, section: lines.join("\n") + "\n" });
}

if (import.meta.main) main();
