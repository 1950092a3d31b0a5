import { afterAll, describe, expect, test } from "bun:test";
import { spawn as nodeSpawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { configForTest } from "../data/fixtures.ts";
import { statfsWith, writeSafetensors } from "../preflight/test_fixtures.ts";
import { UserError } from "../util/errors.ts";
import { redact, runTraining, STOP_MESSAGE, TorchrunReportFilter, torchrunRootExitCode, type RunParams, type SpawnFn } from "./run.ts";

const BUN = process.execPath;
const FAKE = resolve(import.meta.dir, "../../test/fixtures/fake_engine.ts");
const HF = "hf_secretTOKENabcdef123456";
const WANDB = "wandbsecret0123456789abcdef";
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function sink() {
  const chunks: string[] = [];
  return { isTTY: false, write: (s: string) => void chunks.push(s), text: () => chunks.join("") };
}

/** A full config (schema defaults); max_steps/save_steps match the fake engine's 4 steps, a save every 2. */
function baseConfig(root: string, out: string, training: Record<string, unknown> = {}) {
  return configForTest({
    model: { pretrained_name: join(root, "model") },
    data: { train_jsonl: join(root, "train.jsonl"), val_jsonl: join(root, "val.jsonl") },
    training: { output_dir: out, max_steps: 4, save_steps: 2, save_total_limit: 2, best_model_tracking: { enabled: true, metric: "accuracy" }, checkpoint: { retention: "", keep_optimizer_states: 0 }, ...training },
    demo: { build_tiny_model: false, build_digits_dataset: false },
    hub: { repo_id: "me/digits" },
  });
}

function setup(scenario: string, opts: { env?: Record<string, string>; training?: Record<string, unknown>; hash?: string } = {}) {
  const root = mkdtempSync(join(tmpdir(), "qc-run-"));
  dirs.push(root);
  const out = join(root, "out");
  // the inputs the launcher checks before anything starts (the fake engine reads none of them)
  mkdirSync(join(root, "model"));
  writeFileSync(join(root, "model", "config.json"), "{}");
  for (const f of ["train.jsonl", "val.jsonl"]) writeFileSync(join(root, f), "");
  const stderr = sink();
  const stdout = sink();
  const signals = new EventEmitter();
  const params: RunParams = {
    config: baseConfig(root, out, opts.training),
    overrides: [{ path: "training.save_all_checkpoints", requested: false, value: true, source: "default", reason: "test", kind: "forced" }],
    warnings: [],
    configHash: opts.hash ?? "hash-this",
    sourceFile: "/configs/x.yaml",
    launch: { argv: [BUN, FAKE, scenario, out], python: BUN, env: { HF_TOKEN: HF, WANDB_API_KEY: WANDB, FAKE_CONFIG_HASH: opts.hash ?? "hash-this", ...opts.env } },
    dsConfig: { train_micro_batch_size_per_gpu: 4, zero_optimization: { stage: 2 } },
    outputDir: out,
    stdout,
    stderr,
    tty: false,
    pollMs: 20,
    processSignals: signals as never,
    retention: null,
  };
  return { root, out, stderr, stdout, signals, params };
}

async function waitFor(cond: () => boolean, ms = 10000): Promise<void> {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\S+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

describe("runTraining with a fake engine", () => {
  test("completed run: exit 0, progress lines, resolved_config/ds_config, engine output teed, summary with real paths", async () => {
    const s = setup("complete");
    const r = await runTraining(s.params);
    expect(r.exitCode).toBe(0);
    expect(r.status).toBe("completed");
    const err = s.stderr.text();
    expect(err).toContain("training: 4 steps (2 epoch(s) x 2)");
    for (const n of [1, 2, 3, 4]) expect(err).toContain(`step ${n}/4 (${n * 25}%)`);
    expect(err).toContain("eval partial @ step 2: accuracy 0.9000 on 8 samples");
    expect(err).toContain(`checkpoint step 2 [best]: ${join(s.out, "checkpoint-2")}`);
    expect(err).toMatch(/run uses .* free at /);
    expect(err).toContain("engine: starting (HF_TOKEN is set)"); // not a TTY: engine output shown too
    expect(err).toContain("training completed at step 4");

    const resolved = JSON.parse(readFileSync(join(s.out, "resolved_config.json"), "utf8"));
    expect(resolved.config_hash).toBe("hash-this");
    expect(resolved.command).toEqual(s.params.launch.argv);
    expect(resolved.source_file).toBe("/configs/x.yaml");
    expect(resolved.config.training.output_dir).toBe(s.out);
    expect(resolved.overrides[0].path).toBe("training.save_all_checkpoints");
    expect(Number.isNaN(Date.parse(resolved.created_at))).toBe(false);
    expect(JSON.parse(readFileSync(join(s.out, "ds_config.json"), "utf8"))).toEqual(s.params.dsConfig as object);
    expect(readFileSync(join(s.out, "logs", "train.log"), "utf8")).toContain("engine: starting");
    // the engine's own step lines stay in the log; the terminal shows the launcher's (with ETA) once
    expect(readFileSync(join(s.out, "logs", "train.log"), "utf8")).toContain("step 3/4 | engine mirror line");
    expect(err).not.toContain("engine mirror line");
    expect(existsSync(join(s.out, ".stop_requested"))).toBe(false);

    const out = s.stdout.text();
    expect(out).toContain("summary ── completed (exit code 0)");
    expect(out).toContain("steps:         4/4");
    expect(out).toContain("final loss:    0.5000");
    expect(out).toContain(`best:          ${join(s.out, "checkpoint-2")} (accuracy 0.8750)`);
    expect(out).toContain("checkpoints:   2 kept, 5.9 KiB (checkpoint-2, checkpoint-4)");
    expect(out).toContain(`bun run tasks/evaluate.ts --checkpoint ${join(s.out, "checkpoint-2")}`);
    expect(out).toContain(`bun run tasks/export.ts --checkpoint ${join(s.out, "checkpoint-2")}`);
    expect(out).toContain(`bun run tasks/push.ts --checkpoint ${join(s.out, "checkpoint-2")} --repo me/digits`);
    expect(r.summary.checkpoints.count).toBe(2);
  });

  test("secrets in the environment reach the child but no file, log or output", async () => {
    const s = setup("complete", { env: { FAKE_LEAK: "1" } });
    const r = await runTraining(s.params);
    expect(r.exitCode).toBe(0);
    const files = allFiles(s.out);
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const text = readFileSync(f).toString("latin1");
      expect(text.includes(HF)).toBe(false);
      expect(text.includes(WANDB)).toBe(false);
    }
    expect(readFileSync(join(s.out, "logs", "train.log"), "utf8")).toContain("leaking ***");
    expect(s.stderr.text().includes(HF)).toBe(false);
    expect(s.stdout.text().includes(HF)).toBe(false);
  });

  test("a worker that dies without an end event: exit 1, 'worker died', the log's last lines", async () => {
    const s = setup("crash");
    const r = await runTraining(s.params);
    expect(r.status).toBe("failed");
    expect(r.exitCode).toBe(1);
    const err = s.stderr.text();
    expect(err).toContain(`error: worker died: see ${join(s.out, "logs", "train.log")}`);
    expect(err).toContain("  | RuntimeError: worker exploded");
    expect(s.stdout.text()).toContain("summary ── failed (exit code 1)");
    expect(s.stdout.text()).toContain("read the log:");
  });

  test("bad input: the engine's exit code 2 (through torchrun's report) and its file:line message", async () => {
    const s = setup("badinput");
    const r = await runTraining(s.params);
    expect(r.exitCode).toBe(2);
    expect(r.status).toBe("failed");
    expect(s.stderr.text()).toContain("error: the engine failed: data/train.jsonl:3: label 12 is out of range [0, 10)");
  });

  test("exit 0 without an end event is still a failure", async () => {
    const s = setup("noend");
    const r = await runTraining(s.params);
    expect(r.exitCode).toBe(1);
    expect(r.status).toBe("failed");
  });

  test("a second training into the same output_dir while the first runs is refused; the lock goes with the first", async () => {
    const s = setup("stoppable");
    const first = runTraining(s.params);
    await waitFor(() => s.stderr.text().includes("step 2/"));
    const lock = JSON.parse(readFileSync(join(s.out, ".train.lock"), "utf8"));
    expect(lock).toMatchObject({ pid: process.pid, host: hostname(), purpose: "train", command: s.params.launch.argv });
    const second = { ...s.params, stdout: sink(), stderr: sink(), resume: true };
    let err: unknown;
    try {
      await runTraining(second);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    expect((err as UserError).message).toContain(`another training is using ${s.out} (pid ${process.pid} on ${hostname()}, started ${lock.started_at}`);
    expect(existsSync(join(s.out, ".stop_requested"))).toBe(false); // the refused one wrote nothing
    s.signals.emit("SIGINT");
    expect((await first).exitCode).toBe(130);
    expect(existsSync(join(s.out, ".train.lock"))).toBe(false);
  });

  test("a stale lock from a dead launcher is taken over with a message", async () => {
    const s = setup("complete");
    mkdirSync(s.out, { recursive: true });
    const dead = Number(Bun.spawnSync(["sh", "-c", "echo $$"]).stdout.toString().trim());
    writeFileSync(join(s.out, ".train.lock"), JSON.stringify({ pid: dead, host: hostname(), purpose: "train", started_at: "2026-12-01T00:00:00.000Z", command: ["old"] }));
    const r = await runTraining(s.params);
    expect(r.exitCode).toBe(0);
    expect(s.stderr.text()).toContain(`note: taking over a stale lock ${join(s.out, ".train.lock")}: its training (pid ${dead} on ${hostname()}`);
    expect(existsSync(join(s.out, ".train.lock"))).toBe(false);
  });

  test("a no-eval run resumed from a standard run's output inherits no best: best_checkpoint.json set aside, summary 'none tracked'", async () => {
    const s = setup("complete", { env: { FAKE_NO_BEST: "1" }, training: { skip_evaluation: true, best_model_tracking: { enabled: false, metric: "accuracy" } } });
    // the standard run before: checkpoint-1 was its best, recorded in best_checkpoint.json and training_info
    const old = join(s.out, "checkpoint-1");
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, "training_info.json"), JSON.stringify({ step: 1, is_best: true, config_hash: "hash-this", eval_metrics: { accuracy: 0.99 }, bytes: { total: 10 } }));
    const record = { path: old, step: 1, metric: "accuracy", value: 0.99 };
    writeFileSync(join(s.out, "best_checkpoint.json"), JSON.stringify(record));
    const r = await runTraining({ ...s.params, resume: true });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(s.out, "logs", "train.log"), "utf8")).toContain("engine: best_checkpoint.json absent");
    expect(s.stderr.text()).toContain("best_checkpoint.json is set aside as best_checkpoint.before_no_eval.json");
    expect(existsSync(join(s.out, "best_checkpoint.json"))).toBe(false);
    expect(JSON.parse(readFileSync(join(s.out, "best_checkpoint.before_no_eval.json"), "utf8"))).toEqual(record);
    expect(r.summary.best).toBeNull();
    expect(s.stdout.text()).toContain("best:          none tracked");

  });

  test("first SIGINT creates .stop_requested and the engine stops after saving: exit 130", async () => {
    const s = setup("stoppable");
    const run = runTraining(s.params);
    await waitFor(() => s.stderr.text().includes("step 2/4"));
    s.signals.emit("SIGINT");
    expect(existsSync(join(s.out, ".stop_requested"))).toBe(true);
    expect(s.stderr.text()).toContain(STOP_MESSAGE);
    const r = await run;
    expect(r.exitCode).toBe(130);
    expect(r.status).toBe("interrupted");
    expect(existsSync(join(s.out, ".stop_requested"))).toBe(false);
    const ckpts = readdirSync(s.out).filter((n) => n.startsWith("checkpoint-"));
    expect(ckpts).toHaveLength(1);
    expect(existsSync(join(s.out, ckpts[0]!, "training_info.json"))).toBe(true);
    expect(s.stdout.text()).toContain("--resume");
    expect(s.signals.listenerCount("SIGINT")).toBe(0); // handlers removed
  });

  test("second SIGINT kills the whole tree, workers in their own sessions included: exit 130, no orphan", async () => {
    const s = setup("stubborn");
    const run = runTraining(s.params);
    await waitFor(() => existsSync(join(s.out, "worker.pid")) && s.stderr.text().includes("step 2/"));
    const worker = Number(readFileSync(join(s.out, "worker.pid"), "utf8"));
    expect(alive(worker)).toBe(true);
    s.signals.emit("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(worker)).toBe(true); // the first signal only asks
    s.signals.emit("SIGINT");
    const r = await run;
    expect(r.exitCode).toBe(130);
    expect(r.status).toBe("interrupted");
    expect(r.summary.reason).toContain("aborted");
    await waitFor(() => !alive(worker), 3000);
    expect(existsSync(join(s.out, ".stop_requested"))).toBe(false);
  });

  test("refuses an output_dir holding checkpoints of a different config; --resume / --overwrite go on", async () => {
    const s = setup("complete");
    mkdirSync(join(s.out, "checkpoint-5"), { recursive: true });
    writeFileSync(join(s.out, "checkpoint-5", "training_info.json"), JSON.stringify({ step: 5, config_hash: "hash-other" }));
    writeFileSync(join(s.out, "resolved_config.json"), JSON.stringify({ config_hash: "hash-other" }));
    let caught: unknown;
    try {
      await runTraining(s.params);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UserError);
    expect((caught as UserError).exitCode).toBe(2);
    expect((caught as UserError).message).toContain(`${s.out} holds checkpoints of a different config`);
    expect((caught as UserError).message).toContain("checkpoint-5");
    expect((caught as UserError).message).toContain("fix: choose another training.output_dir");
    expect((caught as UserError).message).toContain("--overwrite");
    // the refusal left output_dir as it was: no logs/, no ds_config.json, the old resolved_config.json
    expect(readdirSync(s.out).sort()).toEqual(["checkpoint-5", "resolved_config.json"]);
    expect(JSON.parse(readFileSync(join(s.out, "resolved_config.json"), "utf8")).config_hash).toBe("hash-other");
    expect(JSON.parse(readFileSync(join(s.out, "resolved_config.json"), "utf8")).config_hash).toBe("hash-other"); // untouched
    expect(existsSync(join(s.out, "logs"))).toBe(false);

    const r = await runTraining({ ...s.params, overwrite: true });
    expect(r.exitCode).toBe(0);
    expect(existsSync(join(s.out, "checkpoint-5"))).toBe(false);
    expect(s.stderr.text()).toContain("overwrite: removed checkpoint-5, resolved_config.json from");

    // --resume keeps what is there (the engine continues from it)
    const s2 = setup("complete");
    mkdirSync(join(s2.out, "checkpoint-5"), { recursive: true });
    writeFileSync(join(s2.out, "checkpoint-5", "training_info.json"), JSON.stringify({ step: 5, config_hash: "hash-other" }));
    const r2 = await runTraining({ ...s2.params, resume: true });
    expect(r2.exitCode).toBe(0);
    expect(existsSync(join(s2.out, "checkpoint-5", "training_info.json"))).toBe(true);

    // checkpoints of this same config: no refusal, a note that this run starts from step 0
    const s3 = setup("complete");
    mkdirSync(join(s3.out, "checkpoint-5"), { recursive: true });
    writeFileSync(join(s3.out, "checkpoint-5", "training_info.json"), JSON.stringify({ step: 5, config_hash: "hash-this" }));
    const r3 = await runTraining(s3.params);
    expect(r3.exitCode).toBe(0);
    expect(s3.stderr.text()).toContain(`note: ${s3.out} already holds 1 checkpoint(s) of this config; this run starts from step 0`);
  });

  test("demo assets run first with the same python and env, from an argument list", async () => {
    const s = setup("complete");
    s.params.config.demo.build_tiny_model = true;
    s.params.config.model.pretrained_name = join(s.out, "..", "tiny-model"); // not built yet
    s.params.launch.python = "/venv/bin/python";
    const calls: { cmd: string; args: string[]; env: Record<string, string | undefined>; detached?: boolean }[] = [];
    const spawn: SpawnFn = (cmd, args, options) => {
      calls.push({ cmd, args, env: options.env as never, detached: options.detached });
      if (cmd === "/venv/bin/python") return nodeSpawn(BUN, ["-e", "console.log('demo assets built')"], options);
      return nodeSpawn(cmd, args, options);
    };
    const r = await runTraining({ ...s.params, spawn });
    expect(r.exitCode).toBe(0);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.args).toEqual(["-m", "qc_engine.demo_assets", "--resolved", join(s.out, "resolved_config.json")]);
    expect(calls[0]!.env.HF_TOKEN).toBe(HF);
    expect(calls[1]!.cmd).toBe(BUN);
    expect(calls.every((c) => c.detached)).toBe(true);
    expect(s.stderr.text()).toContain("demo assets built");

    const failing: SpawnFn = (cmd, args, options) =>
      cmd === "/venv/bin/python" ? nodeSpawn(BUN, ["-e", "process.exit(2)"], options) : nodeSpawn(cmd, args, options);
    const r2 = await runTraining({ ...s.params, spawn: failing });
    expect(r2.exitCode).toBe(2);
    expect(r2.summary.reason).toContain("building the demo assets failed");

    // Both assets already there: no Python start at all, straight to torchrun.
    const built = setup("complete");
    built.params.config.demo = { build_tiny_model: true, build_digits_dataset: true } as never; // both paths exist in setup()
    const calls3: string[] = [];
    const r3 = await runTraining({ ...built.params, spawn: (cmd, args, options) => (calls3.push(cmd), nodeSpawn(cmd, args, options)) });
    expect(r3.exitCode).toBe(0);
    expect(calls3).toEqual([BUN]);
    expect(built.stderr.text()).not.toContain("building demo assets");
  });

  test("live retention through lib/checkpoints/retention.ts; a failing retention never stops training", async () => {
    const s = setup("complete", { env: { FAKE_NO_BEST: "1" }, training: { checkpoint: { retention: "last:1", keep_optimizer_states: 0 } } });
    const r = await runTraining({ ...s.params, retention: undefined }); // the real lib/checkpoints/retention.ts
    expect(r.exitCode).toBe(0);
    expect(existsSync(join(s.out, "checkpoint-2"))).toBe(false);
    expect(existsSync(join(s.out, "checkpoint-4", "training_info.json"))).toBe(true);
    expect(s.stderr.text()).toContain("retention (last:1)");

    const s2 = setup("complete");
    const calls: string[] = [];
    const r2 = await runTraining({
      ...s2.params,
      retention: {
        applyRetention: (p) => {
          calls.push(p.policy);
          throw new Error("disk on fire");
        },
      },
    });
    expect(r2.exitCode).toBe(0);
    expect(calls).toEqual(["best:1+last:2", "best:1+last:2", "best:1+last:2"]); // two checkpoints + the end
    expect(s2.stderr.text()).toContain("retention (best:1+last:2) failed after checkpoint-2, training continues: disk on fire");
  });

  test("Hub pushes: every checkpoint event reaches the pusher, a pending push protects its checkpoint from retention, drain is awaited and reported", async () => {
    const s = setup("complete", { env: { FAKE_NO_BEST: "1" }, training: { checkpoint: { retention: "last:1", keep_optimizer_states: 0 } } });
    const seen: number[] = [];
    const pending: string[] = [];
    let drained = false;
    let existedAtDrain = false;
    const pusher = {
      mode: "every_save" as const,
      onCheckpoint: (c: { step: number; path: string }) => {
        seen.push(c.step);
        if (c.step === 2) pending.push(c.path); // checkpoint-2's push is still running
      },
      pendingPaths: () => (drained ? [] : pending),
      drain: async () => {
        existedAtDrain = existsSync(pending[0]);
        drained = true;
        const target = { checkpoint: "checkpoint-2", checkpointPath: pending[0], step: 2, branch: "checkpoint-2", status: "pushed", filesChanged: ["config.json"], filesUnchanged: 0, filesDeleted: [], lfsBytesSent: 0 };
        return [{ repo: "me/digits", hubUrl: "http://127.0.0.1:1", repoCreated: false, targets: [target], ok: true, retries: 0 }] as never;
      },
    };
    const r = await runTraining({ ...s.params, retention: undefined, pusher });
    expect(r.exitCode).toBe(0);
    expect(seen).toEqual([2, 4]);
    expect(drained).toBe(true);
    expect(s.stderr.text()).toContain("waiting for the Hub pushes to finish");
    expect(s.stderr.text()).toContain("checkpoint-2 -> me/digits@checkpoint-2");
    // kept while its push was pending, pruned (last:1) once the pushes were done
    expect(existedAtDrain).toBe(true);
    expect(existsSync(join(s.out, "checkpoint-2"))).toBe(false);
    expect(existsSync(join(s.out, "checkpoint-4", "training_info.json"))).toBe(true);
  });

  test("hub.push set without a token: refused before launch, nothing started", async () => {
    const s = setup("complete");
    (s.params.config as { hub: object }).hub = { push: "final", repo_id: "me/digits" };
    const home = mkdtempSync(join(tmpdir(), "qc-home-"));
    dirs.push(home);
    const saved = { HF_TOKEN: process.env.HF_TOKEN, HF_HOME: process.env.HF_HOME, HF_TOKEN_PATH: process.env.HF_TOKEN_PATH };
    delete process.env.HF_TOKEN;
    delete process.env.HF_TOKEN_PATH;
    process.env.HF_HOME = home;
    try {
      await expect(runTraining(s.params)).rejects.toThrow(/token/i);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
    expect(existsSync(s.out)).toBe(false);
  });

  test("too little disk for the checkpoints: refused before launch unless allowLowDisk", async () => {
    // lib/preflight's numbers: 2,500 fp32 parameters -> hf_model 10,000 B; deepspeed 10,000 + 12 x 2,500
    // (fp32 master + Adam) + 65,536 fixed = 105,536 B; 115,536 B a checkpoint. 8 steps / save every 2
    // = 4 saves; best:1+last:2 keeps 3, + the one landing = 4 at the peak = 462,144 B (451.3 KiB).
    const s = setup("complete", { training: { max_steps: 8, precision: "fp32" } });
    const model = join(s.root, "model");
    writeSafetensors(join(model, "model.safetensors"), { "model.w": [2500] }, "F32");
    s.params.config.model.pretrained_name = model;
    const spawned: string[] = [];
    const spawn: SpawnFn = (cmd, args, options) => (spawned.push(cmd), nodeSpawn(cmd, args, options));
    let caught: unknown;
    try {
      await runTraining({ ...s.params, spawn, statfs: statfsWith(1000) });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UserError);
    expect((caught as UserError).exitCode).toBe(2);
    expect((caught as UserError).message).toContain("not enough disk space for the checkpoints of this run");
    expect((caught as UserError).message).toContain("2,500 parameters");
    expect((caught as UserError).message).toContain("4 on disk at the peak (4 full)");
    expect((caught as UserError).message).toContain("needs 451.3 KiB; 1000 B free at");
    expect((caught as UserError).hint).toContain("--allow-low-disk");
    // nothing started, nothing written: output_dir was never created
    expect(spawned).toEqual([]);
    expect(existsSync(s.out)).toBe(false);

    const r = await runTraining({ ...s.params, spawn, statfs: statfsWith(1000), allowLowDisk: true });
    expect(r.exitCode).toBe(0);
    expect(spawned).toEqual([BUN]);
    expect(s.stderr.text()).toContain("warning: not enough disk space");
    expect(s.stderr.text()).toContain("DOES NOT FIT (--allow-low-disk: going ahead)");
  });

  test("world size for the disk preflight comes from the launch argv; enough room: it says so and goes on", async () => {
    // max_steps 0: steps from the training set. 64 samples, batch 8, 2 x 2 processes -> 2 steps, 1 save
    // (of 8 with 1 process, which would be 4 saves).
    const s = setup("complete", { training: { max_steps: 0, epochs: 1, per_device_batch_size: 8, gradient_accumulation_steps: 1, precision: "fp32" } });
    const model = join(s.root, "model");
    writeSafetensors(join(model, "model.safetensors"), { "model.w": [2500] }, "F32");
    s.params.config.model.pretrained_name = model;
    const train = join(s.root, "train.jsonl");
    writeFileSync(train, Array.from({ length: 64 }, (_, i) => `{"image":"${i}.png","label":0}`).join("\n") + "\n");
    s.params.config.data.train_jsonl = train;
    // the fake engine ignores torchrun flags; run.ts reads them for the world size
    s.params.launch.argv = [BUN, FAKE, "complete", s.out, "--nproc-per-node", "2", "--nnodes", "2"];
    const r = await runTraining({ ...s.params, statfs: statfsWith(1e9) });
    expect(r.exitCode).toBe(0);
    expect(s.stderr.text()).toContain("schedule: 2 steps (64 samples x 1 epoch(s) / (batch 8 x 4 process(es) x accumulation 1)), save every 2 -> 1 checkpoint(s)");
    expect(s.stderr.text()).toMatch(/needs 112\.8 KiB; 953\.7 MiB free at .* -> fits/);
  });
});

describe("helpers", () => {
  test("torchrunRootExitCode reads the root cause, including signals", () => {
    expect(torchrunRootExitCode("x\nRoot Cause (first observed failure):\n[0]:\n  exitcode  : 2 (pid: 9)\n")).toBe(2);
    expect(torchrunRootExitCode("Root Cause (first observed failure):\n  exitcode  : -9 (pid: 9)")).toBe(-9);
    expect(torchrunRootExitCode("all fine")).toBeNull();
  });
  test("redact", () => {
    expect(redact(`token=${HF} again ${HF}`, [HF])).toBe("token=*** again ***");
  });
});

test("TorchrunReportFilter hides torchrun's failure report, keeps everything else", () => {
  const f = new TorchrunReportFilter();
  const lines = [
    "error: data/train.jsonl:3: malformed JSON",
    "E1129 04:37:50.281000 20143 .venv/lib/python3.11/site-packages/torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: 2) local_rank: 0 (pid: 1) of binary: python",
    "Traceback (most recent call last):",
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
    "============================================================",
    "qc_engine.train FAILED",
    "Root Cause (first observed failure):",
    "  exitcode  : 2 (pid: 1) ",
    "============================================================",
    "after the report",
  ];
  expect(lines.filter((l) => f.keep(l))).toEqual(["error: data/train.jsonl:3: malformed JSON", "after the report"]);
});
