// bun run tasks/push.ts --checkpoint OUT/checkpoint-N --repo ns/name | --all OUT | --best OUT [options]
import { parseTask } from "../lib/util/cli.ts";
import { runTask } from "../lib/util/errors.ts";
import { runPush } from "../lib/hub/run_push.ts";

await runTask(async () => {
  const values = parseTask({
    name: "push",
    summary: "push checkpoints to the Hugging Face Hub (model, metadata, a model card); idempotent and resumable",
    usage: [
      "--checkpoint OUT/checkpoint-N --repo NS/NAME [options]",
      "--all OUT --repo NS/NAME [options]",
      "--best OUT --repo NS/NAME [options]",
    ],
    options: {
      checkpoint: { type: "string", valueName: "PATH", help: "Push this checkpoint-N folder (to --revision, default main)." },
      all: { type: "string", valueName: "OUT", help: "Push every complete checkpoint of a run, each to its branch checkpoint-<step>, and the best one (the final one when nothing was evaluated) to main." },
      best: { type: "string", valueName: "OUT", help: "Push only the best checkpoint of a run (the final one when nothing was evaluated) to main." },
      repo: { type: "string", valueName: "NS/NAME", help: "Target model repository; created when missing. Default: hub.repo_id of the run's config." },
      revision: { type: "string", valueName: "BRANCH", help: "Branch for --checkpoint/--best and for the best one with --all; created from main when missing. Default: main." },
      private: { type: "boolean", help: "Create the repository as private (default: hub.private of the run's config)." },
      "adapter-only": { type: "boolean", help: "LoRA checkpoint: push adapter/ alone (peft format; loads with peft on top of the base model) instead of the merged hf_model/." },
      "create-pr": { type: "boolean", help: "Open a pull request against the branch instead of committing to it (checkpoint-<step> branches are still committed to)." },
      "dry-run": { type: "boolean", help: "List the files, sizes and target branches; send nothing (no token needed)." },
      "token-file": { type: "string", valueName: "FILE", help: "File holding the hf_... token (wins over HF_TOKEN). Default: HF_TOKEN, else $HF_HOME/token (~/.cache/huggingface/token)." },
      "hub-url": { type: "string", valueName: "URL", help: "Hub endpoint. Default: hub.endpoint of the run's config, else https://huggingface.co." },
    },
    examples: [
      "bun run tasks/push.ts --checkpoint out/run/checkpoint-800 --repo me/food101-qwen",
      "bun run tasks/push.ts --all out/run --repo me/food101-qwen --private",
      "bun run tasks/push.ts --best out/run --repo me/food101-qwen --create-pr",
      "bun run tasks/push.ts --all out/run --repo me/food101-qwen --dry-run",
    ],
    extraHelp:
      "The token is never printed or written anywhere. Files already on the branch (same content) are not sent again, so\n" +
      "running the same command after an interruption finishes the push. Exit codes: 0 pushed (or up to date),\n" +
      "1 a push failed (network, Hub error; the report says how to finish it), 2 bad input or a refused token.",
  });
  const { exitCode } = await runPush({
    checkpoint: values.checkpoint,
    all: values.all,
    best: values.best,
    repo: values.repo,
    revision: values.revision,
    private: values.private,
    createPr: values["create-pr"],
    adapterOnly: values["adapter-only"],
    dryRun: values["dry-run"],
    tokenFile: values["token-file"],
    hubUrl: values["hub-url"],
  });
  return exitCode;
});
