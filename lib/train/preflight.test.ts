import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configForTest } from "../data/fixtures.ts";
import { statfsWith, writeSafetensors } from "../preflight/test_fixtures.ts";
import { UserError } from "../util/errors.ts";
import { runPreflights } from "./preflight.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function setup() {
  const root = mkdtempSync(join(tmpdir(), "qc-preflight-stage-"));
  dirs.push(root);
  mkdirSync(join(root, "model"));
  writeSafetensors(join(root, "model", "model.safetensors"), { "model.w": [2500] }, "F32");
  const config = configForTest({ model: { pretrained_name: join(root, "model") }, training: { output_dir: join(root, "out"), max_steps: 8, save_steps: 2, precision: "fp32" } });
  const chunks: string[] = [];
  return { root, config, out: join(root, "out"), stderr: { write: (s: string) => void chunks.push(s) }, text: () => chunks.join("") };
}

test("disk refusal: a UserError (exit 2) and output_dir never created", async () => {
  const s = setup();
  const run = runPreflights({ config: s.config, outputDir: s.out, argv: ["torchrun", "--nproc-per-node", "1"], env: { DS_ACCELERATOR: "cpu" }, statfs: statfsWith(1000), log: () => {}, stderr: s.stderr });
  await expect(run).rejects.toBeInstanceOf(UserError);
  await expect(run).rejects.toThrow("not enough disk space for the checkpoints of this run");
  expect(existsSync(s.out)).toBe(false);
});

test("enough room: the disk report is printed and a pusher (none) comes back; --allow-low-disk warns", async () => {
  const s = setup();
  const r = await runPreflights({ config: s.config, outputDir: s.out, argv: ["torchrun"], env: { DS_ACCELERATOR: "cpu" }, statfs: statfsWith(1e9), log: () => {}, stderr: s.stderr });
  expect(r.disk!.fits).toBe(true);
  expect(r.pusher.mode).toBe("none");
  expect(s.text()).toContain("-> fits");
  const low = await runPreflights({ config: s.config, outputDir: s.out, argv: ["torchrun"], env: { DS_ACCELERATOR: "cpu" }, statfs: statfsWith(1000), allowLowDisk: true, log: () => {}, stderr: s.stderr });
  expect(low.disk!.overridden).toBe(true);
  expect(s.text()).toContain("warning: not enough disk space for the checkpoints of this run (--allow-low-disk: going ahead)");
  expect(existsSync(s.out)).toBe(false);
});

test("another node than node 0: no disk check (node 0 counts the shared disk once), no Hub pusher even when hub.push is set", async () => {
  const s = setup();
  const config = { ...s.config, hub: { ...s.config.hub, push: "final" as const, repo_id: "" } }; // node 0 would refuse the empty repo
  const r = await runPreflights({ config, outputDir: s.out, argv: ["torchrun", "--nnodes", "2"], env: { DS_ACCELERATOR: "cpu" }, statfs: statfsWith(1000), log: () => {}, stderr: s.stderr, owner: false });
  expect(r.disk).toBeNull();
  expect(r.pusher.mode).toBe("none");
  expect(s.text()).toBe("");
  await expect(runPreflights({ config, outputDir: s.out, argv: ["torchrun"], env: { DS_ACCELERATOR: "cpu" }, statfs: statfsWith(1e9), log: () => {}, stderr: s.stderr })).rejects.toThrow("hub.repo_id is empty");
});
