// DeepSpeed checkpoint(s) -> hf_model/ (full weights, chosen dtype, sharded safetensors, processor, code).
import { parseTask } from "../lib/util/cli.ts";
import { runTask } from "../lib/util/errors.ts";
import { EXPORT_DTYPES, formatExportReport, runExport } from "../lib/export/export.ts";
import { createExportProgress } from "../lib/export/progress.ts";

await runTask(async () => {
  const values = parseTask({
    name: "export",
    summary: "write hf_model/ from a checkpoint's DeepSpeed state (any ZeRO stage), loadable by transformers",
    usage: ["--checkpoint DIR [options]", "--all OUTPUT_DIR [--force] [options]"],
    options: {
      checkpoint: { type: "string", valueName: "DIR", help: "One complete checkpoint-N folder (re-exports it even if it has hf_model/).", alias: ["checkpoint_path"] },
      all: { type: "string", valueName: "OUTPUT_DIR", help: "Every complete checkpoint of a run that has DeepSpeed state but no hf_model/ yet." },
      force: { type: "boolean", help: "With --all: re-export checkpoints that already have hf_model/." },
      dtype: { type: "string", default: "auto", choices: EXPORT_DTYPES, valueName: "auto|bf16|fp16|fp32", help: "dtype of the exported weights; auto = the training precision." },
      "max-shard-size": { type: "string", default: "5GB", valueName: "SIZE", help: "Largest safetensors shard (e.g. 5GB, 500MB)." },
      verify: { type: "boolean", help: "Also load the export with from_pretrained and compare its logits on a few validation images with the source state." },
      merge: { type: "boolean", help: "LoRA checkpoint: merge adapter/ into the base model into hf_model/ (what an export of a LoRA checkpoint always does; refused for a full fine-tune)." },
      "verify-samples": { type: "int", min: 1, default: 4, valueName: "N", help: "Validation images used by --verify." },
      json: { type: "boolean", help: "Print the outcomes as JSON." },
    },
    examples: [
      "bun run tasks/export.ts --checkpoint out/run/checkpoint-800 --dtype bf16 --verify",
      "bun run tasks/export.ts --all out/run --max-shard-size 2GB",
    ],
    extraHelp:
      "Written into hf_model.tmp/, checked (safetensors headers: tensors, parameters, dtype), then swapped in\n" +
      "atomically: on any failure (memory, disk, a missing shard, a kill) the previous hf_model/ stays as it was.\n" +
      "A slim checkpoint (no DeepSpeed state) is re-exported from its own hf_model/ (new dtype or shard size).",
  });
  const progress = createExportProgress();
  try {
    const res = await runExport({
      checkpoint: values.checkpoint,
      all: values.all,
      force: values.force,
      options: {
        dtype: values.dtype,
        maxShardSize: values["max-shard-size"],
        verify: values.verify,
        verifySamples: values["verify-samples"],
        merge: values.merge,
      },
      onEvent: (ev, ckpt) => progress.onEvent(ev, ckpt),
      onLog: (line, stream) => {
        if (stream === "stdout") process.stderr.write(`${line}\n`);
      },
    });
    progress.stop();
    if (values.json) process.stdout.write(JSON.stringify(res, null, 2) + "\n");
    else process.stdout.write(formatExportReport(res));
    for (const o of res.outcomes) {
      if (o.status === "failed" && o.stderrTail.length && !values.json) {
        process.stderr.write(`--- ${o.name}: last lines of the engine's stderr ---\n${o.stderrTail.slice(-15).join("\n")}\n`);
      }
    }
    return res.exitCode;
  } finally {
    progress.stop();
  }
});
