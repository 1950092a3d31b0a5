// End to end through the real CLI: `bun run tasks/train.ts` -> torchrun -> the engine -> DeepSpeed -> the
// tiny Qwen2.5-VL on the CPU. Slow (each run starts torch + DeepSpeed, ~2 min in all):
// skipped with QC_TEST_FAST=1, like the engine's pytest marks.
import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { basename, join, resolve } from "node:path";
import { verifyCheckpoint } from "../lib/checkpoints/manifest.ts";
import { makePng } from "../lib/data/fixtures.ts";
import { readEvents, type AnyEvent } from "../lib/events/tail.ts";
import { messageErrors } from "../lib/util/message_schema.ts";
import { STOP_MESSAGE } from "../lib/train/run.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
const SLOW = 420_000;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "qc-e2e-"));
  dirs.push(d);
  return d;
}

/** Small, fast runs of the demo config. */
function sets(out: string, extra: Record<string, string | number | boolean>): string[] {
  const all = {
    "training.output_dir": out,
    "training.logging_steps": 1,
    "training.per_device_batch_size": 8,
    "training.evaluation.partial_eval_samples": 32,
    "data.num_workers": 0,
    ...extra,
  };
  return Object.entries(all).flatMap(([k, v]) => ["--set", `${k}=${v}`]);
}

interface Run {
  pid: number;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
  stderr: () => string;
}

function train(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(BUN, ["run", "tasks/train.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HF_TOKEN: "hf_e2eSECRETtoken0123456789", ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((r) =>
    child.once("close", (code, signal) => r({ code, signal, stdout, stderr })),
  );
  return { pid: child.pid!, done, stderr: () => stderr };
}

async function events(out: string): Promise<AnyEvent[]> {
  const p = join(out, "logs", "events.jsonl");
  const evs = existsSync(p) ? await readEvents(p) : [];
  // What the real engine wrote matches schema/events.schema.json, line by line.
  evs.forEach((e, i) => expect(messageErrors("TrainEvent", e), `${p}:${i + 1}`).toEqual([]));
  return evs;
}

async function waitFor(cond: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const t = Date.now();
  while (!(await cond())) {
    if (Date.now() - t > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

/** Live processes (not zombies) whose command line mentions the run's output_dir. */
function processesOf(out: string): { pid: number; cmd: string }[] {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid)
    .map((n) => ({ pid: Number(n), cmd: cmdline(n) }))
    .filter((p) => p.cmd.includes(out))
    .filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
        return !/\) [ZX] /.test(stat);
      } catch {
        return false;
      }
    });
}

async function expectNoOrphans(out: string): Promise<void> {
  await waitFor(() => processesOf(out).length === 0, 5000, `no process left for ${out}: ${JSON.stringify(processesOf(out))}`).catch(() => {});
  expect(processesOf(out)).toEqual([]);
}

function checkpointDirs(out: string): { name: string; complete: boolean }[] {
  return readdirSync(out)
    .filter((n) => /^checkpoint-\d+$/.test(n))
    .map((name) => ({ name, complete: existsSync(join(out, name, "training_info.json")) }));
}

/** A TCP port nobody listens on now (the rendezvous endpoint of a two-node run). */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

/** Every live process below `pid` (children first found through /proc's parent pids), `pid` included. */
function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const n of readdirSync("/proc")) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const stat = readFileSync(`/proc/${n}/stat`, "utf8");
      parentOf.set(Number(n), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parentOf) if (parent === tree[i] && !tree.includes(child)) tree.push(child);
  return tree;
}

const stepLosses = async (out: string) => (await events(out)).filter((e) => e.event === "step").map((e) => (e as { loss: number }).loss);

// The no-eval run: 4 steps, saves at 2 and 4, two processes on one node. Shared (memoized) by the test
// that checks its checkpoints and the two-node test, whose reference it is, so it trains once per file.
const NO_EVAL = { "training.skip_evaluation": true, "training.max_steps": 4, "training.save_steps": 2 };
let noEval: Promise<{ out: string; r: Awaited<Run["done"]> }> | null = null;
function noEvalRun() {
  noEval ??= (async () => {
    const out = join(tmp(), "out");
    return { out, r: await train([...sets(out, NO_EVAL), "--nproc-per-node", "2"]).done };
  })();
  return noEval;
}

function endOf(evs: AnyEvent[]): Record<string, unknown> {
  const end = evs.filter((e) => e.event === "end").pop();
  expect(end).toBeDefined();
  return end as Record<string, unknown>;
}

describe.skipIf(process.env.QC_TEST_FAST === "1")("bun run tasks/train.ts (real engine, tiny model, CPU)", () => {
  test(
    "no-eval run (two processes): every checkpoint present and complete, zero evaluation passes, override report with each forced path",
    async () => {
      const { out, r } = await noEvalRun();
      expect(r.stderr).not.toContain("hf_e2eSECRET");
      expect(r.code).toBe(0);
      for (const path of [
        "training.save_all_checkpoints",
        "training.best_model_tracking.enabled",
        "training.best_model_tracking.save_best_only",
        "training.evaluation.partial_eval_during_training",
        "training.evaluation.full_eval_at_end",
        "training.evaluation.eval_best_model_only",
        "training.eval_steps",
      ]) {
        expect(r.stderr).toContain(path);
      }
      expect(checkpointDirs(out)).toEqual([
        { name: "checkpoint-2", complete: true },
        { name: "checkpoint-4", complete: true },
      ]);
      for (const c of ["checkpoint-2", "checkpoint-4"]) {
        expect(existsSync(join(out, c, "hf_model", "config.json"))).toBe(true);
        expect(existsSync(join(out, c, "hf_model", "model.safetensors"))).toBe(true);
        expect(existsSync(join(out, c, "deepspeed"))).toBe(true);
        expect(existsSync(join(out, c, "eval_results.json"))).toBe(false);
      }
      const info = JSON.parse(readFileSync(join(out, "checkpoint-4", "training_info.json"), "utf8"));
      expect(info.is_final).toBe(true);
      expect(info.world_size).toBe(2);
      const evs = await events(out);
      expect(evs.filter((e) => e.event === "eval")).toEqual([]);
      const end = endOf(evs);
      expect(end.status).toBe("completed");
      expect(end.eval_forward_passes).toBe(0);
      expect(r.stderr).toContain("step 4/4 (100%)");
      // Start-up: two processes go through torchrun, DeepSpeed's CPU comm op is neither built nor loaded
      // on either rank, and rank 0's start event timeline is in order, ending before the first step.
      const log = readFileSync(join(out, "logs", "train.log"), "utf8");
      expect(log).toMatch(/launch: \S+ -m torch\.distributed\.run --standalone --nproc-per-node 2 -m qc_engine\.train /);
      expect(log).not.toContain("deepspeed_shm_comm");
      const startup = (evs.find((e) => e.event === "start") as { startup?: Record<string, number> }).startup!;
      const marks = ["process_started", "imports_began", "imports_done", "distributed_done", "input_check_done", "model_done", "data_done", "engine_done"];
      expect(Object.keys(startup).filter((k) => k !== "parent_started")).toEqual(marks);
      const times = marks.map((k) => startup[k]!);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(times.at(-1)!).toBeLessThanOrEqual(evs.find((e) => e.event === "step")!.time as number);
      expect(r.stdout).toContain("summary ── completed (exit code 0)");
      expect(r.stdout).toContain(`tasks/evaluate.ts --all ${out}`);
      const resolved = JSON.parse(readFileSync(join(out, "resolved_config.json"), "utf8"));
      expect(resolved.config.training.save_all_checkpoints).toBe(true);
      expect(resolved.overrides.map((o: { path: string }) => o.path)).toContain("training.save_all_checkpoints");
      expect(resolved.command).toContain("qc_engine.train");
      for (const f of ["resolved_config.json", "ds_config.json", "logs/train.log", "logs/events.jsonl"]) {
        expect(readFileSync(join(out, f), "utf8")).not.toContain("hf_e2eSECRET");
      }
      await expectNoOrphans(out);
    },
    SLOW,
  );

  test(
    "standard run: best + last kept after retention, final eval_results.json written",
    async () => {
      const out = join(tmp(), "out");
      const r = await train(
        sets(out, { "training.max_steps": 6, "training.save_steps": 2, "training.eval_steps": 2, "training.save_total_limit": 1 }),
      ).done;
      expect(r.code).toBe(0);
      // one process: torchrun too (lib/train/command.ts: one launch path for 1 or N processes)
      const launch = readFileSync(join(out, "logs", "train.log"), "utf8").split("\n").find((l) => l.includes(" launch: "))!;
      expect(launch).toMatch(/launch: \S+ -m torch\.distributed\.run --standalone --nproc-per-node 1 -m qc_engine\.train --resolved /);
      const evs = await events(out);
      const end = endOf(evs);
      expect(end.status).toBe("completed");
      expect(Number(end.eval_forward_passes)).toBeGreaterThan(0);
      const best = end.best_checkpoint as string;
      expect(typeof best).toBe("string");
      const saved = evs.filter((e) => e.event === "checkpoint").map((e) => basename((e as { path: string }).path));
      expect(saved).toEqual(["checkpoint-2", "checkpoint-4", "checkpoint-6"]);
      // retention best:1+last:1 -> the tracked best and the newest, nothing else
      const expected = [...new Set([basename(best), "checkpoint-6"])].sort();
      expect(checkpointDirs(out).map((c) => c.name).sort()).toEqual(expected);
      expect(checkpointDirs(out).every((c) => c.complete)).toBe(true);
      const results = JSON.parse(readFileSync(join(best, "eval_results.json"), "utf8"));
      const full = Object.values(results as Record<string, { split: string; metrics: { accuracy: number } }>).filter((e) => e.split === "full");
      expect(full).toHaveLength(1);
      // A real bound: 6 steps of the tiny demo reach 0.19 full-eval accuracy here (10 classes); a
      // model that learned nothing scores 0.10 +- 0.016 on the 360 validation digits.
      const chance = 1 / 10;
      expect(full[0]!.metrics.accuracy).toBeGreaterThan(chance + 0.04);
      expect(r.stderr).toMatch(/retention \(best:1\+last:1\): checkpoint-\d+: delete/);
      expect(r.stdout).toContain(`best:          ${best} (accuracy ${full[0]!.metrics.accuracy.toFixed(4)})`);
      expect(r.stdout).toContain(`tasks/evaluate.ts --checkpoint ${best}`);
      await expectNoOrphans(out);
    },
    SLOW,
  );

  test(
    "bad data: non-zero exit naming file:line, nothing trained",
    async () => {
      // Its own images, so that it does not depend on the digits an earlier test's demo assets built.
      const dir = tmp();
      const images = join(dir, "images");
      mkdirSync(images);
      for (let i = 0; i < 6; i++) writeFileSync(join(images, `${i}.png`), makePng({ width: 56, height: 56, seed: i }));
      const good = (i: number) => JSON.stringify({ image: join(images, `${i}.png`), label: i % 10 });
      const trainFile = join(dir, "train.jsonl");
      writeFileSync(trainFile, [good(0), good(1), '{"image": "x.png", "label": ', good(3)].join("\n") + "\n");
      writeFileSync(join(dir, "val.jsonl"), [good(4), good(5)].join("\n") + "\n");
      const out = join(dir, "out");
      const r = await train(sets(out, { "training.max_steps": 2, "data.train_jsonl": trainFile, "data.val_jsonl": join(dir, "val.jsonl") })).done;
      expect(r.code).not.toBe(0);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${trainFile}:3`);
      expect(existsSync(out) ? checkpointDirs(out) : []).toEqual([]);
      await expectNoOrphans(out);
    },
    SLOW,
  );

  test(
    "Ctrl-C during training: exit 130, one complete checkpoint, no incomplete checkpoint-N, no orphan",
    async () => {
      const out = join(tmp(), "out");
      const run = train(sets(out, { "training.skip_evaluation": true, "training.max_steps": 500, "training.save_steps": 1000 }));
      await waitFor(async () => (await events(out)).filter((e) => e.event === "step").length >= 2, 240_000, "two training steps");
      process.kill(run.pid, "SIGINT");
      const t = Date.now();
      const r = await run.done;
      expect(Date.now() - t).toBeLessThan(120_000);
      expect(r.code).toBe(130);
      expect(r.stderr).toContain(STOP_MESSAGE);
      const end = endOf(await events(out));
      expect(end.status).toBe("interrupted");
      const ckpts = checkpointDirs(out);
      expect(ckpts).toEqual([{ name: `checkpoint-${end.step}`, complete: true }]);
      expect(existsSync(join(out, ".stop_requested"))).toBe(false);
      expect(r.stdout).toContain("summary ── interrupted (exit code 130)");
      expect(r.stdout).toContain("--resume");
      await expectNoOrphans(out);
    },
    SLOW,
  );

  test(
    "a worker killed with SIGKILL: non-zero exit with a clear message, no hang, no orphan",
    async () => {
      const out = join(tmp(), "out");
      const run = train(sets(out, { "training.skip_evaluation": true, "training.max_steps": 500, "training.save_steps": 1000 }));
      await waitFor(async () => (await events(out)).some((e) => e.event === "step"), 240_000, "a training step");
      // the worker by its command line, not its group (under torchrun each worker has a session of its own)
      const workers = processesOf(out).filter((p) => p.cmd.includes("qc_engine.train") && !p.cmd.includes("torch.distributed.run"));
      expect(workers).toHaveLength(1);
      process.kill(workers[0]!.pid, "SIGKILL");
      const t = Date.now();
      const r = await run.done;
      expect(Date.now() - t).toBeLessThan(60_000);
      expect(r.code).not.toBe(0);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`worker died (killed by signal 9): see ${join(out, "logs", "train.log")}`);
      expect(checkpointDirs(out).every((c) => c.complete)).toBe(true);
      await expectNoOrphans(out);
    },
    SLOW,
  );
});

// Two nodes on one machine: two launches of tasks/train.ts with one process each, one c10d rendezvous
// (127.0.0.1:PORT), one shared output_dir. The reference is the two-process no-eval run above. The three
// tests run concurrently (mostly waiting: rendezvous, start-up), and each node's single process uses one
// thread as torchrun gives each of several processes on one machine (two 2-thread nodes would oversubscribe).
describe.skipIf(process.env.QC_TEST_FAST === "1")("two nodes (two launches, --nnodes 2, one process each)", () => {
  const node = (args: string[], rank: number) => train([...args, "--node-rank", String(rank)], { OMP_NUM_THREADS: "1" });
  const nodeArgs = (out: string, port: number, extra: Record<string, string | number | boolean>, timeoutS: number) => [
    ...sets(out, extra), "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-endpoint", `127.0.0.1:${port}`, "--rdzv-timeout", String(timeoutS),
  ];

  test.concurrent(
    "the same per-step losses as one launch with --nproc-per-node 2; complete checkpoints; node 1 owns no run file",
    async () => {
      const ref = noEvalRun();
      const out = join(tmp(), "out");
      const args = nodeArgs(out, await freePort(), NO_EVAL, 240);
      const [r0, r1] = await Promise.all([node(args, 0).done, node(args, 1).done]);
      expect(r0.code).toBe(0);
      expect(r1.code).toBe(0);
      expect(r0.stderr).toContain("node 0 of 2 (1 process here)");
      expect(r0.stderr).toContain("this launcher owns the run files");
      expect(r1.stderr).toContain("node 1 of 2 (1 process here)");
      expect(r1.stderr).toContain("a worker node; node 0's launcher owns the run files");
      expect(r1.stderr).not.toContain("disk: needs"); // the shared disk is checked once, by node 0
      // gloo on the CPU in fp32: the same reductions in the same order, so the same losses (checked to 1e-6)
      const { out: refOut, r: refRun } = await ref;
      expect(refRun.code).toBe(0);
      const want = await stepLosses(refOut);
      const got = await stepLosses(out);
      expect(want).toHaveLength(4);
      expect(got).toHaveLength(4);
      got.forEach((loss, i) => expect(Math.abs(loss - want[i]!)).toBeLessThan(1e-6 * Math.abs(want[i]!)));
      expect(checkpointDirs(out)).toEqual([
        { name: "checkpoint-2", complete: true },
        { name: "checkpoint-4", complete: true },
      ]);
      for (const c of ["checkpoint-2", "checkpoint-4"]) {
        const info = JSON.parse(readFileSync(join(out, c, "training_info.json"), "utf8"));
        expect(info.world_size).toBe(2);
        expect(verifyCheckpoint({ dir: join(out, c), info, hashes: true })).toBe("sha256");
      }
      // node 0 wrote the run files; node 1 only its own log; both locks released
      expect(readdirSync(out).filter((n) => n.startsWith(".train"))).toEqual([]);
      expect(readFileSync(join(out, "logs", "train.log"), "utf8")).toContain("--node-rank 0");
      expect(readFileSync(join(out, "logs", "train.node-1.log"), "utf8")).toContain("--node-rank 1");
      await expectNoOrphans(out);
    },
    SLOW,
  );

  test.concurrent(
    "a node that never joins: node 0 exits 1 after --rdzv-timeout, naming the endpoint, the missing node and the fix",
    async () => {
      const out = join(tmp(), "out");
      const port = await freePort();
      const t = Date.now();
      const r = await node(nodeArgs(out, port, NO_EVAL, 3), 0).done;
      expect(Date.now() - t).toBeLessThan(90_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`error: the other node (--node-rank 1) did not join the rendezvous at 127.0.0.1:${port} (id qwen-classify) within 3 s`);
      expect(r.stderr).toContain("or allow more time with --rdzv-timeout SECONDS");
      expect(checkpointDirs(out)).toEqual([]);
      expect(existsSync(join(out, ".train.lock"))).toBe(false);
      await expectNoOrphans(out);
    },
    SLOW,
  );

  test.concurrent(
    "a node that dies mid-run (its launcher, torchrun and worker killed with SIGKILL): node 0 exits 1 with a clear message, no incomplete checkpoint looks complete",
    async () => {
      const out = join(tmp(), "out");
      const args = nodeArgs(out, await freePort(), { "training.skip_evaluation": true, "training.max_steps": 500, "training.save_steps": 1 }, 240);
      const n0 = node(args, 0);
      const n1 = node(args, 1);
      await waitFor(async () => (await events(out)).filter((e) => e.event === "step").length >= 2, 240_000, "two training steps");
      for (const pid of processTree(n1.pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      const t = Date.now();
      const r = await n0.done;
      expect(Date.now() - t).toBeLessThan(60_000);
      expect((await n1.done).signal).toBe("SIGKILL");
      expect(r.code).toBe(1);
      // which message depends on which node hosted the c10d store: node 1's (the rendezvous is gone) or node 0's (a collective fails)
      expect(r.stderr).toMatch(/error: (lost contact with another rank \(this is rank \d of 2 on [^)]+\): a process on another node died|lost the rendezvous at 127\.0\.0\.1:\d+: the node that hosted it stopped)/);
      expect(r.stderr).toContain("start every node again with --resume auto");
      for (const c of checkpointDirs(out).filter((d) => d.complete)) {
        const info = JSON.parse(readFileSync(join(out, c.name, "training_info.json"), "utf8"));
        expect(verifyCheckpoint({ dir: join(out, c.name), info })).toBe("sizes");
      }
      expect(checkpointDirs(out).every((c) => c.complete)).toBe(true);
      await expectNoOrphans(out);
    },
    SLOW,
  );
});
