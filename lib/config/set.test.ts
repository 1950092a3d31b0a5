import { expect, test } from "bun:test";
import { coerceSetValue, parseSets } from "./set.ts";

test("values are typed by the option's schema type", () => {
  expect(coerceSetValue("3", ["integer"])).toEqual({ value: 3 });
  expect(coerceSetValue("3.5", ["integer"])).toEqual({ error: 'expected an integer, got "3.5"' });
  expect(coerceSetValue("1e-5", ["number"])).toEqual({ value: 1e-5 });
  expect(coerceSetValue(".5", ["number"])).toEqual({ value: 0.5 });
  expect(coerceSetValue("abc", ["number"])).toEqual({ error: 'expected a number, got "abc"' });
  expect(coerceSetValue("true", ["boolean"])).toEqual({ value: true });
  expect(coerceSetValue("yes", ["boolean"])).toEqual({ error: 'expected true or false, got "yes"' });
  expect(coerceSetValue("null", ["string", "null"])).toEqual({ value: null });
  expect(coerceSetValue("auto", ["string", "null"])).toEqual({ value: "auto" });
  expect(coerceSetValue("007", ["string"])).toEqual({ value: "007" });
  expect(coerceSetValue('["a","b"]', ["array"])).toEqual({ value: ["a", "b"] });
});

test("parseSets: good ones parsed, each bad one a problem naming the flag", () => {
  const { parsed, problems } = parseSets(["training.lr=2e-5", "data.prompt=a=b", "wandb.mode=ofline", "nope", "model.nmu_labels=3"]);
  expect(parsed).toEqual([
    { path: "training.lr", value: 2e-5, raw: "training.lr=2e-5" },
    { path: "data.prompt", value: "a=b", raw: "data.prompt=a=b" },
  ]);
  expect(problems.map((p) => p.path)).toEqual(["wandb.mode", "--set", "model.nmu_labels"]);
  expect(problems[0].message).toContain('did you mean "offline"');
  expect(problems[2].message).toContain("did you mean model.num_labels");
});
