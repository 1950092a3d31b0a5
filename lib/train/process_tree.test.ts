import { expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { descendants, ProcessTree, readProc } from "./process_tree.ts";

const alive = (pid: number) => readProc(pid) !== null;

test("killAll reaches a grandchild that left for its own session (as torchrun's workers do)", async () => {
  // bash (own group) -> setsid sleep (own session) ; bash prints the grandchild's pid
  const child = spawn("bash", ["-c", "setsid sleep 300 & echo $!; wait"], { detached: true, stdio: ["ignore", "pipe", "ignore"] });
  const grandchild = await new Promise<number>((r) => child.stdout!.once("data", (d) => r(Number(String(d).trim()))));
  await new Promise((r) => setTimeout(r, 100));
  const tree = new ProcessTree(child.pid!);
  expect(descendants(child.pid!).map((p) => p.pid)).toContain(grandchild);
  expect(readProc(grandchild)!.pgid).not.toBe(child.pid!); // its own group: killing -pid would miss it
  tree.snapshot();
  const exited = new Promise((r) => child.once("exit", r));
  expect(tree.killAll()).toBeGreaterThanOrEqual(2);
  await exited;
  for (let i = 0; i < 50 && alive(grandchild); i++) await new Promise((r) => setTimeout(r, 20));
  expect(alive(grandchild)).toBe(false);
});

test("readProc parses /proc/self/stat", () => {
  const me = readProc(process.pid)!;
  expect(me.pid).toBe(process.pid);
  expect(me.ppid).toBe(Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ")[1]));
  expect(me.start).toBeGreaterThan(0);
});
