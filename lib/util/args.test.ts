import { describe, expect, test } from "bun:test";
import { parseTaskArgs, renderHelp } from "./args.ts";
import { UserError } from "./errors.ts";

const spec = {
  name: "demo",
  summary: "does a thing",
  options: {
    checkpoint: { type: "string" as const, description: "checkpoint folder", alias: ["checkpoint_path"] },
    set: { type: "string" as const, multiple: true, description: "override" },
    json: { type: "boolean" as const, description: "JSON output", default: false },
  },
};

describe("parseTaskArgs", () => {
  test("parses values, aliases and repeatable flags", () => {
    const { values } = parseTaskArgs({ ...spec, argv: ["--checkpoint_path", "c1", "--set", "a=1", "--set", "b=2"] });
    expect(values.checkpoint).toBe("c1");
    expect(values.set).toEqual(["a=1", "b=2"]);
    expect(values.json).toBe(false);
  });
  test("unknown flag is a UserError with exit code 2", () => {
    try {
      parseTaskArgs({ ...spec, argv: ["--chekpoint", "x"] });
      throw new Error("should have thrown");
    } catch (err) {
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).exitCode).toBe(2);
      expect((err as Error).message).toContain("--chekpoint");
    }
  });
  test("--help prints help and exits 0", () => {
    let out = "";
    let code = -1;
    expect(() =>
      parseTaskArgs({
        ...spec,
        argv: ["--help"],
        stdout: { write: (s: string) => (out += s) },
        exit: ((c: number) => {
          code = c;
          throw new Error("exited");
        }) as (c: number) => never,
      }),
    ).toThrow("exited");
    expect(code).toBe(0);
    expect(out).toContain("bun run tasks/demo.ts");
    expect(out).toContain("--checkpoint");
    expect(out).toContain("--checkpoint_path");
    expect(renderHelp(spec)).toContain("(repeatable)");
  });
});
