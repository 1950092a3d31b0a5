import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDeepDecoder } from "./deep.ts";
import { JPEG_3x2, makePng } from "./fixtures.ts";
import { plotHistogram } from "./plot.ts";
import { projectPython } from "../util/python.ts";

const hasPython = existsSync(projectPython());

test.skipIf(!hasPython)("the Pillow decoder passes good images and names the broken ones", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qc-deep-"));
  const good = join(dir, "good.png");
  writeFileSync(good, makePng({ width: 8, height: 8 }));
  writeFileSync(join(dir, "good.jpg"), JPEG_3x2);
  // Damaged IDAT bytes with the IEND still at the end: passes the header check, fails decoding.
  const png = makePng({ width: 64, height: 64, seed: 9 });
  const broken = Buffer.from(png);
  for (let i = 45; i < 75; i++) broken[i] ^= 0x5a;
  writeFileSync(join(dir, "broken.png"), broken);
  const done: number[] = [];
  const failures = await makeDeepDecoder()({
    paths: [good, join(dir, "good.jpg"), join(dir, "broken.png"), join(dir, "missing.png")],
    onDone: (d) => done.push(d),
  });
  expect([...failures.keys()].sort()).toEqual([join(dir, "broken.png"), join(dir, "missing.png")]);
  expect(failures.get(join(dir, "missing.png"))).toContain("FileNotFoundError");
  expect(done.at(-1)).toBe(4);
});

test("a decoder that cannot start is a clear error", async () => {
  const decode = makeDeepDecoder({ python: "/nonexistent/python" });
  await expect(decode({ paths: ["/x.png"] })).rejects.toThrow("could not start the --deep image decoder engine (/nonexistent/python)");
});

test.skipIf(!hasPython)("the histogram plot is a PNG", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qc-plot-"));
  const out = join(dir, "data_report.png");
  const err = await plotHistogram({
    rows: [
      { id: 0, name: "cat", train: 10, val: 3 },
      { id: 1, name: "dög 🐶", train: 7, val: 2 },
    ],
    outPath: out,
    title: "pets",
  });
  expect(err).toBeNull();
  expect(readFileSync(out).subarray(1, 4).toString()).toBe("PNG");
  expect(await plotHistogram({ rows: [], outPath: join(dir, "x.png"), title: "t", python: "/nonexistent/python" })).toContain("could not start");
  expect(existsSync(join(dir, "x.png"))).toBe(false);
}, 30_000); // matplotlib's import alone can take seconds on a busy machine
