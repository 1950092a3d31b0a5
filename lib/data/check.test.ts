import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closest } from "../config/didyoumean.ts";
import { checkData, checkLine, type DataReport } from "./check.ts";
import { resolveClasses } from "./classes.ts";
import { configForTest, JPEG_3x2, makePng } from "./fixtures.ts";

/** A data folder with images img/c<k>_<i>.png and JSONL files written from line arrays. */
function dataset(lines: { train: string[]; val: string[] }, extra: (dir: string) => void = () => {}) {
  const dir = mkdtempSync(join(tmpdir(), "qc-check-"));
  mkdirSync(join(dir, "img"));
  let seed = 1;
  for (let c = 0; c < 3; c++) for (let i = 0; i < 6; i++) writeFileSync(join(dir, "img", `c${c}_${i}.png`), makePng({ seed: seed++ }));
  extra(dir);
  writeFileSync(join(dir, "train.jsonl"), lines.train.join("\n") + "\n");
  writeFileSync(join(dir, "val.jsonl"), lines.val.join("\n") + "\n");
  return dir;
}

const row = (image: string, label: unknown) => JSON.stringify({ image, label });
const good = {
  train: [0, 1, 2].flatMap((c) => [0, 1, 2, 3].map((i) => row(`img/c${c}_${i}.png`, c))),
  val: [0, 1, 2].flatMap((c) => [4, 5].map((i) => row(`img/c${c}_${i}.png`, c))),
};
const names = ["cat", "dog", "bird"];
const cfg = (dir: string, extra: Record<string, unknown> = {}) =>
  configForTest({
    model: { num_labels: 3 },
    datasets: { dataset_configs: { pets: { num_classes: 3, description: "", class_names: names } } },
    data: { train_jsonl: join(dir, "train.jsonl"), val_jsonl: join(dir, "val.jsonl"), ...(extra.data as object) },
    ...(extra.training ? { training: extra.training as object } : {}),
  });

const kinds = (r: DataReport) => r.problems.counts;

describe("checkData on a clean set", () => {
  test("counts, histogram, no findings", async () => {
    const dir = dataset(good);
    const r = await checkData({ config: cfg(dir) });
    expect(r.ok).toBe(true);
    expect(r.problems.items).toEqual([]);
    expect(r.splits.train.lines).toBe(12);
    expect(r.splits.val.validSamples).toBe(6);
    expect(r.histogram.map((h) => [h.name, h.train, h.val])).toEqual([
      ["cat", 4, 2],
      ["dog", 4, 2],
      ["bird", 4, 2],
    ]);
    expect(r.images.distinct).toBe(18);
    expect(r.images.formats).toEqual({ png: 18 });
    expect([r.images.minWidth, r.images.maxWidth, r.images.minHeight, r.images.maxHeight]).toEqual([4, 4, 4, 4]);
    expect(r.leakage.count).toBe(0);
    expect(r.duplicates.groups).toBe(0);
    expect(r.warnings.items).toEqual([]);
  });

  test("labels given as class names count like ids", async () => {
    const dir = dataset({ train: good.train.map((l) => l.replace(/"label":(\d)/, (_, d) => `"label":"${names[+d]}"`)), val: good.val });
    const r = await checkData({ config: cfg(dir) });
    expect(r.ok).toBe(true);
    expect(r.histogram.map((h) => h.train)).toEqual([4, 4, 4]);
  });
});

describe("every kind of bad line", () => {
  const bad = [
    "{not json",
    "[1, 2]",
    JSON.stringify({ label: 1 }),
    JSON.stringify({ image: "img/c0_0.png" }),
    row("img/c0_0.png", 3),
    row("img/c0_0.png", -1),
    row("img/c0_0.png", 1.5),
    row("img/c0_0.png", "dgo"),
    JSON.stringify({ image: 7, label: 0 }),
    row("img/absent.png", 0),
  ];
  test("each is named by file:line with its kind, and the check fails", async () => {
    const dir = dataset({ train: [...good.train, ...bad], val: good.val });
    const r = await checkData({ config: cfg(dir) });
    expect(r.ok).toBe(false);
    expect(kinds(r)).toEqual({
      invalid_json: 1,
      not_an_object: 1,
      missing_field: 2,
      label_out_of_range: 2,
      bad_field: 2,
      unknown_class_name: 1,
      image_missing: 1,
    });
    const at = (kind: string) => r.problems.items.filter((f) => f.kind === kind).map((f) => `${f.file}:${f.line}`);
    expect(at("invalid_json")).toEqual(["train.jsonl:13"]);
    expect(at("not_an_object")).toEqual(["train.jsonl:14"]);
    expect(at("missing_field")).toEqual(["train.jsonl:15", "train.jsonl:16"]);
    expect(at("label_out_of_range")).toEqual(["train.jsonl:17", "train.jsonl:18"]);
    expect(at("image_missing")).toEqual(["train.jsonl:22"]);
    const unknown = r.problems.items.find((f) => f.kind === "unknown_class_name")!;
    expect(unknown.message).toContain('did you mean "dog"');
    expect(r.problems.items.find((f) => f.kind === "label_out_of_range")!.message).toContain("outside [0, 3)");
    expect(r.splits.train.wellFormed).toBe(13);
    expect(r.splits.train.validSamples).toBe(12);
  });

  test("data.on_bad_sample=skip turns line problems into warnings", async () => {
    const dir = dataset({ train: [...good.train, ...bad], val: good.val });
    const r = await checkData({ config: cfg(dir, { data: { on_bad_sample: "skip" } }) });
    expect(r.ok).toBe(true);
    expect(r.skipped).toBe(10);
    expect(r.warnings.counts.skipped_invalid_json).toBe(1);
  });

  test("only the first N of a kind are kept, all are counted", async () => {
    const many = Array.from({ length: 50 }, () => "{oops");
    const dir = dataset({ train: [...good.train, ...many], val: good.val });
    const r = await checkData({ config: cfg(dir), keepPerKind: 5 });
    expect(r.problems.counts.invalid_json).toBe(50);
    expect(r.problems.items.filter((f) => f.kind === "invalid_json")).toHaveLength(5);
  });

  test("blank lines are warned about, not failed", async () => {
    const dir = dataset({ train: [...good.train, "", "   "], val: good.val });
    const r = await checkData({ config: cfg(dir) });
    expect(r.ok).toBe(true);
    expect(r.splits.train.blankLines).toBe(2);
    expect(r.warnings.counts.blank_lines).toBe(1);
  });

  test("a missing validation file is only a warning when nothing evaluates", async () => {
    const dir = dataset(good);
    const c = cfg(dir, { training: { skip_evaluation: true } });
    c.data.val_jsonl = join(dir, "nope.jsonl");
    const r = await checkData({ config: c });
    expect(r.ok).toBe(true);
    expect(r.warnings.counts.jsonl_missing).toBe(1);
  });

  test("fewer samples than one optimizer step is a problem", async () => {
    const dir = dataset(good);
    const r = await checkData({ config: cfg(dir, { training: { per_device_batch_size: 8, gradient_accumulation_steps: 2 } }) });
    expect(r.problems.counts).toEqual({ too_few_samples: 1 });
    expect(r.problems.items[0].message).toContain("12 usable training sample(s)");
  });

  test("a missing JSONL file is a problem naming the option", async () => {
    const dir = dataset(good);
    const c = cfg(dir);
    c.data.val_jsonl = join(dir, "nope.jsonl");
    const r = await checkData({ config: c });
    expect(kinds(r)).toEqual({ jsonl_missing: 1 });
    expect(r.problems.items[0].message).toContain("data.val_jsonl");
  });
});

describe("bad images", () => {
  test("truncated PNG, text named .png, corrupt JPEG, absolute path", async () => {
    const dir = dataset(
      {
        train: [
          ...good.train,
          row("img/trunc.png", 0),
          row("img/text.png", 1),
          row("img/trunc.png", 0),
          row("img/bad.jpg", 2),
          row("__ABS__", 2),
          row("img/wide.png", 1),
        ],
        val: good.val,
      },
      (dir) => {
        const png = makePng({ width: 32, height: 32, seed: 999 });
        writeFileSync(join(dir, "img", "trunc.png"), png.subarray(0, png.length - 30));
        writeFileSync(join(dir, "img", "text.png"), "just some text\n");
        writeFileSync(join(dir, "img", "bad.jpg"), JPEG_3x2.subarray(0, 300));
        writeFileSync(join(dir, "img", "wide.png"), makePng({ width: 402, height: 2, seed: 5 }));
      },
    );
    // an absolute image path on one line
    const abs = join(dir, "img", "c0_5.png");
    const text = (await Bun.file(join(dir, "train.jsonl")).text()).replace("__ABS__", abs);
    writeFileSync(join(dir, "train.jsonl"), text);
    const r = await checkData({ config: cfg(dir) });
    expect(kinds(r)).toMatchObject({ image_truncated: 2, not_an_image: 1, image_aspect_ratio: 1 });
    const trunc = r.problems.items.find((f) => f.message.includes("trunc.png"))!;
    expect(trunc.line).toBe(13);
    expect(trunc.message).toContain("used by 2 lines");
    // the absolute path is the val image c0_5: that is leakage
    expect(r.leakage.count).toBe(1);
    expect(r.splits.train.validSamples).toBe(13);
  });

  test("--deep reports what the decoder refuses", async () => {
    const dir = dataset(good);
    const r = await checkData({
      config: cfg(dir),
      deep: true,
      deepDecoder: async ({ paths, onDone }) => {
        onDone?.(paths.length);
        return new Map([[paths.find((p) => p.endsWith("c1_2.png"))!, "OSError: broken data stream"]]);
      },
    });
    expect(r.images.deepDecoded).toBe(18);
    expect(kinds(r)).toEqual({ image_decode_failed: 1 });
    expect(r.problems.items[0].message).toContain("broken data stream");
  });
});

describe("leakage and duplicates (content hash)", () => {
  test("a copy of a training image in validation is leakage, with both lines named", async () => {
    const dir = dataset({ train: good.train, val: [...good.val, row("img/copy_of_c2_3.png", 2)] }, (dir) =>
      writeFileSync(join(dir, "img", "copy_of_c2_3.png"), makePng({ seed: 16 })),
    );
    const r = await checkData({ config: cfg(dir) });
    expect(r.ok).toBe(false);
    expect(r.leakage.count).toBe(1);
    expect(r.leakage.pairs[0].train).toEqual({ image: "img/c2_3.png", file: "train.jsonl", line: 12 });
    expect(r.leakage.pairs[0].val).toMatchObject({ image: "img/copy_of_c2_3.png", line: 7 });
    expect(kinds(r)).toEqual({ leakage: 1 });
    // the same content twice is also a duplicate group (a warning)
    expect(r.duplicates.groups).toBe(1);
    expect(r.warnings.counts.duplicate_image).toBe(1);
  });

  test("duplicates within train are a warning only; a repeated line too", async () => {
    const dir = dataset({ train: [...good.train, row("img/dup.png", 0), row("img/c0_0.png", 0)], val: good.val }, (dir) =>
      writeFileSync(join(dir, "img", "dup.png"), makePng({ seed: 1 })),
    );
    const r = await checkData({ config: cfg(dir) });
    expect(r.ok).toBe(true);
    expect(r.duplicates).toMatchObject({ groups: 1, extraFiles: 1 });
    expect(r.duplicates.examples[0].images.sort()).toEqual(["img/c0_0.png", "img/dup.png"]);
    expect(r.warnings.counts.repeated_image).toBe(1);
  });

  test("the same file for train and val is refused", async () => {
    const dir = dataset(good);
    const c = cfg(dir);
    c.data.val_jsonl = c.data.train_jsonl;
    const r = await checkData({ config: c });
    expect(r.problems.counts.same_file).toBe(1);
    expect(r.leakage.count).toBe(12);
  });
});

describe("classes", () => {
  test("missing classes and imbalance are warnings", async () => {
    const train = [...good.train.filter((l) => !l.includes('"label":2')), ...Array.from({ length: 40 }, () => row("img/c0_0.png", 0))];
    const dir = dataset({ train, val: good.val });
    const r = await checkData({ config: cfg(dir) });
    expect(r.ok).toBe(true);
    expect(r.missingClasses.train).toEqual([2]);
    expect(r.warnings.counts.missing_class_train).toBe(1);
    expect(r.warnings.counts.imbalance).toBe(1);
  });

  test("class names disagreeing with num_labels, labels_file and each other", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-cls-"));
    writeFileSync(join(dir, "labels.json"), JSON.stringify({ 0: "cat", 1: "hog", 2: "bird" }));
    const c = configForTest({
      model: { num_labels: 4 },
      datasets: { dataset_configs: { pets: { num_classes: 3, description: "", class_names: ["cat", "dog", "bird"] } } },
      data: { labels_file: join(dir, "labels.json") },
    });
    const spec = resolveClasses({ config: c });
    const msgs = spec.problems.map((p) => p.message).join("\n");
    expect(msgs).toContain("num_classes is 3 but model.num_labels is 4");
    expect(msgs).toContain("class_names has 3 names but model.num_labels is 4");
    expect(msgs).toContain('disagree at id 1 ("hog" vs "dog")');
  });

  test("labels_file alone gives the names; a bad one is named", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-cls-"));
    writeFileSync(join(dir, "labels.json"), JSON.stringify({ 0: "a", 1: "b" }));
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ 0: "a", 2: "b" }));
    const ok = resolveClasses({ config: configForTest({ model: { num_labels: 2 }, data: { labels_file: join(dir, "labels.json") } }) });
    expect(ok.names).toEqual(["a", "b"]);
    expect(ok.problems).toEqual([]);
    const bad = resolveClasses({ config: configForTest({ model: { num_labels: 2 }, data: { labels_file: join(dir, "bad.json") } }) });
    expect(bad.problems[0].message).toContain('id "1" is missing');
    const ambiguous = resolveClasses({
      config: configForTest({
        datasets: { dataset_configs: { a: { num_classes: 101, description: "" }, b: { num_classes: 101, description: "" } } },
      }),
    });
    expect(ambiguous.problems[0].message).toContain("set data.dataset");
  });

  test("string labels without any class names are refused with the fix", () => {
    const spec = resolveClasses({ config: configForTest({ model: { num_labels: 3 } }) });
    const v = checkLine(row("a.png", "cat"), spec, new Map());
    expect(v.problem?.kind).toBe("unknown_class_name");
    expect(v.problem?.message).toContain("data.labels_file");
  });

  test("closest name (the one did-you-mean, lib/config/didyoumean.ts)", () => {
    expect(closest("Dgo", ["cat", "dog"])).toBe("dog");
    expect(closest("zebra", ["cat", "dog"])).toBeNull();
  });
});
