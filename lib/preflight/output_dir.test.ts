import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { checkOutputDir } from "./output_dir.ts";

function run(hash: string | null, checkpoints: { step: number; hash?: string }[]) {
  const dir = mkdtempSync(join(tmpdir(), "qc-out-"));
  if (hash) writeFileSync(join(dir, "resolved_config.json"), JSON.stringify({ config_hash: hash }));
  for (const c of checkpoints) {
    mkdirSync(join(dir, `checkpoint-${c.step}`));
    if (c.hash) writeFileSync(join(dir, `checkpoint-${c.step}`, "training_info.json"), JSON.stringify({ step: c.step, config_hash: c.hash }));
  }
  return dir;
}

test("new, empty and same-config output dirs pass", () => {
  expect(checkOutputDir({ outputDir: join(tmpdir(), "qc-does-not-exist-xyz"), configHash: "h1" }).state).toBe("new");
  expect(checkOutputDir({ outputDir: run("h0", []), configHash: "h1" }).state).toBe("new");
  expect(checkOutputDir({ outputDir: run("h1", [{ step: 10, hash: "h1" }]), configHash: "h1" })).toMatchObject({ state: "same", checkpoints: ["checkpoint-10"] });
});

test("checkpoints of another config are refused unless resuming or overwriting", () => {
  const dir = run("h1", [{ step: 10, hash: "h1" }, { step: 20, hash: "h0" }]);
  let err: unknown;
  try {
    checkOutputDir({ outputDir: dir, configHash: "h1" });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserError);
  expect((err as UserError).message).toContain("holds checkpoints of a different config");
  expect((err as UserError).message).toContain("checkpoint-10, checkpoint-20");
  expect((err as UserError).message).toContain("(config_hash h0…, this run h1…)");
  expect((err as UserError).exitCode).toBe(2);
  expect((err as UserError).hint).toContain("--resume to continue from them with this config");
  expect((err as UserError).hint).toContain("--overwrite to delete them");
  expect(checkOutputDir({ outputDir: dir, configHash: "h1", resume: true }).state).toBe("different");
  expect(checkOutputDir({ outputDir: dir, configHash: "h1", overwrite: true }).state).toBe("different");
  // an incomplete checkpoint counts; resolved_config.json's hash decides
  expect(() => checkOutputDir({ outputDir: run("h0", [{ step: 5 }]), configHash: "h1" })).toThrow("different config");
});
