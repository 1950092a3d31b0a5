import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { load } from "js-yaml";
import { UserError } from "../util/errors.ts";
import { checkData } from "./check.ts";
import { convertFolder, valCount } from "./convert_folder.ts";
import { convertFood101 } from "./convert_food101.ts";
import { seededRandom, shuffleInPlace } from "./convert_output.ts";
import { configForTest, makePng } from "./fixtures.ts";

const readJsonl = (p: string) =>
  readFileSync(p, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { image: string; label: number });

let seed = 1000;
/** ROOT/<class>/<image> with `counts[class]` distinct PNGs each. */
function folderTree(counts: Record<string, number>) {
  const root = join(mkdtempSync(join(tmpdir(), "qc-conv-")), "my photos");
  for (const [cls, n] of Object.entries(counts)) {
    mkdirSync(join(root, cls), { recursive: true });
    for (let i = 0; i < n; i++) writeFileSync(join(root, cls, `img ${i} é.png`), makePng({ seed: seed++ }));
  }
  return root;
}

/** The converted set, checked with a config made from the printed snippet. */
async function checkConverted(snippet: string) {
  const s = load(snippet) as { model: { num_labels: number }; datasets: never; data: Record<string, string> };
  return checkData({ config: configForTest({ model: s.model, datasets: s.datasets, data: s.data }) });
}

describe("--from-folder", () => {
  test("stratified, seeded split; unicode and spaces in paths; labels.json; the check passes", async () => {
    const root = folderTree({ "crème brûlée": 10, "日本 料理": 20, zucchini: 5 });
    const out = join(root, "..", "out dir");
    const r = convertFolder({ root, outDir: out, valRatio: 0.2, seed: 7 });
    expect(r.classNames).toEqual(["crème brûlée", "zucchini", "日本 料理"]); // code-point order
    expect(r.counts).toEqual({ train: 28, val: 7 }); // 2+1+4 in val
    expect(JSON.parse(readFileSync(join(out, "labels.json"), "utf8"))).toEqual({ "0": "crème brûlée", "1": "zucchini", "2": "日本 料理" });
    const train = readJsonl(join(out, "train.jsonl"));
    const val = readJsonl(join(out, "val.jsonl"));
    expect(val.filter((x) => x.label === 2)).toHaveLength(4);
    expect(train[0].image.startsWith("../my photos/")).toBe(true); // relative to the JSONL's folder
    expect(new Set([...train, ...val].map((x) => x.image)).size).toBe(35);
    for (const x of val) expect(train.some((t) => t.image === x.image)).toBe(false);
    expect(readdirSync(out).sort()).toEqual(["labels.json", "train.jsonl", "val.jsonl"]); // no temporary files left
    expect(r.snippet).toContain("num_labels: 3");
    expect(r.snippet).toContain("labels_file:");
    const report = await checkConverted(r.snippet);
    expect(report.problems.items).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.histogram.map((h) => [h.name, h.train, h.val])).toEqual([
      ["crème brûlée", 8, 2],
      ["zucchini", 4, 1],
      ["日本 料理", 16, 4],
    ]);
  });

  test("the same seed gives the same split, another seed another one", () => {
    const root = folderTree({ a: 30, b: 30 });
    const run = (s: number, name: string) => {
      convertFolder({ root, outDir: join(root, "..", name), valRatio: 0.3, seed: s });
      return readFileSync(join(root, "..", name, "val.jsonl"), "utf8");
    };
    expect(run(1, "o1")).toBe(run(1, "o2"));
    expect(run(1, "o1")).not.toBe(run(2, "o3"));
  });

  test("an output folder inside ROOT is not taken for a class", () => {
    const root = folderTree({ a: 3, b: 3 });
    convertFolder({ root, outDir: join(root, "jsonl") });
    const again = convertFolder({ root, outDir: join(root, "jsonl") });
    expect(again.classNames).toEqual(["a", "b"]);
  });

  test("bad trees are refused with the reason", () => {
    expect(() => convertFolder({ root: "/nonexistent/x", outDir: "/tmp/x" })).toThrow("does not exist");
    const one = folderTree({ only: 3 });
    expect(() => convertFolder({ root: one, outDir: join(one, "..", "o") })).toThrow("at least 2 are needed");
    const withEmpty = folderTree({ a: 3, b: 0 });
    expect(() => convertFolder({ root: withEmpty, outDir: join(withEmpty, "..", "o") })).toThrow("without images");
    expect(existsSync(join(withEmpty, "..", "o", "train.jsonl"))).toBe(false); // nothing half-written
    expect(() => convertFolder({ root: withEmpty, outDir: "/tmp/o", valRatio: 1 })).toThrow("--val-ratio");
  });

  test("valCount and the seeded shuffle", () => {
    expect([valCount(1, 0.1), valCount(2, 0.1), valCount(10, 0.1), valCount(10, 0.99), valCount(15, 0.1)]).toEqual([0, 1, 1, 9, 2]);
    const a = shuffleInPlace([1, 2, 3, 4, 5, 6, 7, 8], seededRandom(3));
    expect(a).toEqual(shuffleInPlace([1, 2, 3, 4, 5, 6, 7, 8], seededRandom(3)));
    expect([...a].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe("--from-food101", () => {
  function food101(opts: { missingImage?: boolean; badLine?: boolean } = {}) {
    const root = join(mkdtempSync(join(tmpdir(), "qc-food-")), "food 101");
    const classes = ["apple_pie", "baby_back_ribs", "crème_brûlée"];
    mkdirSync(join(root, "meta"), { recursive: true });
    writeFileSync(join(root, "meta", "classes.txt"), classes.join("\n") + "\n");
    const train: string[] = [];
    const test: string[] = [];
    classes.forEach((c, ci) => {
      mkdirSync(join(root, "images", c), { recursive: true });
      for (let i = 0; i < 5; i++) {
        const id = `${100 + ci * 10 + i}`;
        writeFileSync(join(root, "images", c, `${id}.jpg`), makePng({ seed: seed++ })); // content is checked, not the extension
        (i < 3 ? train : test).push(`${c}/${id}`);
      }
    });
    if (opts.missingImage) train.push("apple_pie/999");
    if (opts.badLine) test.push("pizza/1");
    writeFileSync(join(root, "meta", "train.txt"), train.join("\n") + "\n");
    writeFileSync(join(root, "meta", "test.txt"), test.join("\r\n") + "\r\n");
    return root;
  }

  test("official split and class order; train.jsonl / test.jsonl / labels.json; the check passes", async () => {
    const root = food101();
    const out = join(root, "..", "jsonl");
    const r = convertFood101({ root, outDir: out });
    expect(r.datasetName).toBe("food101");
    expect(r.classNames).toEqual(["apple_pie", "baby_back_ribs", "crème_brûlée"]);
    expect(r.counts).toEqual({ train: 9, val: 6 });
    expect(r.files.val).toBe(join(out, "test.jsonl"));
    const train = readJsonl(join(out, "train.jsonl"));
    expect(train[0]).toEqual({ image: "../food 101/images/apple_pie/100.jpg", label: 0 });
    expect(readJsonl(join(out, "test.jsonl")).at(-1)).toEqual({ image: "../food 101/images/crème_brûlée/124.jpg", label: 2 });
    const report = await checkConverted(r.snippet);
    expect(report.ok).toBe(true);
    expect(report.classes.dataset).toBe("food101");
  });

  test("missing images and unknown classes are named by file:line; nothing is written", () => {
    const a = food101({ missingImage: true });
    expect(() => convertFood101({ root: a, outDir: join(a, "..", "o") })).toThrow(/train\.txt:10 -> .*apple_pie\/999\.jpg/);
    expect(existsSync(join(a, "..", "o"))).toBe(false);
    const b = food101({ badLine: true });
    expect(() => convertFood101({ root: b, outDir: join(b, "..", "o") })).toThrow(/test\.txt:7: "pizza\/1"/);
    const c = mkdtempSync(join(tmpdir(), "qc-food-"));
    let err: unknown;
    try {
      convertFood101({ root: c, outDir: join(c, "o") });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toContain("meta/classes.txt");
  });
});
