// tasks/export.ts and tasks/prune.ts end to end on REAL tiny checkpoints: a ZeRO-3 run with deferred
// hf_model/ (torchrun, 2 processes, built by engine/tests/test_export.py --build), then
// export --all, slimming, evaluating and re-exporting a slim checkpoint, the policies on real metrics.
import { beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
const PYTHON = join(ROOT, ".venv", "bin", "python");
const ENV = { ...process.env, NO_COLOR: "1", DS_ACCELERATOR: "cpu", OMP_NUM_THREADS: "1" };

function task(name: string, args: string[]) {
  const r = Bun.spawnSync([BUN, "run", join(ROOT, "tasks", `${name}.ts`), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: ENV });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}
const info = (ckpt: string) => JSON.parse(readFileSync(join(ckpt, "training_info.json"), "utf8"));

let run: string;
let evalData: string;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "qc-cli-export-"));
  const r = Bun.spawnSync([PYTHON, join(ROOT, "engine", "tests", "test_export.py"), "--build", dir, "3", "deferred", "2"], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...ENV, PYTHONPATH: join(ROOT, "engine") },
  });
  if (r.exitCode !== 0) throw new Error(`building the tiny run failed:\n${r.stderr.toString().slice(-3000)}`);
  const built = JSON.parse(r.stdout.toString().trim().split("\n").pop()!);
  run = built.run;
  evalData = built.eval_data;
}, 600_000);

describe("tasks/export.ts", () => {
  test("--help and bad input (exit 2, nothing spawned)", () => {
    const h = task("export", ["--help"]);
    expect(h.code).toBe(0);
    expect(h.out).toContain("--max-shard-size SIZE");
    for (const [args, msg] of [
      [[], "exactly one of --checkpoint C or --all D"],
      [["--checkpoint", join(run, "checkpoint-2"), "--dtype", "int4"], "--dtype must be one of auto, bf16, fp16, fp32, got \"int4\""],
      [["--checkpoint", join(run, "checkpoint-2"), "--max-shard-size", "huge"], "--max-shard-size huge"],
      [["--checkpoint", join(run, "checkpoint-99")], "checkpoint not found"],
      [["--all", run, "--verfy"], "verfy"],
    ] as [string[], string][]) {
      const r = task("export", args);
      expect(r.code).toBe(2);
      expect(r.err).toContain(msg);
    }
    expect(existsSync(join(run, "checkpoint-2", "hf_model"))).toBe(false);
  }, 60_000);

  test("slimming is refused while a deferred checkpoint has no hf_model/", () => {
    const r = task("prune", ["--output-dir", run, "--keep", "all", "--slim", "1", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.out.split("\n").find((l) => l.startsWith("checkpoint-2 "))).toMatch(/keep .*not slimmed: no hf_model\//);
  }, 30_000);

  test("--all exports every deferred checkpoint; then slimming, evaluating and re-exporting a slim one", () => {
    const all = task("export", ["--all", run, "--verify"]);
    expect(all.code).toBe(0);
    expect(all.out).toContain("checkpoint-2: exported from DeepSpeed ZeRO-3");
    expect(all.out).toContain("checkpoint-4: exported from DeepSpeed ZeRO-3");
    expect(all.out).toMatch(/verify: 4 input\(s\) .*argmax agrees on 4\/4/);
    expect(all.out).toContain("exported 2, skipped 0, failed 0");
    expect(all.err).toContain("[export] checkpoint-2: write safetensors"); // plain progress lines (not a TTY)
    for (const c of ["checkpoint-2", "checkpoint-4"]) {
      expect(existsSync(join(run, c, "hf_model", "config.json"))).toBe(true);
      expect(info(join(run, c)).has_hf_model).toBe(true);
    }

    // slim the older one (keep the optimizer state in the newest only)
    const prune = task("prune", ["--output-dir", run, "--keep", "all", "--slim", "1"]);
    expect(prune.code).toBe(0);
    expect(prune.out.split("\n").find((l) => l.startsWith("checkpoint-2 "))).toMatch(/slim\s+\d/);
    const ck2 = join(run, "checkpoint-2");
    expect(existsSync(join(ck2, "deepspeed"))).toBe(false);
    expect(info(ck2)).toMatchObject({ slim: true, has_deepspeed_state: false, has_hf_model: true });
    expect(existsSync(join(run, "checkpoint-4", "deepspeed"))).toBe(true);

    // a slim checkpoint still evaluates ...
    const ev = task("evaluate", ["--checkpoint", ck2, "--eval-data", evalData, "--json"]);
    expect(ev.code).toBe(0);
    expect(readFileSync(join(ck2, "eval_results.json"), "utf8")).toContain('"accuracy"');

    // ... and re-exports from its hf_model/ (new dtype, shards)
    const re = task("export", ["--checkpoint", ck2, "--dtype", "bf16", "--max-shard-size", "300KB", "--verify", "--json"]);
    expect(re.code).toBe(0);
    const outcome = JSON.parse(re.out).outcomes[0];
    expect(outcome.result.source.kind).toBe("hf_model");
    expect(outcome.result.safetensors_dtypes).toEqual(["BF16"]);
    expect(outcome.result.files.length).toBeGreaterThan(1);
    expect(outcome.result.verify.passed).toBe(true);

    // --all now has nothing to do
    const again = task("export", ["--all", run]);
    expect(again.code).toBe(0);
    expect(again.out).toContain("checkpoint-2: skipped (slim");
    expect(again.out).toContain("checkpoint-4: skipped (already has hf_model/");
  }, 600_000);

  test("a missing shard fails with exit 2 and leaves the previous hf_model/ as it was", () => {
    const copy = mkdtempSync(join(tmpdir(), "qc-cli-export-broken-"));
    cpSync(run, copy, { recursive: true });
    const ck = join(copy, "checkpoint-4");
    if (!existsSync(join(ck, "hf_model"))) expect(task("export", ["--checkpoint", ck]).code).toBe(0);
    const before = readFileSync(join(ck, "hf_model", "config.json"), "utf8");
    const files = readdirSync(join(ck, "hf_model")).sort();
    rmSync(join(ck, "deepspeed", "global_step4", "zero_pp_rank_0_mp_rank_00_model_states.pt"));
    const r = task("export", ["--checkpoint", ck]);
    expect(r.code).toBe(2);
    expect(r.out).toContain("checkpoint-4: FAILED (exit 2)");
    // the checksum manifest names the missing file before DeepSpeed is asked to load anything
    expect(r.out).toContain("zero_pp_rank_0_mp_rank_00_model_states.pt: missing from the checkpoint (listed in training_info.json)");
    expect(readFileSync(join(ck, "hf_model", "config.json"), "utf8")).toBe(before);
    expect(readdirSync(join(ck, "hf_model")).sort()).toEqual(files);
  }, 300_000);
});

describe("tasks/prune.ts on real checkpoints with real evaluations", () => {
  test("best / top / last follow the full-evaluation metrics in eval_results.json", () => {
    const copy = mkdtempSync(join(tmpdir(), "qc-cli-prune-real-"));
    cpSync(run, copy, { recursive: true });
    const sweep = task("evaluate", ["--all", copy, "--eval-data", evalData, "--force", "--json"]);
    expect(sweep.code).toBe(0);
    const metric = (c: string, m: string) => {
      const entries = Object.values(JSON.parse(readFileSync(join(copy, c, "eval_results.json"), "utf8"))) as any[];
      const full = entries.filter((e) => e.split === "full").sort((a, b) => Date.parse(b.evaluated_at) - Date.parse(a.evaluated_at));
      return full[0].metrics[m] as number;
    };
    const loss2 = metric("checkpoint-2", "loss");
    const loss4 = metric("checkpoint-4", "loss");
    const rowOf = (out: string, c: string) => out.split("\n").find((l) => l.startsWith(`${c} `)) ?? "";

    // top:1:loss keeps the lower loss; the newest is protected whatever it scores
    const top = task("prune", ["--output-dir", copy, "--keep", "top:1:loss", "--dry-run"]);
    expect(top.code).toBe(0);
    expect(rowOf(top.out, "checkpoint-2")).toMatch(loss2 <= loss4 ? /keep .*#1 by loss/ : /delete/);
    expect(rowOf(top.out, "checkpoint-4")).toMatch(/keep/);
    expect(rowOf(top.out, "checkpoint-2")).toContain(`loss=${Number(loss2.toPrecision(4))}`);

    // last:1 for real: checkpoint-2 goes, checkpoint-4 (newest) stays
    const last = task("prune", ["--output-dir", copy, "--keep", "last:1"]);
    expect(last.code).toBe(0);
    expect(rowOf(last.out, "checkpoint-2")).toMatch(/delete\s+\d/);
    expect(existsSync(join(copy, "checkpoint-2"))).toBe(false);
    expect(existsSync(join(copy, "checkpoint-4", "hf_model", "config.json"))).toBe(true);
    expect(last.out).toMatch(/total freed: \d+(\.\d)? (KiB|MiB)/);
  }, 600_000);
});

describe("tasks/prune.ts: each policy and safety rule on a real ZeRO-2 run in standard mode", () => {
  // 6 steps, saves at 2/4/6, partial evaluation at each save, best checkpoint by the lowest loss
  // (is_best in training_info.json, OUT/best_checkpoint.json written by the engine).
  let std: string;
  let outside: string;
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), "qc-cli-prune-z2-"));
    const r = Bun.spawnSync([PYTHON, join(ROOT, "engine", "tests", "test_export.py"), "--build", dir, "2", "every_save", "2", "eval"], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
      env: { ...ENV, PYTHONPATH: join(ROOT, "engine") },
    });
    if (r.exitCode !== 0) throw new Error(`building the ZeRO-2 run failed:\n${r.stderr.toString().slice(-3000)}`);
    std = JSON.parse(r.stdout.toString().trim().split("\n").pop()!).run;
    // safety fixtures: an incomplete newer folder, and a checkpoint-N symlink leaving output_dir
    cpSync(join(std, "checkpoint-6"), join(std, "checkpoint-8"), { recursive: true });
    rmSync(join(std, "checkpoint-8", "training_info.json"));
    outside = mkdtempSync(join(tmpdir(), "qc-outside-real-"));
    cpSync(join(std, "checkpoint-2"), join(outside, "checkpoint-2"), { recursive: true });
    symlinkSync(join(outside, "checkpoint-2"), join(std, "checkpoint-1"));
  }, 600_000);

  const losses = () =>
    Object.fromEntries([2, 4, 6].map((s) => [s, info(join(std, `checkpoint-${s}`)).eval_metrics.loss as number]));
  const rows = (out: string) =>
    Object.fromEntries(
      out
        .split("\n")
        .filter((l) => /^checkpoint-\d+ /.test(l))
        .map((l) => [Number(l.split(/\s+/)[1]), l.split(/\s+/)[3]]),
    );

  test("the run recorded what the rules rely on", () => {
    const best = JSON.parse(readFileSync(join(std, "best_checkpoint.json"), "utf8"));
    const l = losses();
    const lowest = Number(Object.entries(l).sort((a, b) => a[1] - b[1] || Number(a[0]) - Number(b[0]))[0][0]);
    expect(best.step).toBe(lowest);
    expect(info(join(std, `checkpoint-${lowest}`)).is_best).toBe(true);
  });

  test.each(["all", "last:1", "best:1", "best:2", "top:1:loss", "top:1:accuracy", "top:1:train_loss"])("policy %s (dry run)", (policy) => {
    const r = task("prune", ["--output-dir", std, "--keep", policy, "--dry-run"]);
    expect(r.code).toBe(0);
    const got = rows(r.out);
    const tracked = JSON.parse(readFileSync(join(std, "best_checkpoint.json"), "utf8")).step as number;
    const metric = (s: number, m: string) => (m === "train_loss" ? info(join(std, `checkpoint-${s}`)).train_loss : info(join(std, `checkpoint-${s}`)).eval_metrics[m]);
    const rank = (m: string, greater: boolean) =>
      [2, 4, 6].sort((a, b) => (greater ? metric(b, m) - metric(a, m) : metric(a, m) - metric(b, m)) || a - b);
    const kept = new Set<number>([6, tracked]); // newest complete + tracked best: always
    const [kind, n, m] = policy.split(":");
    if (kind === "all") [2, 4, 6].forEach((s) => kept.add(s));
    if (kind === "last") [2, 4, 6].slice(-Number(n)).forEach((s) => kept.add(s));
    if (kind === "best") rank("loss", false).slice(0, Number(n)).forEach((s) => kept.add(s)); // greater_is_better false
    if (kind === "top") rank(m, m === "accuracy").slice(0, Number(n)).forEach((s) => kept.add(s));
    for (const s of [2, 4, 6]) expect([s, got[s]]).toEqual([s, kept.has(s) ? "keep" : "delete"]);
    expect(got[8]).toBe("skip"); // incomplete
    expect(got[1]).toBe("skip"); // symlink leaving output_dir
  });

  test("real run: last:1 --slim 1 deletes, slims the tracked best, never touches the incomplete folder or the symlink target", () => {
    const tracked = JSON.parse(readFileSync(join(std, "best_checkpoint.json"), "utf8")).step as number;
    const r = task("prune", ["--output-dir", std, "--keep", "last:1", "--slim", "1"]);
    expect(r.code).toBe(0);
    const got = rows(r.out);
    expect(got[6]).toBe("keep");
    if (tracked !== 6) {
      expect(got[tracked]).toBe("slim");
      const t = join(std, `checkpoint-${tracked}`);
      expect(existsSync(join(t, "deepspeed"))).toBe(false);
      expect(info(t)).toMatchObject({ slim: true, has_deepspeed_state: false });
    }
    for (const s of [2, 4].filter((s) => s !== tracked)) expect(existsSync(join(std, `checkpoint-${s}`))).toBe(false);
    expect(existsSync(join(std, "checkpoint-6", "deepspeed", "latest"))).toBe(true);
    expect(existsSync(join(std, "checkpoint-8", "deepspeed", "latest"))).toBe(true);
    expect(existsSync(join(outside, "checkpoint-2", "deepspeed", "latest"))).toBe(true);
    expect(existsSync(join(outside, "checkpoint-2", "training_info.json"))).toBe(true);
  }, 60_000);
});
