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

test("a unique truncated or extended name is suggested", () => {
  expect(closest("food", ["food101", "digits"])).toBe("food101");
  expect(closest("food", ["food101", "food102"])).toBeNull();
  expect(closest("training.num_labels", ["training", "model.metric"])).toBeNull(); // no "prefix" match on dotted paths
});
