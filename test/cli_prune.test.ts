import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, mkdtempSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { makeRun, writeCheckpoint } from "../lib/checkpoints/test_fixtures.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;

function prune(args: string[]) {
  const p = Bun.spawnSync([BUN, "run", join(ROOT, "tasks/prune.ts"), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

const run = () =>
  makeRun(
    [
      { step: 100, metrics: { accuracy: 0.5 } },
      { step: 200, metrics: { accuracy: 0.9 } },
      { step: 300, metrics: { accuracy: 0.7 } },
      { step: 400, metrics: { accuracy: 0.6 } },
      { step: 500, complete: false },
    ],
    { training: { save_total_limit: 1, best_model_tracking: { metric: "accuracy", greater_is_better: true } } },
  );

describe("tasks/prune.ts", () => {
  test("--help prints usage and exits 0", () => {
    const r = prune(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("--keep POLICY");
    expect(r.out).toContain("--dry-run");
  });

  test("--dry-run prints the table and total, changes nothing", () => {
    const out = run();
    const before = readdirSync(out, { recursive: true }).sort();
    const r = prune(["--output-dir", out, "--keep", "best:1", "--slim", "1", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(readdirSync(out, { recursive: true }).sort()).toEqual(before);
    const lines = r.out.split("\n");
    expect(lines.find((l) => l.startsWith("checkpoint "))).toMatch(/checkpoint\s+step\s+metric\s+action\s+bytes\s+reason/);
    expect(lines.find((l) => l.startsWith("checkpoint-100"))).toMatch(/accuracy=0\.5\s+delete \(dry-run\)\s+4\.5 KiB/);
    expect(lines.find((l) => l.startsWith("checkpoint-200"))).toMatch(/slim \(dry-run\)/);
    expect(lines.find((l) => l.startsWith("checkpoint-300"))).toMatch(/delete \(dry-run\)/);
    expect(lines.find((l) => l.startsWith("checkpoint-400"))).toMatch(/keep .*newest complete/);
    expect(lines.find((l) => l.startsWith("checkpoint-500"))).toMatch(/skip .*never touched/);
    expect(r.out).toMatch(/kept 1, slimmed 1, deleted 2, skipped 1; total would free: \d/);
  });

  test("the real run does it and prints the same decisions", () => {
    const out = run();
    const dry = prune(["--output-dir", out, "--keep", "best:1", "--slim", "1", "--dry-run", "--json"]);
    const real = prune(["--output-dir", out, "--keep", "best:1", "--slim", "1", "--json"]);
    expect(real.code).toBe(0);
    const d = JSON.parse(dry.out), r = JSON.parse(real.out);
    expect(r.rows.map((x: any) => x.action)).toEqual(d.rows.map((x: any) => x.action));
    expect(r.freedBytes).toBe(d.freedBytes);
    expect(r.rows.map((x: any) => x.done)).toEqual([true, true, true, true, true]);
    expect(readdirSync(out).filter((n) => n.startsWith("checkpoint-")).sort()).toEqual(["checkpoint-200", "checkpoint-400", "checkpoint-500"]);
    expect(existsSync(join(out, "checkpoint-200", "deepspeed"))).toBe(false);
    expect(JSON.parse(readFileSync(join(out, "checkpoint-200", "training_info.json"), "utf8")).slim).toBe(true);
    expect(existsSync(join(out, "checkpoint-400", "deepspeed", "latest"))).toBe(true);
  });

  test("without --keep it applies the run's own policy (best:1+last:save_total_limit)", () => {
    const out = run();
    const r = prune(["--output-dir", out, "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("policy: best:1+last:1");
  });

  test("a metric policy on a run without evaluations deletes nothing and warns", () => {
    const out = makeRun([{ step: 1, metricName: null }, { step: 2, metricName: null }]);
    const r = prune(["--output-dir", out, "--keep", "top:1:macro_f1"]);
    expect(r.code).toBe(0);
    expect(r.err).toContain("no checkpoint has 'macro_f1'");
    expect(existsSync(join(out, "checkpoint-1"))).toBe(true);
  });

  test("a symlinked checkpoint leaving output_dir is skipped and survives", () => {
    const outside = mkdtempSync(join(tmpdir(), "qc-outside-"));
    const target = writeCheckpoint(outside, { step: 50 });
    const out = run();
    symlinkSync(target, join(out, "checkpoint-50"));
    const r = prune(["--output-dir", out, "--keep", "last:1"]);
    expect(r.code).toBe(0);
    expect(r.out.split("\n").find((l) => l.startsWith("checkpoint-50 "))).toMatch(/skip .*symlink/);
    expect(existsSync(join(target, "deepspeed", "latest"))).toBe(true);
  });

  test("a checkpoint an export/push holds (checkpoint-N/.in-use.<purpose>.<pid>) is not deleted; a dead holder's lock is cleared", () => {
    const out = run();
    const holder = Bun.spawn(["sleep", "60"]); // a live process on this host holds checkpoint-100
    try {
      const lock = (pid: number, purpose: string) => JSON.stringify({ pid, host: hostname(), purpose, started_at: "2026-12-02T10:00:00.000Z", command: ["bun", `tasks/${purpose}.ts`] });
      writeFileSync(join(out, "checkpoint-100", `.in-use.push.${holder.pid}`), lock(holder.pid, "push"));
      const dead = Bun.spawnSync(["sh", "-c", "echo $$"]).stdout.toString().trim();
      writeFileSync(join(out, "checkpoint-300", `.in-use.export.${dead}`), lock(Number(dead), "export"));
      const r = prune(["--output-dir", out, "--keep", "last:1"]);
      expect(r.code).toBe(0);
      expect(r.out.split("\n").find((l) => l.startsWith("checkpoint-100 "))).toMatch(new RegExp(`keep .*in use by push \\(pid ${holder.pid} on `));
      expect(existsSync(join(out, "checkpoint-100", "deepspeed", "latest"))).toBe(true);
      expect(existsSync(join(out, "checkpoint-300"))).toBe(false);
      expect(r.err + r.out).not.toContain("FAILED");
    } finally {
      holder.kill();
    }
  });

  test.each([
    [["--keep", "last:2"], "--output-dir is required"],
    [["--output-dir", "/nonexistent/qc-run", "--keep", "last:2"], "output directory not found"],
    [["--output-dir", "OUT", "--keep", "newest:2"], "--keep: 'newest:2' is not a retention policy"],
    [["--output-dir", "OUT", "--keep", "last:2", "--slim", "0"], "--slim must be an integer >= 1, got \"0\""],
    [["--output-dir", "OUT", "--kep", "last:2"], "kep"],
  ])("bad input %j exits 2 naming the culprit", (args, message) => {
    const out = run();
    const r = prune(args.map((a) => (a === "OUT" ? out : a)));
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(readdirSync(out).filter((n) => n.startsWith("checkpoint-")).length).toBe(5);
  });

  test("no --keep and no resolved_config.json: a clear error", () => {
    const out = makeRun([{ step: 1 }]);
    mkdirSync(join(out, "logs"));
    const r = prune(["--output-dir", out]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("resolved_config.json does not exist");
  });
});
