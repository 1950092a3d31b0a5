import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { planPush } from "./plan.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const LORA = { r: 8, alpha: 16, dropout: 0, target_modules: ["q_proj"], vision_tower: "frozen", adapter_dir: "adapter", hf_model: "absent", base_model: "Qwen/Qwen2.5-VL-7B-Instruct", base_revision: "c0ffee" };

/** OUT/checkpoint-4 with training_info.json (LoRA or not) and adapter/ files; no hf_model/ (hf_format: adapter). */
function checkpoint(lora: boolean): string {
  const out = mkdtempSync(join(tmpdir(), "qc-push-lora-"));
  dirs.push(out);
  const c = join(out, "checkpoint-4");
  mkdirSync(join(c, "adapter"), { recursive: true });
  const info = { step: 4, epoch: 1, is_final: true, is_best: false, num_labels: 2, id2label: { "0": "a", "1": "b" }, has_hf_model: false, has_deepspeed_state: true, slim: false, ...(lora ? { lora: LORA } : {}) };
  writeFileSync(join(c, "training_info.json"), JSON.stringify(info));
  writeFileSync(join(c, "adapter", "adapter_config.json"), "{}");
  writeFileSync(join(c, "adapter", "adapter_model.safetensors"), "x".repeat(100));
  writeFileSync(join(c, "adapter", "README.md"), "peft's own card");
  return c;
}

test("push --adapter-only sends adapter/ at the repo root with a card that says how to load it", () => {
  const c = checkpoint(true);
  const plan = planPush({ mode: "checkpoint", path: c, repo: "me/digits-lora", adapterOnly: true });
  const files = plan.targets[0]!.files;
  expect(files.map((f) => f.pathInRepo).sort()).toEqual(["README.md", "adapter_config.json", "adapter_model.safetensors", "training_info.json"]);
  const readme = files.find((f) => f.pathInRepo === "README.md")!.content as { kind: "bytes"; data: Uint8Array };
  const card = new TextDecoder().decode(readme.data);
  expect(card).toContain("This is a **LoRA fine-tune**");
  expect(card).toContain("at revision `c0ffee`");
  expect(card).toContain("This revision holds the adapter alone");
  // --best finds it too (no hf_model/ needed with --adapter-only)
  expect(planPush({ mode: "best", path: join(c, ".."), repo: "me/digits-lora", adapterOnly: true }).targets[0]!.checkpointName).toBe("checkpoint-4");
});

test("--adapter-only on a full fine-tune is refused; without it, an adapter-only checkpoint needs export --merge", () => {
  expect(() => planPush({ mode: "checkpoint", path: checkpoint(false), repo: "me/x", adapterOnly: true })).toThrow(
    /--adapter-only needs a LoRA checkpoint with adapter\/adapter_config.json/,
  );
  let caught: unknown;
  try {
    planPush({ mode: "checkpoint", path: checkpoint(true), repo: "me/x" });
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(UserError);
  expect((caught as UserError).message).toContain("no hf_model/");
  expect((caught as UserError).hint).toContain("bun run tasks/export.ts --checkpoint");
});
