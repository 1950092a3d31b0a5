import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BMP_3x2, GIF_3x2, JPEG_3x2, WEBP_3x2, makePng } from "./fixtures.ts";
import { inspectImage, inspectImages } from "./image_info.ts";

const dir = mkdtempSync(join(tmpdir(), "qc-img-"));
const put = (name: string, data: Uint8Array | string) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};

describe("inspectImage", () => {
  test("reads format, size and hash of every supported format", async () => {
    const cases: [string, Uint8Array, string][] = [
      ["a.png", makePng({ width: 5, height: 3 }), "png"],
      ["a.jpg", JPEG_3x2, "jpg"],
      ["a.gif", GIF_3x2, "gif"],
      ["a.webp", WEBP_3x2, "webp"],
      ["a.bmp", BMP_3x2, "bmp"],
    ];
    for (const [name, data, type] of cases) {
      const info = await inspectImage(put(name, data));
      expect(info.ok).toBe(true);
      expect(info.type).toBe(type);
      expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(info.bytes).toBe(data.length);
    }
    const png = await inspectImage(join(dir, "a.png"));
    expect([png.width, png.height]).toEqual([5, 3]);
    expect([(await inspectImage(join(dir, "a.jpg"))).width, (await inspectImage(join(dir, "a.jpg"))).height]).toEqual([3, 2]);
  });

  test("missing file, directory, text named .png, empty file", async () => {
    expect((await inspectImage(join(dir, "nope.png"))).problem?.kind).toBe("image_missing");
    mkdirSync(join(dir, "folder.png"));
    expect((await inspectImage(join(dir, "folder.png"))).problem?.kind).toBe("not_an_image");
    const text = await inspectImage(put("text.png", "hello, I am not a picture\n"));
    expect(text.ok).toBe(false);
    expect(text.problem?.kind).toBe("not_an_image");
    expect(text.sha256).toBeDefined();
    expect((await inspectImage(put("empty.jpg", ""))).problem?.message).toContain("empty file");
  });

  test("truncated PNG, JPEG, WebP and BMP are caught from the bytes alone", async () => {
    const png = makePng({ width: 16, height: 16 });
    for (const [name, data] of [
      ["t.png", png.subarray(0, png.length - 20)],
      ["t.jpg", JPEG_3x2.subarray(0, JPEG_3x2.length - 10)],
      ["t.webp", WEBP_3x2.subarray(0, WEBP_3x2.length - 8)],
      ["t.bmp", BMP_3x2.subarray(0, BMP_3x2.length - 8)],
    ] as [string, Uint8Array][]) {
      const info = await inspectImage(put(name, data));
      expect(info.problem?.kind).toBe("image_truncated");
    }
  });

  test("a format Pillow cannot decode is refused", async () => {
    const svg = await inspectImage(put("a.svg", '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="20"></svg>'));
    expect(svg.problem?.kind).toBe("unsupported_image_format");
  });

  test("inspectImages reads each path once and reports progress", async () => {
    const reads: string[] = [];
    const p = put("b.png", makePng({ seed: 3 }));
    const seen: number[] = [];
    const out = await inspectImages({
      paths: new Set([p, join(dir, "a.png")]),
      concurrency: 2,
      reader: { readFile: async (x) => (reads.push(x), Bun.file(x).bytes()) },
      onDone: (d) => seen.push(d),
    });
    expect(out.size).toBe(2);
    expect(reads.sort()).toEqual([join(dir, "a.png"), p].sort());
    expect(seen).toEqual([1, 2]);
  });
});
