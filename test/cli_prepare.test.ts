// tasks/prepare.ts end to end: the real CLI, its exit codes, messages and files.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { makePng } from "../lib/data/fixtures.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;

function prepare(args: string[], cwd = ROOT) {
  const r = Bun.spawnSync([BUN, "run", join(ROOT, "tasks", "prepare.ts"), ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** A safetensors file whose header claims `shape` (the data is not there: only headers are read). */
function fakeWeights(dir: string, shape: number[]) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 10 }));
  const json = Buffer.from(JSON.stringify({ "model.layers.0.w": { dtype: "BF16", shape, data_offsets: [0, 0] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(join(dir, "model.safetensors"), Buffer.concat([len, json]));
}

let seed = 5000;
/** A data set (3 classes) + model + config in a fresh folder. */
function project(opts: { extraTrain?: string[]; params?: number[] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "qc-cli-prep-"));
  mkdirSync(join(dir, "data", "img"), { recursive: true });
  const line = (i: number, label: number) => JSON.stringify({ image: `img/${i}.png`, label });
  const train: string[] = [];
  const val: string[] = [];
  for (let i = 0; i < 30; i++) {
    writeFileSync(join(dir, "data", "img", `${i}.png`), makePng({ seed: seed++ }));
    (i < 24 ? train : val).push(line(i, i % 3));
  }
  writeFileSync(join(dir, "data", "train.jsonl"), [...train, ...(opts.extraTrain ?? [])].join("\n") + "\n");
  writeFileSync(join(dir, "data", "val.jsonl"), val.join("\n") + "\n");
  fakeWeights(join(dir, "model"), opts.params ?? [1000, 100]);
  writeFileSync(
    join(dir, "config.yaml"),
    [
      "model:",
      "  pretrained_name: ./model",
      "  num_labels: 3",
      "datasets:",
      "  dataset_configs:",
      "    toy:",
      "      num_classes: 3",
      "      class_names: [red, green, blue]",
      "data:",
      "  train_jsonl: data/train.jsonl",
      "  val_jsonl: data/val.jsonl",
      "training:",
      "  output_dir: out/run",
      "  precision: fp32",
      "  max_steps: 100",
      "  save_steps: 10",
      "",
    ].join("\n"),
  );
  return dir;
}

describe("tasks/prepare.ts check + preflight", () => {
  test("a clean set: exit 0, report, plot, preflight numbers", () => {
    const dir = project();
    const r = prepare(["--config", "config.yaml"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("data check: OK");
    expect(r.stdout).toContain("classes: 3 (names from datasets.dataset_configs.toy.class_names, data set toy)");
    expect(r.stdout).toMatch(/train: .*train\.jsonl: 24 lines, 24 valid samples/);
    expect(r.stdout).toContain("leakage: none");
    // 100,000 weights + head (8 x 3 + 3) in fp32: 4 + 4 + 12 bytes each; 10 saves, best:1+last:2 -> 3 kept, 4 at the peak
    expect(r.stdout).toContain("100,027 parameters");
    expect(r.stdout).toContain("best:1+last:2 keeps at most 3; 4 on disk at the peak");
    expect(r.stdout).toContain("prepare: OK");
    expect(readFileSync(join(dir, "data", "data_report.png")).subarray(1, 4).toString()).toBe("PNG");
  });

  test("bad lines and images: exit 2 with file:line", () => {
    const dir = project({ extraTrain: ["{broken", JSON.stringify({ image: "img/none.png", label: 1 }), JSON.stringify({ image: "img/0.png", label: "purple" }), JSON.stringify({ image: "img/25.png", label: 1 })] });
    const r = prepare(["--config", "config.yaml"], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("train.jsonl:25: not valid JSON");
    expect(r.stdout).toMatch(/train\.jsonl:26: "img\/none\.png": image file not found/);
    expect(r.stdout).toContain('train.jsonl:27: unknown class name "purple"');
    expect(r.stdout).toMatch(/val\.jsonl:2: "img\/25\.png" is also in training \(train\.jsonl:28/);
    expect(r.stdout).toContain("prepare: FAILED (data problems)");
  });

  test("--deep: an image whose header is fine but whose pixels are damaged fails the decode", () => {
    const dir = project();
    const png = makePng({ width: 64, height: 64, seed: 77 });
    for (let i = 45; i < 75; i++) png[i] ^= 0x5a; // inside IDAT; IEND still there
    writeFileSync(join(dir, "data", "img", "3.png"), png);
    const shallow = prepare(["--config", "config.yaml"], dir);
    expect(shallow.code).toBe(0); // the header check alone cannot see it
    const deep = prepare(["--config", "config.yaml", "--deep"], dir);
    expect(deep.code).toBe(2);
    expect(deep.stdout).toMatch(/\[image_decode_failed\] 1\n +train\.jsonl:4: "img\/3\.png": Pillow cannot decode it/);
  });

  test("--json: one JSON document on stdout, data_report.json beside the data", () => {
    const dir = project({ extraTrain: [JSON.stringify({ image: "img/1.png", label: 7 })] });
    const r = prepare(["--config", "config.yaml", "--json"], dir);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.data.problems.counts).toEqual({ label_out_of_range: 1 });
    expect(doc.data.histogram).toHaveLength(3);
    expect(doc.preflight.plan.saves).toBe(10);
    expect(JSON.parse(readFileSync(join(dir, "data", "data_report.json"), "utf8")).data.problems.counts).toEqual({ label_out_of_range: 1 });
  });

  test("--set reaches the check (labels beyond a smaller num_labels)", () => {
    const dir = project();
    const r = prepare(["--config", "config.yaml", "--set", "model.num_labels=2", "--set", "datasets.dataset_configs.toy.num_classes=2", "--set", 'datasets.dataset_configs.toy.class_names=["red","green"]'], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("label 2 is outside [0, 2)");
  });

  test("not enough disk: exit 2 with the numbers and what would fit; --allow-low-disk passes", () => {
    const dir = project({ params: [1_000_000_000, 1_000_000] }); // 1e15 parameters: no disk holds that
    const r = prepare(["--config", "config.yaml"], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("error: not enough disk space for the checkpoints of this run");
    expect(r.stdout).toContain("DOES NOT FIT");
    expect(r.stdout).toContain("--set training.checkpoint.keep_optimizer_states=1");
    expect(r.stdout).toContain("prepare: FAILED (not enough disk)");
    const ok = prepare(["--config", "config.yaml", "--allow-low-disk"], dir);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("DOES NOT FIT (--allow-low-disk: going ahead)");
  });

  test("a config error is reported by the config loader, exit 2", () => {
    const dir = project();
    const r = prepare(["--config", "config.yaml", "--set", "training.save_stepz=3"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("save_stepz");
  });
});

describe("tasks/prepare.ts converters", () => {
  test("--from-folder writes JSONL + labels.json and prints the config lines; a config made of them checks OK", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-cli-conv-"));
    for (const cls of ["chat noir", "chien", "oiseau 🐦"]) {
      mkdirSync(join(dir, "tree", cls), { recursive: true });
      for (let i = 0; i < 8; i++) writeFileSync(join(dir, "tree", cls, `photo ${i}.png`), makePng({ seed: seed++ }));
    }
    const r = prepare(["--from-folder", "tree", "--out", "jsonl out", "--val-ratio", "0.25", "--seed", "3"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("(18 lines)");
    expect(r.stdout).toContain("(6 lines)");
    expect(r.stdout).toContain("num_labels: 3");
    expect(existsSync(join(dir, "jsonl out", "labels.json"))).toBe(true);
    // paste the printed lines into a config and check it
    const snippet = r.stdout.split("paste into your config:\n")[1].split("\nthen check it")[0];
    writeFileSync(join(dir, "c.yaml"), snippet.replace(/^  /gm, "") + "training:\n  output_dir: out\n");
    const check = prepare(["--config", "c.yaml"], dir);
    expect(check.stdout).toContain("data check: OK");
    expect(check.stdout).toContain('oiseau 🐦');
    expect(check.code).toBe(0);
  });

  test("--from-food101 writes train.jsonl / test.jsonl in the official order", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-cli-food-"));
    mkdirSync(join(dir, "food-101", "meta"), { recursive: true });
    writeFileSync(join(dir, "food-101", "meta", "classes.txt"), "apple_pie\nbeignets\n");
    const train: string[] = [];
    const testList: string[] = [];
    for (const c of ["apple_pie", "beignets"]) {
      mkdirSync(join(dir, "food-101", "images", c), { recursive: true });
      for (let i = 0; i < 4; i++) {
        writeFileSync(join(dir, "food-101", "images", c, `${i}.jpg`), makePng({ seed: seed++ }));
        (i < 3 ? train : testList).push(`${c}/${i}`);
      }
    }
    writeFileSync(join(dir, "food-101", "meta", "train.txt"), train.join("\n"));
    writeFileSync(join(dir, "food-101", "meta", "test.txt"), testList.join("\n"));
    const r = prepare(["--from-food101", "food-101", "--out", "data", "--json"], dir);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.counts).toEqual({ train: 6, val: 2 });
    expect(doc.classNames).toEqual(["apple_pie", "beignets"]);
    expect(readFileSync(join(dir, "data", "test.jsonl"), "utf8")).toBe(
      '{"image":"../food-101/images/apple_pie/3.jpg","label":0}\n{"image":"../food-101/images/beignets/3.jpg","label":1}\n',
    );
  });

  test("argument errors: exit 2 with the fix", () => {
    expect(prepare(["--from-folder", "x"]).stderr).toContain("--from-folder needs --out DIR");
    const both = prepare(["--from-folder", "x", "--from-food101", "y", "--out", "o"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("not both");
    expect(prepare(["--from-folder", "x", "--out", "o", "--val-ratio", "1.5"]).stderr).toContain("--val-ratio must be a number between 0 and 1");
    expect(prepare(["--seed", "3"]).stderr).toContain("--seed only goes with --from-folder");
    const unknown = prepare(["--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("bogus");
    const missing = prepare(["--from-folder", "/nonexistent/tree", "--out", "o"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("error: --from-folder /nonexistent/tree does not exist");
  });

  test("--help: exit 0, every option listed", () => {
    const r = prepare(["--help"]);
    expect(r.code).toBe(0);
    for (const flag of ["--config", "--set", "--deep", "--json", "--from-folder", "--from-food101", "--out", "--val-ratio", "--seed", "--allow-low-disk"]) {
      expect(r.stdout).toContain(flag);
    }
  });
});
