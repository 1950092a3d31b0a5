// Every task: --help prints its usage (exit 0); an unknown flag is a clear message (exit 2), no stack trace.
import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const TASKS = ["prepare", "train", "prune", "export", "evaluate", "push", "predict"];
/** A misspelt flag of each task and the flag it should suggest. */
const TYPOS: Record<string, [string, string]> = {
  prepare: ["--dep", "--deep"],
  train: ["--dry-rn", "--dry-run"],
  prune: ["--kep", "--keep"],
  export: ["--dtpye", "--dtype"],
  evaluate: ["--checkpiont", "--checkpoint"],
  push: ["--repp", "--repo"],
  predict: ["--imges", "--images"],
};

function run(args: string[]) {
  const p = Bun.spawnSync([process.execPath, "run", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe.each(TASKS)("tasks/%s.ts", (name) => {
  test("--help: usage, options, exit 0", () => {
    const r = run([`tasks/${name}.ts`, "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`bun run tasks/${name}.ts`);
    expect(r.out).toContain("--help");
  });
  test("an unknown flag: exit 2, the flag named, a hint, no stack trace", () => {
    const r = run([`tasks/${name}.ts`, "--no-such-flag"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("error: Unknown option '--no-such-flag'");
    expect(r.err).toContain(`bun run tasks/${name}.ts --help`);
    expect(r.err).not.toMatch(/^\s+at /m);
  });
  test("a misspelt flag: exit 2 and the closest real flag", () => {
    const [typo, meant] = TYPOS[name]!;
    const r = run([`tasks/${name}.ts`, typo]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: Unknown option '${typo}' — did you mean ${meant}?`);
  });
});
