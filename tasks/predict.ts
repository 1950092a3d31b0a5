// bun run tasks/predict.ts --checkpoint <checkpoint-N | hf_model folder | Hub id> --images <folder | JSONL | files...>
import { parseTaskArgs } from "../lib/util/args.ts";
import { UserError, runTask } from "../lib/util/errors.ts";
import { formatPredictReport, predict, type BadImagePolicy } from "../lib/predict/predict.ts";

function intFlag(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(String(v)) || Number(v) < 1) throw new UserError(`--${flag} must be a whole number >= 1, got '${v}'`);
  return Number(v);
}

await runTask(async () => {
  const { values, positionals } = parseTaskArgs({
    name: "predict",
    summary: "classify images with a trained classifier (top-k labels and probabilities per image)",
    usage: ["--checkpoint C --images PATH [PATH ...] [--out predictions.jsonl|.csv] [options]"],
    allowPositionals: true, // --images a.png b.png c.png: the files after the first
    options: {
      checkpoint: { type: "string", valueName: "C", description: "A checkpoint-N folder, an hf_model/ folder, or a Hub model id (namespace/name)." },
      revision: { type: "string", valueName: "REV", description: "Hub revision (branch, tag or commit) for a Hub id. Default: main." },
      images: { type: "string", multiple: true, valueName: "PATH", description: "Image files, folders (every image below, sorted) or a JSONL ({\"image\", \"label\"?}); a label gives the accuracy." },
      out: { type: "string", valueName: "FILE", description: "Where the predictions go: .jsonl or .csv (written whole, via a temporary file).", default: "predictions.jsonl" },
      "top-k": { type: "string", valueName: "K", description: "Labels kept per image, with their probabilities.", default: "5" },
      "batch-size": { type: "string", valueName: "B", description: "Images per forward pass and process.", default: "8" },
      "nproc-per-node": { type: "string", valueName: "N", description: "Data-parallel prediction with N processes (torchrun), e.g. one per GPU." },
      "on-bad-image": { type: "string", valueName: "POLICY", description: "error: stop at a missing/undecodable image (nothing written); skip: leave it out and count it.", default: "error" },
      json: { type: "boolean", description: "Print the summary as JSON on stdout (progress stays on stderr)." },
    },
    examples: [
      "bun run tasks/predict.ts --checkpoint out/demo/checkpoint-60 --images data/demo/images --out preds.csv",
      "bun run tasks/predict.ts --checkpoint out/run/checkpoint-800/hf_model --images data/val.jsonl --top-k 3",
      "bun run tasks/predict.ts --checkpoint me/food101-qwen --revision checkpoint-800 --images a.jpg b.jpg",
    ],
  });
  const images = [...((values.images as string[] | undefined) ?? []), ...positionals];
  const summary = await predict({
    checkpoint: (values.checkpoint as string | undefined) ?? "",
    revision: values.revision as string | undefined,
    images,
    out: values.out as string,
    topK: intFlag(values["top-k"], "top-k"),
    batchSize: intFlag(values["batch-size"], "batch-size"),
    nprocPerNode: intFlag(values["nproc-per-node"], "nproc-per-node"),
    onBadImage: values["on-bad-image"] as BadImagePolicy,
  });
  process.stdout.write(values.json ? JSON.stringify(summary, null, 2) + "\n" : formatPredictReport(summary));
  return 0;
});
