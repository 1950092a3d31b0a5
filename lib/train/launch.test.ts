import { expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { startChild, startTorchrun, type SpawnFn } from "./launch.ts";
import { LineTee } from "./output.ts";

const BUN = process.execPath;

test("a child in its own process group: output teed line by line with secrets redacted, exit code returned", async () => {
  const lines: string[] = [];
  const tee = new LineTee([(t) => void lines.push(t)], ["hf_secret42"]);
  const calls: { detached?: boolean }[] = [];
  const spawnFn: SpawnFn = (cmd, args, options) => (calls.push({ detached: options.detached }), spawn(cmd, args, options));
  const child = startChild(spawnFn, BUN, ["-e", "console.log('token hf_secret42'); console.error('warn'); process.exit(3)"], { ...(process.env as Record<string, string>) }, tee);
  const r = await child.exited;
  expect(r.code).toBe(3);
  expect(calls).toEqual([{ detached: true }]);
  expect(lines.join("")).toContain("token ***\n");
  expect(lines.join("")).toContain("warn\n");
});

test("a program that cannot start: exit 127 and a message, no throw", async () => {
  const lines: string[] = [];
  const r = await startChild(spawn as unknown as SpawnFn, "/no/such/python", [], {}, new LineTee([(t) => void lines.push(t)], [])).exited;
  expect(r.code).toBe(127);
  expect(lines.join("")).toContain("failed to start /no/such/python");
});

test("torchrun from an empty argv is a caller bug", () => {
  expect(() => startTorchrun(spawn as unknown as SpawnFn, [], {}, new LineTee([], []))).toThrow("empty launch command");
});
