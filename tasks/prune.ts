// Applies a retention policy to a run's checkpoints: keep, slim (drop the optimizer state) or delete.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseTaskArgs } from "../lib/util/args.ts";
import { runTask, UserError } from "../lib/util/errors.ts";
import { applyRetention, defaultPolicy, formatRetentionTable, parsePolicy } from "../lib/checkpoints/retention.ts";

function runPolicy(outputDir: string): string {
  const path = join(outputDir, "resolved_config.json");
  if (!existsSync(path)) {
    throw new UserError(`--keep not given and ${path} does not exist`, {
      hint: "pass --keep all|last:N|best:N|top:K:<metric>",
    });
  }
  return defaultPolicy(JSON.parse(readFileSync(path, "utf8")).config ?? {});
}

await runTask(() => {
  const { values } = parseTaskArgs({
    name: "prune",
    summary: "keep, slim or delete a run's checkpoints by a retention policy (dry-run first!)",
    usage: ["--output-dir DIR [--keep POLICY] [--slim N] [--dry-run] [--json]"],
    options: {
      "output-dir": { type: "string", valueName: "DIR", description: "The run's training.output_dir (holds checkpoint-N/ folders)." },
      keep: {
        type: "string",
        valueName: "POLICY",
        description:
          "all | last:N | best:N (N best by the tracked metric + the newest) | top:K:<metric>; several joined by '+'. " +
          "Default: the run's own policy from resolved_config.json.",
      },
      slim: {
        type: "string",
        valueName: "N",
        description: "Keep the DeepSpeed optimizer state (needed to resume) only in the newest N complete checkpoints; older kept ones keep hf_model/ only (never one without hf_model/).",
      },
      "dry-run": { type: "boolean", description: "Print what would be kept, slimmed or deleted and the bytes freed; change nothing." },
      json: { type: "boolean", description: "Print the result as JSON instead of a table." },
    },
    examples: [
      "bun run tasks/prune.ts --output-dir out/run --keep best:2 --dry-run",
      "bun run tasks/prune.ts --output-dir out/run --keep last:3 --slim 1",
      "bun run tasks/prune.ts --output-dir out/run --keep top:3:macro_f1",
    ],
    extraHelp:
      "Never touched: folders without training_info.json, symlinks, anything outside --output-dir.\n" +
      "Never deleted: the newest complete checkpoint and the tracked best one.\n" +
      "Metrics: newest full evaluation in eval_results.json, else other/partial evaluations, else training_info.json.",
  });
  const outputDir = values["output-dir"];
  if (typeof outputDir !== "string" || !outputDir) {
    throw new UserError("--output-dir is required", { hint: "bun run tasks/prune.ts --output-dir out/run --keep best:2 --dry-run" });
  }
  const dir = resolve(outputDir);
  const keep = typeof values.keep === "string" ? values.keep : runPolicy(dir);
  const policy = parsePolicy(keep, "--keep");
  let slimKeep = 0;
  if (values.slim !== undefined) {
    const s = String(values.slim);
    if (!/^[1-9][0-9]*$/.test(s)) throw new UserError(`--slim ${s}: expected a whole number >= 1`, { hint: "e.g. --slim 1 keeps the optimizer state in the newest checkpoint only" });
    slimKeep = Number(s);
  }
  const result = applyRetention({ outputDir: dir, policy, slimKeep, dryRun: values["dry-run"] === true });
  if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  else process.stdout.write(formatRetentionTable(result));
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  return result.failed ? 1 : 0;
});
