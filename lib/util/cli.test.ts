import { describe, expect, test } from "bun:test";
import { parseTask, renderHelp } from "./cli.ts";
import { UserError } from "./errors.ts";

const spec = {
  name: "demo",
  summary: "does a thing",
  options: {
    checkpoint: { type: "string", help: "checkpoint folder", alias: ["checkpoint_path"], conflicts: ["all"] },
    all: { type: "string", help: "every checkpoint" },
    set: { type: "strings", help: "override" },
    json: { type: "boolean", help: "JSON output" },
    workers: { type: "int", min: 1, help: "processes" },
    ratio: { type: "number", above: 0, below: 1, help: "share" },
    dtype: { type: "string", choices: ["auto", "bf16"], default: "auto", help: "dtype" },
    shards: { type: "int", default: 4, help: "shards" },
  },
} as const;

function fails(argv: string[]): UserError {
  try {
    parseTask(spec, { argv });
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return err as UserError;
  }
  throw new Error(`${argv.join(" ")} should have been refused`);
}

describe("parseTask", () => {
  test("bare arguments: accepted only when the task declares them", () => {
    const withPos = { ...spec, positionals: { valueName: "PATH", help: "more files" } };
    expect(parseTask(withPos, { argv: ["--checkpoint", "c", "a.png", "b.png"] }).positionals).toEqual(["a.png", "b.png"]);
    expect(() => parseTask(spec, { argv: ["--checkpoint", "c", "a.png"] })).toThrow(/positional|Unexpected argument/);
  });

  test("typed values: aliases, repeatable flags, integers, numbers, choices, defaults", () => {
    const v = parseTask(spec, { argv: ["--checkpoint_path", "c1", "--set", "a=1", "--set", "b=2", "--workers", "3", "--ratio", "0.25", "--dtype", "bf16"] });
    expect(v).toEqual({ checkpoint: "c1", all: undefined, set: ["a=1", "b=2"], json: false, workers: 3, ratio: 0.25, dtype: "bf16", shards: 4, positionals: [] });
    const workers: number | undefined = v.workers; // typed: no casts at the call site
    const shards: number = v.shards;
    expect([workers, shards]).toEqual([3, 4]);
  });
  test("an unknown flag: exit 2, named, with the closest real flag", () => {
    const err = fails(["--chekpoint", "x"]);
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe("Unknown option '--chekpoint' — did you mean --checkpoint?");
    expect(err.hint).toBe("run 'bun run tasks/demo.ts --help' for the options");
    expect(fails(["--zzzzzzzz"]).message).toBe("Unknown option '--zzzzzzzz'");
  });
  test("bad values name the flag and what it needs", () => {
    expect(fails(["--workers", "0"]).message).toBe('--workers must be an integer >= 1, got "0"');
    expect(fails(["--workers", "two"]).message).toBe('--workers must be an integer >= 1, got "two"');
    expect(fails(["--ratio", "1.5"]).message).toBe('--ratio must be a number between 0 and 1 (exclusive), got "1.5"');
    expect(fails(["--dtype", "bf61"]).message).toBe('--dtype must be one of auto, bf16, got "bf61" — did you mean bf16?');
  });
  test("conflicting flags are refused", () => {
    expect(fails(["--checkpoint", "a", "--all", "b"]).message).toBe("--checkpoint and --all do not go together: give one or the other, not both");
  });
  test("--help prints the generated help and exits 0", () => {
    let out = "";
    let code = -1;
    const exit = ((c: number) => {
      code = c;
      throw new Error("exited");
    }) as (c: number) => never;
    expect(() => parseTask(spec, { argv: ["--help"], stdout: { write: (s: string) => (out += s) }, exit })).toThrow("exited");
    expect(code).toBe(0);
    expect(out).toBe(renderHelp(spec));
    expect(out).toContain("bun run tasks/demo.ts — does a thing");
    expect(out).toContain("--checkpoint_path");
    expect(out).toContain("(repeatable)");
    expect(out).toContain('[default: "auto"]');
  });
});
