// Stage 1 of a launch, "resolve and check": every input the run reads (model, data, labels) and
// the output_dir, checked before anything is written or started, and reported together: a new user
// sees every missing file at once instead of one per torchrun start.
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute } from "node:path";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import { parseYaml } from "../config/yaml.ts";
import { checkLoraInputs } from "../preflight/lora.ts";
import { checkOutputDir, type OutputDirState } from "../preflight/output_dir.ts";
import { UserError } from "../util/errors.ts";

export interface InputProblem {
  /** Config key ("data.train_jsonl"), or a flag. */
  key: string;
  message: string;
  fix: string;
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** `org/name` (or `name`-less `org/name@rev`): what a Hugging Face Hub model id looks like. */
export const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/**
 * Can the engine load model.pretrained_name? Today: a local folder with config.json. This is the
 * one place model sources are decided: Hub ids (being added separately) extend it here.
 */
export function checkModelSource(params: { name: string; generated: boolean }): InputProblem | null {
  const { name } = params;
  const key = "model.pretrained_name";
  if (isDir(name)) {
    if (existsSync(`${name}/config.json`)) return null;
    return { key, message: `model folder ${name} has no config.json`, fix: `point ${key} at the folder that save_pretrained wrote (it holds config.json and the weights)` };
  }
  if (existsSync(name)) return { key, message: `model ${name} is a file, not a model folder`, fix: `set ${key} to the folder that holds config.json` };
  if (params.generated) return null; // demo.build_tiny_model writes it before launch
  // A Hub id (org/name): lib/hub/model_source.ts checks repo, revision and token before this stage.
  if (!isAbsolute(name) && HUB_ID.test(name)) return null;
  return { key, message: `model folder ${name} does not exist`, fix: `set ${key} to a local folder with config.json (or demo.build_tiny_model: true for a tiny test model)` };
}

function checkDataFile(key: string, path: string, made: string): InputProblem | null {
  if (isFile(path)) return null;
  if (existsSync(path)) return { key, message: `${path} is not a file`, fix: `set ${key} to a JSONL/JSON file` };
  return { key, message: `${path} does not exist`, fix: `create it (${made}) or set ${key} to an existing file` };
}

/** What the engine's Python can run: the flash_attn package, a CUDA GPU of compute capability >= 8. */
export interface AttentionProbe {
  flashAttn: boolean;
  cudaCapable: boolean;
}

const PROBE_CODE = [
  "import importlib.util, json, torch",
  "ok = torch.cuda.is_available() and torch.cuda.get_device_capability(0)[0] >= 8",
  "print(json.dumps({'flashAttn': importlib.util.find_spec('flash_attn') is not None, 'cudaCapable': bool(ok)}))",
].join("\n");

/** Asks `python` (a few seconds: it imports torch); null when it cannot answer (the engine checks again). */
export function probeAttention(python: string): AttentionProbe | null {
  const r = spawnSync(python, ["-c", PROBE_CODE], { encoding: "utf8", timeout: 60_000 });
  try {
    return r.status === 0 ? (JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as AttentionProbe) : null;
  } catch {
    return null;
  }
}

/** model.attn_implementation: flash_attention_2 needs the package and a capable GPU (probed only when asked for). */
export function checkAttention(p: { requested?: string; probe: () => AttentionProbe | null }): InputProblem | null {
  if (p.requested !== "flash_attention_2") return null;
  const found = p.probe();
  if (found === null) return null;
  const key = "model.attn_implementation";
  if (!found.flashAttn) return { key, message: "flash_attention_2 asked for, but the engine's Python has no flash_attn package", fix: `install engine/requirements-gpu.txt on a GPU machine (scripts/setup.sh does), or set ${key}: auto (sdpa where flash-attn is missing)` };
  if (!found.cudaCapable) return { key, message: "flash_attention_2 needs a CUDA GPU of compute capability >= 8.0; none is visible", fix: `set ${key}: auto or sdpa` };
  return null;
}

/** Refusals about output_dir: a file in its place, an unwritable parent, another config's checkpoints. */
function checkOutputDirInput(p: { outputDir: string; configHash: string; resume?: boolean; overwrite?: boolean; owner?: boolean }): { problems: InputProblem[]; previous: OutputDirState | null } {
  const key = "training.output_dir";
  if (existsSync(p.outputDir) && !statSync(p.outputDir).isDirectory()) {
    return { problems: [{ key, message: `${p.outputDir} exists and is not a folder`, fix: `choose another ${key} (--set ${key}=...)` }], previous: null };
  }
  let at = p.outputDir;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  try {
    accessSync(at, constants.W_OK);
  } catch {
    return { problems: [{ key, message: `${at} is not writable, so ${p.outputDir} cannot be written`, fix: `choose a writable ${key} (--set ${key}=...)` }], previous: null };
  }
  // Another node's launcher (owner false) leaves what output_dir holds to node 0's: it may be writing there right now.
  if (p.owner === false) return { problems: [], previous: { state: "new", checkpoints: [], hashes: [] } };
  try {
    return { problems: [], previous: checkOutputDir(p) };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return { problems: [{ key, message: e.message, fix: e.hint ?? `choose another ${key}` }], previous: null };
  }
}

/** Every input problem of a run, in config order; the demo's generated inputs are not refused. */
export function findInputProblems(p: {
  config: QwenClassifyConfig;
  outputDir: string;
  configHash: string;
  resume?: boolean;
  overwrite?: boolean;
  /** false: a node other than node 0 of several; output_dir's contents are node 0's to judge. */
  owner?: boolean;
  /** Probe of the engine's Python for model.attn_implementation (default: none, nothing probed). */
  probeAttention?: () => AttentionProbe | null;
}): { problems: InputProblem[]; previous: OutputDirState | null } {
  const { config } = p;
  const d = config.data;
  const dataGenerated = config.demo?.build_digits_dataset === true && !existsSync(d.train_jsonl);
  const made = "bun run tasks/prepare.ts writes it";
  const problems = [
    checkModelSource({ name: config.model.pretrained_name, generated: config.demo?.build_tiny_model === true }),
    dataGenerated ? null : checkDataFile("data.train_jsonl", d.train_jsonl, made),
    dataGenerated ? null : checkDataFile("data.val_jsonl", d.val_jsonl, made),
    dataGenerated || !d.labels_file ? null : checkDataFile("data.labels_file", d.labels_file, made),
    p.probeAttention ? checkAttention({ requested: config.model.attn_implementation, probe: p.probeAttention }) : null,
  ].filter((x): x is InputProblem => x !== null);
  problems.push(...checkLoraInputs({ config }));
  const out = checkOutputDirInput(p);
  return { problems: [...problems, ...out.problems], previous: out.previous };
}

/** Line of a key in the config file, when the file sets it (the report points there). */
function lineOf(sourceFile: string | null, key: string, read: (p: string) => string): number | null {
  if (!sourceFile) return null;
  try {
    return parseYaml({ text: read(sourceFile), file: sourceFile }).lines.get(key) ?? null;
  } catch {
    return null;
  }
}

export function formatInputProblems(problems: InputProblem[], sourceFile: string | null, read: (p: string) => string = (f) => readFileSync(f, "utf8")): string {
  const n = problems.length;
  const lines = [`the run's inputs have ${n} problem${n === 1 ? "" : "s"}; nothing was written and nothing was started:`];
  problems.forEach((q, i) => {
    const line = lineOf(sourceFile, q.key, read);
    const where = line !== null && sourceFile ? `${sourceFile}:${line}: ` : "";
    lines.push(`  ${i + 1}. ${where}${q.key}: ${q.message}`, `     fix: ${q.fix}`);
  });
  return lines.join("\n");
}

/** Stage 1: throws one report (exit 2) naming every problem; returns what output_dir already holds. */
export function checkRunInputs(p: {
  config: QwenClassifyConfig;
  outputDir: string;
  configHash: string;
  sourceFile: string | null;
  resume?: boolean;
  overwrite?: boolean;
  owner?: boolean;
  /** The engine's Python: probed for flash-attn when model.attn_implementation is flash_attention_2. */
  python?: string;
  probeAttention?: () => AttentionProbe | null;
}): OutputDirState {
  const python = p.python;
  const probe = p.probeAttention ?? (python ? () => probeAttention(python) : undefined);
  const { problems, previous } = findInputProblems({ ...p, probeAttention: probe });
  if (problems.length > 0 || previous === null) throw new UserError(formatInputProblems(problems, p.sourceFile), { exitCode: 2 });
  return previous;
}
