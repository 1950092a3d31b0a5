// bun run tasks/predict.ts --checkpoint <checkpoint-N | hf_model folder | Hub id> --images <folder | JSONL | files...>
import { parseTask } from "../lib/util/cli.ts";
import { runTask } from "../lib/util/errors.ts";
import { formatPredictReport, predict } from "../lib/predict/predict.ts";

await runTask(async () => {
  const values = parseTask({
    name: "predict",
    summary: "classify images with a trained classifier (top-k labels and probabilities per image)",
    usage: ["--checkpoint C --images PATH [PATH ...] [--out predictions.jsonl|.csv] [options]"],
    positionals: { valueName: "PATH ...", help: "More image files, folders or JSONL (after --images a.png: b.png c.png ...)." },
    options: {
      checkpoint: { type: "string", valueName: "C", help: "A checkpoint-N folder, an hf_model/ folder, or a Hub model id (namespace/name)." },
      revision: { type: "string", valueName: "REV", help: "Hub revision (branch, tag or commit) for a Hub id. Default: main." },
      images: { type: "strings", valueName: "PATH", help: "Image files, folders (every image below, sorted) or a JSONL ({\"image\", \"label\"?}); a label gives the accuracy." },
      out: { type: "string", valueName: "FILE", help: "Where the predictions go: .jsonl or .csv (written whole, via a temporary file).", default: "predictions.jsonl" },
      "top-k": { type: "int", min: 1, valueName: "K", help: "Labels kept per image, with their probabilities.", default: 5 },
      "batch-size": { type: "int", min: 1, valueName: "B", help: "Images per forward pass and process.", default: 8 },
      "nproc-per-node": { type: "int", min: 1, valueName: "N", help: "Data-parallel prediction with N processes (torchrun), e.g. one per GPU." },
      "on-bad-image": { type: "string", choices: ["error", "skip"] as const, valueName: "POLICY", help: "error: stop at a missing/undecodable image (nothing written); skip: leave it out and count it.", default: "error" },
      json: { type: "boolean", help: "Print the summary as JSON on stdout (progress stays on stderr)." },
    },
    examples: [
      "bun run tasks/predict.ts --checkpoint out/demo/checkpoint-60 --images data/demo/images --out preds.csv",
      "bun run tasks/predict.ts --checkpoint out/run/checkpoint-800/hf_model --images data/val.jsonl --top-k 3",
      "bun run tasks/predict.ts --checkpoint me/food101-qwen --revision checkpoint-800 --images a.jpg b.jpg",
    ],
  });
  const summary = await predict({
    checkpoint: values.checkpoint ?? "",
    revision: values.revision,
    images: [...values.images, ...values.positionals],
    out: values.out,
    topK: values["top-k"],
    batchSize: values["batch-size"],
    nprocPerNode: values["nproc-per-node"],
    onBadImage: values["on-bad-image"],
  });
  process.stdout.write(values.json ? JSON.stringify(summary, null, 2) + "\n" : formatPredictReport(summary));
  return 0;
});
