import { spawn as nodeSpawn } from "node:child_process";
import { createInterface } from "node:readline";
import { UserError } from "../util/errors.ts";
import { engineEnv } from "../util/engine_process.ts";
import type { DeepDecoder } from "./check.ts";
import { PROJECT_ROOT, projectPython } from "../util/python.ts";
import type { DeepDecodeResult } from "../../generated/messages.ts";

const MODULE = "qc_engine.tools.deep_decode";

/**
 * A DeepDecoder that streams the paths to `python -m qc_engine.tools.deep_decode` (Pillow, as the engine opens
 * images) and reads one verdict per image back. Spawned from an argument list.
 */
export function makeDeepDecoder(params: { python?: string; spawn?: typeof nodeSpawn } = {}): DeepDecoder {
  const python = params.python ?? projectPython();
  const spawn = params.spawn ?? nodeSpawn;
  return async ({ paths, onDone }) => {
    const failures = new Map<string, string>();
    if (paths.length === 0) return failures;
    const child = spawn(python, ["-m", MODULE], { stdio: ["pipe", "pipe", "pipe"], env: engineEnv(), cwd: PROJECT_ROOT });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d.toString()));
    const spawnError = new Promise<never>((_, reject) =>
      child.on("error", (err) =>
        reject(new UserError(`--deep needs Python with Pillow; could not start ${python}: ${err.message}`, { hint: "run `bun run setup` (creates .venv)" })),
      ),
    );
    const exited = new Promise<number>((res) => child.on("close", (code) => res(code ?? 1)));
    child.stdin!.on("error", () => {}); // the exit code tells the story
    const feed = (async () => {
      for (const p of paths) {
        if (!child.stdin!.write(JSON.stringify(p) + "\n")) await new Promise((r) => child.stdin!.once("drain", r));
      }
      child.stdin!.end();
    })();
    let done = 0;
    const read = (async () => {
      for await (const line of createInterface({ input: child.stdout! })) {
        const { i, error } = JSON.parse(line) as DeepDecodeResult;
        if (error) failures.set(paths[i], error);
        onDone?.(++done);
      }
    })();
    const code = await Promise.race([Promise.all([feed, read]).then(() => exited), spawnError]);
    if (code !== 0 || done !== paths.length) {
      throw new UserError(`--deep: the decoder (${python} -m ${MODULE}) stopped after ${done} of ${paths.length} images (exit ${code}): ${stderr.trim().slice(-500)}`);
    }
    return failures;
  };
}
