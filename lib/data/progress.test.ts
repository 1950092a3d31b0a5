import { expect, test } from "bun:test";
import { makeProgress } from "./progress.ts";

test("without a TTY: plain lines, at most one per interval, and a last one", () => {
  const lines: string[] = [];
  let t = 0;
  const p = makeProgress({ stream: { write: (s: string) => lines.push(s), isTTY: false }, plainEverySeconds: 5, now: () => t })("images", 200);
  p.update(10);
  t = 6000;
  p.update(50, "note");
  t = 7000;
  p.update(60);
  p.stop();
  expect(lines).toEqual(["images: 25% (50/200) note\n", "images: 30% (60/200)\n"]);
});

test("byte counts are shown as sizes", () => {
  const lines: string[] = [];
  const p = makeProgress({ stream: { write: (s: string) => lines.push(s) } })("train lines", 2048, { unit: "bytes" });
  p.update(1024, "10 lines");
  p.stop();
  expect(lines).toEqual(["train lines: 50% (1.0 KiB/2.0 KiB) 10 lines\n"]);
});
