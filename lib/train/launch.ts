// Stage 4 of a launch, "launch": a child in its own process group (the demo assets, then
// torchrun), its output teed line by line, its exit awaited, and nothing left behind after it.
import type { ChildProcess, SpawnOptions } from "node:child_process";
import type { LineTee } from "./output.ts";
import { ProcessTree } from "./process_tree.ts";

export type SpawnFn = (command: string, args: string[], options: SpawnOptions) => ChildProcess;

export type ChildExit = { code: number | null; signal: NodeJS.Signals | null };

export interface Supervised {
  child: ChildProcess;
  tree: ProcessTree | null;
  exited: Promise<ChildExit>;
}

export function startChild(
  spawnFn: SpawnFn,
  command: string,
  args: string[],
  env: Record<string, string>,
  tee: LineTee,
): Supervised {
  const child = spawnFn(command, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const tree = typeof child.pid === "number" ? new ProcessTree(child.pid) : null;
  child.stdout?.on("data", (d) => tee.write(d));
  child.stderr?.on("data", (d) => tee.write(d));
  // Workers live in their own sessions: remember them while they run.
  const timer = setInterval(() => tree?.snapshot(), 1000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    let done = false;
    const settle = async (r: { code: number | null; signal: NodeJS.Signals | null }) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      tree?.killAll("SIGKILL"); // anything the child left behind
      // Let the pipes drain; a surviving grandchild could hold them open, so never wait forever.
      await Promise.race([
        new Promise<void>((r2) => (child.stdout?.readableEnded !== false && child.stderr?.readableEnded !== false ? r2() : child.once("close", () => r2()))),
        new Promise<void>((r2) => setTimeout(r2, 1500)),
      ]);
      child.stdout?.destroy();
      child.stderr?.destroy();
      tee.flush();
      res(r);
    };
    child.once("error", (err) => {
      tee.write(`failed to start ${command}: ${err.message}\n`);
      void settle({ code: 127, signal: null });
    });
    child.once("exit", (code, signal) => void settle({ code, signal }));
  });
  return { child, tree, exited };
}

/** The demo's tiny model and digits data, built by the engine from resolved_config.json. */
export function demoAssetsArgs(resolvedPath: string): string[] {
  return ["-m", "qc_engine.demo_assets", "--resolved", resolvedPath];
}

/** torchrun from its argv; an empty argv is a bug in the caller, not a user error. */
export function startTorchrun(spawnFn: SpawnFn, argv: string[], env: Record<string, string>, tee: LineTee): Supervised {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("startTorchrun: empty launch command");
  return startChild(spawnFn, cmd, args, env, tee);
}
