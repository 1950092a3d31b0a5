// tasks/prepare.ts --from-hf end to end on a local data set in the ethz/food101 layout (parquet,
// image struct + ClassLabel), built by engine/tests/test_from_hf.py --build: files, data check, errors.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");
const ENV = { ...process.env, NO_COLOR: "1", HF_HUB_OFFLINE: "1", PYTHONPATH: join(ROOT, "engine") };
let work: string;

function build(dir: string, bad = false) {
  const r = Bun.spawnSync([PYTHON, join(ROOT, "engine", "tests", "test_from_hf.py"), "--build", dir, ...(bad ? ["--bad"] : [])], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: ENV });
  if (r.exitCode !== 0) throw new Error(r.stderr.toString().slice(-3000));
}

function prepare(args: string[], cwd: string) {
  const r = Bun.spawnSync([process.execPath, "run", join(ROOT, "tasks", "prepare.ts"), ...args], { cwd, stdout: "pipe", stderr: "pipe", env: ENV });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "qc-from-hf-"));
  build(join(work, "food101"));
  build(join(work, "broken"), true);
}, 300_000);

describe("tasks/prepare.ts --from-hf", () => {
  test("no other flag: data/<name>/ with images, train.jsonl, test.jsonl, labels.json; the data check passes", () => {
    const r = prepare(["--from-hf", join(work, "food101")], work);
    expect(r.code).toBe(0);
    const out = join(work, "data", "food101");
    expect(readdirSync(out).sort()).toEqual(["images", "labels.json", "test.jsonl", "train.jsonl"]);
    expect(readFileSync(join(out, "train.jsonl"), "utf8").trim().split("\n").length).toBe(24);
    expect(readFileSync(join(out, "test.jsonl"), "utf8").trim().split("\n").length).toBe(9);
    expect(r.stdout).toContain("data check of the converted files:");
    expect(r.stdout).toContain("data check: OK");
    expect(r.stdout).toContain(`train_jsonl: ${join(out, "train.jsonl")}`);
    expect(r.stdout).toMatch(/converted 33 images in [\d.]+ s/);
  }, 300_000);

  test("an undecodable image: exit 2, split and row named, nothing written; flags of other modes refused", () => {
    const out = join(work, "bad-out");
    const r = prepare(["--from-hf", join(work, "broken"), "--out", out], work);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: split 'validation' row 2: the image cannot be decoded");
    expect(existsSync(join(out, "train.jsonl"))).toBe(false);
    const mixed = prepare(["--from-hf", join(work, "broken"), "--seed", "3"], work);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain("do not go together");
    const stray = prepare(["--from-folder", work, "--out", out, "--split", "train"], work);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain("--split only goes with --from-hf");
  }, 300_000);
});
