import { describe, expect, test } from "bun:test";
import { dump } from "js-yaml";
import { resolveConfig, configHash, DEMO_CONFIG_PATH } from "./resolve.ts";
import { ConfigError } from "./problems.ts";
import { UserError } from "../util/errors.ts";
import type { Obj } from "./paths.ts";

const CWD = "/work/here";
function run(text: string, sets: string[] = [], exists: (p: string) => boolean = () => false) {
  return resolveConfig({ configPath: "cfg.yaml", cwd: CWD, sets, readFile: () => text, exists });
}
function problemsOf(text: string, sets: string[] = []) {
  try {
    run(text, sets);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(UserError);
    expect((err as ConfigError).exitCode).toBe(2);
    return (err as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("precedence: schema default < file < --set < forced", () => {
  test("default when nothing says otherwise", () => {
    expect(run("{}").config.training.lr).toBe(1e-5);
  });
  test("file beats default", () => {
    expect(run("training:\n  lr: 3.0e-4\n").config.training.lr).toBe(3e-4);
  });
  test("--set beats file, and the last --set wins", () => {
    const r = run("training:\n  lr: 3.0e-4\n", ["training.lr=1e-3", "training.lr=2e-3"]);
    expect(r.config.training.lr).toBe(2e-3);
  });
  test("forced beats --set", () => {
    const r = run("training:\n  skip_evaluation: true\n", ["training.save_all_checkpoints=false"]);
    expect(r.config.training.save_all_checkpoints).toBe(true);
    expect(r.warnings.join("\n")).toContain("--set training.save_all_checkpoints=false");
  });
  test("--set types values by the schema", () => {
    const r = run("{}", ["training.epochs=2.5", "training.seed=7", "model.freeze_vision_tower=true", "data.prompt=42", "training.resume_from_checkpoint=null", "loss.type=label_smoothing"]);
    expect(r.config.training.epochs).toBe(2.5);
    expect(r.config.training.seed).toBe(7);
    expect(r.config.model.freeze_vision_tower).toBe(true);
    expect(r.config.data.prompt).toBe("42");
    expect(r.config.training.resume_from_checkpoint).toBeNull();
    expect(r.config.loss.type).toBe("label_smoothing");
  });
  test("--set can address a dataset entry by its name", () => {
    const r = run("datasets:\n  dataset_configs:\n    food: {num_classes: 5}\nmodel:\n  num_labels: 6\n", ["datasets.dataset_configs.food.num_classes=6"]);
    expect(r.config.datasets.dataset_configs.food!.num_classes).toBe(6);
  });
});

describe("paths", () => {
  test("relative paths become absolute against the cwd; Hub ids stay", () => {
    const r = run("model:\n  pretrained_name: Qwen/Qwen2.5-VL-7B-Instruct\ndata:\n  train_jsonl: d/t.jsonl\n  val_jsonl: /abs/v.jsonl\ntraining:\n  output_dir: out/x\n  resume_from_checkpoint: out/x/checkpoint-2\n");
    expect(r.config.model.pretrained_name).toBe("Qwen/Qwen2.5-VL-7B-Instruct");
    expect(r.config.data.train_jsonl).toBe("/work/here/d/t.jsonl");
    expect(r.config.data.val_jsonl).toBe("/abs/v.jsonl");
    expect(r.config.data.labels_file).toBe("");
    expect(r.config.training.output_dir).toBe("/work/here/out/x");
    expect(r.config.training.resume_from_checkpoint).toBe("/work/here/out/x/checkpoint-2");
  });
  test("a model name that is a path (./, existing folder, demo build) is made absolute", () => {
    expect(run("model:\n  pretrained_name: ./m\n").config.model.pretrained_name).toBe("/work/here/m");
    expect(run("model:\n  pretrained_name: models/q\n", [], (p) => p === "/work/here/models/q").config.model.pretrained_name).toBe("/work/here/models/q");
    expect(run("model:\n  pretrained_name: a/b\ndemo:\n  build_tiny_model: true\n").config.model.pretrained_name).toBe("/work/here/a/b");
  });
  test("resume auto stays auto", () => {
    expect(run("training:\n  resume_from_checkpoint: auto\n").config.training.resume_from_checkpoint).toBe("auto");
  });
  test("no configPath: the embedded demo config from the repo, whatever the cwd", () => {
    const r = resolveConfig({ configPath: null, cwd: "/tmp" });
    expect(r.sourceFile).toBe(DEMO_CONFIG_PATH);
    expect(r.config.model.num_labels).toBe(10);
    expect(r.config.training.output_dir.startsWith("/tmp/")).toBe(true);
  });
});

describe("hash", () => {
  test("stable under key order, sensitive to values", () => {
    expect(configHash({ a: 1, b: { c: 2, d: 3 } })).toBe(configHash({ b: { d: 3, c: 2 }, a: 1 }));
    expect(configHash({ a: 1 })).not.toBe(configHash({ a: 2 }));
    expect(run("{}").configHash).toMatch(/^[0-9a-f]{64}$/);
    expect(run("{}").configHash).not.toBe(run("training:\n  lr: 1.0e-4\n").configHash);
  });
});

describe("every bad-config case is reported with path, line and fix", () => {
  test("misspelt key: did you mean, with file:line", () => {
    const [p] = problemsOf("model:\n  num_labels: 101\ntraining:\n  save_stpes: 10\n");
    expect(p.path).toBe("training.save_stpes");
    expect(p.line).toBe(4);
    expect(p.file).toBe("/work/here/cfg.yaml");
    expect(p.message).toContain("did you mean training.save_steps");
    expect(p.fix).toContain("save_steps");
  });
  test("a key in the wrong section, a known alias, and a misspelt section", () => {
    const ps = problemsOf("trainig:\n  lr: 1\ntraining:\n  learning_rate: 1.0e-5\n  num_labels: 101\n");
    expect(ps.map((p) => p.path)).toEqual(["trainig", "training.learning_rate", "training.num_labels"]);
    expect(ps[0].message).toContain("did you mean training");
    expect(ps[1].message).toContain("training.lr");
    expect(ps[2].message).toContain("model.num_labels");
  });
  test("wrong type", () => {
    const [p] = problemsOf("training:\n  per_device_batch_size: four\n");
    expect(p.path).toBe("training.per_device_batch_size");
    expect(p.message).toContain("expected an integer");
    expect(p.line).toBe(2);
  });
  test("out of bounds: lr <= 0, save_steps 0, smoothing outside [0, 1)", () => {
    const ps = problemsOf("training:\n  lr: -1.0e-5\n  save_steps: 0\nloss:\n  smoothing: 1.0\n");
    expect(ps.map((p) => [p.path, p.line])).toEqual([["training.lr", 2], ["training.save_steps", 3], ["loss.smoothing", 5]]);
    expect(ps[0].fix).toContain("> 0");
    expect(ps[2].message).toContain("< 1");
    expect(problemsOf("loss:\n  smoothing: -0.1\n")[0].message).toContain(">= 0");
    expect(problemsOf("training:\n  lr: 0\n")[0].path).toBe("training.lr");
  });
  test("YAML syntax error names the line", () => {
    const [p] = problemsOf("training:\n  lr: 1.0e-5\n    save_steps: 3\n");
    expect(p.message).toContain("YAML syntax error");
    expect(p.line).toBe(3);
  });
  test("duplicate key names the path and both lines; the rest is still validated", () => {
    const ps = problemsOf("training:\n  lr: 1.0e-5\n  epochs: 2\n  lr: 2.0e-5\n  save_steps: 0\n");
    expect(ps[0].path).toBe("training.lr");
    expect(ps[0].line).toBe(4);
    expect(ps[0].message).toContain("duplicate key");
    expect(ps[0].message).toContain("line 2");
    expect(ps[1].path).toBe("training.save_steps");
  });
  test("missing config file", () => {
    let err: ConfigError | null = null;
    try {
      resolveConfig({ configPath: "nope.yaml", cwd: "/nonexistent-dir" });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems[0].path).toBe("--config");
    expect(err!.message).toContain("config file not found");
    expect(err!.message).toContain("/nonexistent-dir/nope.yaml");
  });
  test("num_labels disagreeing with the dataset's num_classes", () => {
    const [p] = problemsOf("model:\n  num_labels: 100\ndatasets:\n  dataset_configs:\n    food101: {num_classes: 101}\n");
    expect(p.path).toBe("model.num_labels");
    expect(p.line).toBe(2);
    expect(p.message).toContain("101");
    expect(p.fix).toContain("model.num_labels: 101");
  });
  test("dataset selection: none is fine, several need data.dataset, a missing name is an error", () => {
    expect(run("model:\n  num_labels: 3\n").config.model.num_labels).toBe(3);
    const two = "model:\n  num_labels: 3\ndatasets:\n  dataset_configs:\n    a: {num_classes: 3}\n    b: {num_classes: 4}\n";
    expect(problemsOf(two)[0].path).toBe("data.dataset");
    expect(problemsOf(two)[0].fix).toContain("data.dataset: a");
    expect(run(two + "data:\n  dataset: a\n").config.data.dataset).toBe("a");
    expect(problemsOf(two + "data:\n  dataset: b\n")[0].message).toContain("num_classes is 4");
    const [missing] = problemsOf(two + "data:\n  dataset: c\n");
    expect(missing.path).toBe("data.dataset");
    expect(missing.line).toBe(8);
    expect(missing.message).toContain('"c"');
  });
  test("--set on an unknown path, a wrong type, a section, a bad form", () => {
    const ps = problemsOf("{}", ["training.lrr=1", "training.lr=fast", "training=3", "justtext", "loss.type=smoothing"]);
    expect(ps.map((p) => p.path)).toEqual(["training.lrr", "training.lr", "training", "--set", "loss.type"]);
    expect(ps[0].message).toContain("did you mean training.lr");
    expect(ps[1].message).toContain("expected a number");
    expect(ps[2].message).toContain("section");
    expect(ps[4].message).toContain("not one of");
    for (const p of ps) expect(p.file).toBeUndefined();
  });
  test("--set value out of bounds is blamed on the flag, not the file", () => {
    const [p] = problemsOf("training:\n  lr: 1.0e-5\n", ["training.lr=0"]);
    expect(p.path).toBe("training.lr");
    expect(p.file).toBeUndefined();
    expect(p.message).toContain("--set training.lr=0");
  });
  test("offload_param needs ZeRO 3; min pixels above max", () => {
    const ps = problemsOf("deepspeed:\n  zero_stage: 2\n  offload_param: true\ndata:\n  image_min_pixels: 5000\n  image_max_pixels: 4000\n");
    expect(ps.map((p) => p.path).sort()).toEqual(["data.image_min_pixels", "deepspeed.offload_param"]);
  });
  test("all problems arrive in one report", () => {
    let err: ConfigError | null = null;
    try {
      run("training:\n  lr: 0\n  save_steps: 0\n  epocs: 1\nloss:\n  smoothing: 2\n", ["x.y=1"]);
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err!.problems.length).toBe(5);
    expect(err!.message).toContain("5 problems");
    for (const name of ["training.lr", "training.save_steps", "training.epocs", "loss.smoothing", "x.y"]) expect(err!.message).toContain(name);
  });
  test("a file that is not a mapping", () => {
    expect(problemsOf("- a\n- b\n")[0].message).toContain("mapping");
  });
});

test("an empty file is the schema defaults", () => {
  const r = run("");
  expect(r.config.model.num_labels).toBe(101);
  expect((r.config as unknown as Obj).demo).toEqual({ build_tiny_model: false, build_digits_dataset: false });
});

test("dump round trip keeps numbers (1e-5 is a number in YAML 1.2)", () => {
  expect(run(dump({ training: { lr: 1e-5 } })).config.training.lr).toBe(1e-5);
  expect(run("training:\n  lr: 1e-5\n").config.training.lr).toBe(1e-5);
});
