// tasks/predict.ts end to end: the real CLI on a tiny checkpoint (built without training by
// engine/tests/test_predict.py --build); the accuracy equals what tasks/evaluate.ts reports.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
const PYTHON = join(ROOT, ".venv", "bin", "python");
const ENV = { ...process.env, NO_COLOR: "1", DS_ACCELERATOR: "cpu", OMP_NUM_THREADS: "1" };

function task(name: string, args: string[]) {
  const r = Bun.spawnSync([BUN, "run", join(ROOT, "tasks", `${name}.ts`), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: ENV });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

let built: { run: string; checkpoint: string; val_data: string; images: string };
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "qc-cli-predict-"));
  const r = Bun.spawnSync([PYTHON, join(ROOT, "engine", "tests", "test_predict.py"), "--build", work], {
    cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...ENV, PYTHONPATH: join(ROOT, "engine") },
  });
  if (r.exitCode !== 0) throw new Error(`building the tiny checkpoint failed:\n${r.stderr.toString().slice(-3000)}`);
  built = JSON.parse(r.stdout.toString().trim().split("\n").pop()!);
}, 300_000);

describe("tasks/predict.ts", () => {
  test("--help lists every option", () => {
    const r = task("predict", ["--help"]);
    expect(r.code).toBe(0);
    for (const f of ["--checkpoint", "--revision", "--images", "--out", "--top-k", "--batch-size", "--nproc-per-node", "--on-bad-image", "--json"]) expect(r.stdout).toContain(f);
  });

  test("JSONL with labels: the accuracy tasks/evaluate.ts reports; 2 processes give the same file", () => {
    const out = join(work, "preds.jsonl");
    const r = task("predict", ["--checkpoint", built.checkpoint, "--images", built.val_data, "--out", out, "--json", "--batch-size", "4"]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.num_images).toBe(30);
    expect(r.stderr).toContain("[predict] 30 image(s), 30 labeled");
    const ev = task("evaluate", ["--checkpoint", built.checkpoint, "--eval-data", built.val_data, "--json", "--force"]);
    expect(ev.code).toBe(0);
    expect(summary.accuracy).toBeCloseTo(JSON.parse(ev.stdout).metrics.accuracy, 12);
    const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.correct).length / lines.length).toBeCloseTo(summary.accuracy, 12);

    const out2 = join(work, "preds2.jsonl");
    const two = task("predict", ["--checkpoint", built.checkpoint, "--images", built.val_data, "--out", out2, "--nproc-per-node", "2", "--batch-size", "4"]);
    expect(two.code).toBe(0);
    expect(two.stdout).toContain("2 process(es)");
    const lines2 = readFileSync(out2, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines2.map((l) => [l.image, l.prediction])).toEqual(lines.map((l) => [l.image, l.prediction]));
  }, 300_000);

  test("image files as arguments to CSV; a missing one stops the run (exit 2, nothing written) unless skipped", () => {
    const imgs = readdirSync(built.images).filter((n) => n.endsWith(".png")).sort().slice(0, 3).map((n) => join(built.images, n));
    const out = join(work, "p.csv");
    const missing = join(work, "nope.png");
    let r = task("predict", ["--checkpoint", built.checkpoint, "--images", ...imgs, missing, "--out", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${missing}: image ${missing} does not exist`);
    expect(existsSync(out)).toBe(false);
    r = task("predict", ["--checkpoint", built.checkpoint, "--images", ...imgs, missing, "--out", out, "--on-bad-image", "skip", "--top-k", "2"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`skipped 1 bad image(s): ${missing}`);
    const rows = readFileSync(out, "utf8").trim().split("\n");
    expect(rows[0]).toBe("image,prediction,probability,top_k");
    expect(rows.slice(1).map((l) => l.split(",")[0])).toEqual(imgs);
  }, 300_000);
});
