// Stage 1 of a launch, "resolve and check": every input the run reads (model, data, labels) and
// the output_dir, checked before anything is written or started, and reported together: a new user
// sees every missing file at once instead of one per torchrun start.
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

/** Refusals about output_dir: a file in its place, an unwritable parent, another config's checkpoints. */
function checkOutputDirInput(p: { outputDir: string; configHash: string; resume?: boolean; overwrite?: boolean }): { problems: InputProblem[]; previous: OutputDirState | null } {
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
}): OutputDirState {
  const { problems, previous } = findInputProblems(p);
  if (problems.length > 0 || previous === null) throw new UserError(formatInputProblems(problems, p.sourceFile), { exitCode: 2 });
  return previous;
}
