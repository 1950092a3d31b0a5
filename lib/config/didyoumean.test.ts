import { expect, test } from "bun:test";
import { closest, editDistance } from "./didyoumean.ts";

test("edit distance counts a transposition as one edit", () => {
  expect(editDistance("save_steps", "save_stpes")).toBe(1);
  expect(editDistance("lr", "rl")).toBe(1);
  expect(editDistance("", "abc")).toBe(3);
  expect(editDistance("kitten", "sitting")).toBe(3);
});

test("closest suggests within reach, else nothing", () => {
  expect(closest("epocs", ["epochs", "seed", "lr"])).toBe("epochs");
  expect(closest("zzzzzz", ["epochs", "seed"])).toBeNull();
});
