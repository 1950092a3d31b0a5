// Applies a retention policy to a run's checkpoints: keep, slim (drop the optimizer state) or delete.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseTask } from "../lib/util/cli.ts";
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
  const values = parseTask({
    name: "prune",
    summary: "keep, slim or delete a run's checkpoints by a retention policy (dry-run first!)",
    usage: ["--output-dir DIR [--keep POLICY] [--slim N] [--dry-run] [--json]"],
    options: {
      "output-dir": { type: "string", valueName: "DIR", help: "The run's training.output_dir (holds checkpoint-N/ folders)." },
      keep: {
        type: "string",
        valueName: "POLICY",
        help:
          "all | last:N | best:N (N best by the tracked metric + the newest) | top:K:<metric>; several joined by '+'. " +
          "Default: the run's own policy from resolved_config.json.",
      },
      slim: {
        type: "int",
        min: 1,
        valueName: "N",
        help: "Keep the DeepSpeed optimizer state (needed to resume) only in the newest N complete checkpoints; older kept ones keep hf_model/ only (never one without hf_model/).",
      },
      "dry-run": { type: "boolean", help: "Print what would be kept, slimmed or deleted and the bytes freed; change nothing." },
      json: { type: "boolean", help: "Print the result as JSON instead of a table." },
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
  if (!outputDir) {
    throw new UserError("--output-dir is required", { hint: "bun run tasks/prune.ts --output-dir out/run --keep best:2 --dry-run" });
  }
  const dir = resolve(outputDir);
  const keep = values.keep ?? runPolicy(dir);
  const policy = parsePolicy(keep, "--keep");
  const result = applyRetention({ outputDir: dir, policy, slimKeep: values.slim ?? 0, dryRun: values["dry-run"] });
  if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  else process.stdout.write(formatRetentionTable(result));
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  return result.failed ? 1 : 0;
});
