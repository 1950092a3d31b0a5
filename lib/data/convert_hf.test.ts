// --from-hf planning: the default output folder and the engine argv (the conversion itself: test/cli_prepare_from_hf.test.ts).
import { describe, expect, test } from "bun:test";
import { buildFromHfArgv, defaultOutDir } from "./convert_hf.ts";

describe("convert_hf", () => {
  test("defaultOutDir: data/<last segment, lower case> (ethz/food101 -> data/food101, what configs/food101.yaml reads)", () => {
    expect(defaultOutDir("ethz/food101", "/w")).toBe("/w/data/food101");
    expect(defaultOutDir("/tmp/My Set/", "/w")).toBe("/w/data/my_set");
  });
  test("buildFromHfArgv: a Hub id passes as is, a relative folder becomes absolute; optional flags only when given", () => {
    expect(buildFromHfArgv({ python: "py", source: "ethz/food101", outDir: "/o", cwd: "/w" })).toEqual(["py", "-m", "qc_engine.tools.from_hf", "--dataset", "ethz/food101", "--out", "/o"]);
    expect(buildFromHfArgv({ python: "py", source: "./ds", outDir: "/o", cwd: "/w", split: "train,test", labelsFile: "n.json", imageColumn: "img", labelColumn: "y", revision: "v1" })).toEqual([
      "py", "-m", "qc_engine.tools.from_hf", "--dataset", "/w/ds", "--out", "/o", "--split", "train,test", "--image-column", "img", "--label-column", "y", "--labels-file", "/w/n.json", "--revision", "v1",
    ]);
  });
});
