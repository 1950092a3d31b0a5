// The config resolution contract: schema default < YAML file < --set < forced overrides.
import { readFileSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { homedir } from "node:os";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import { parseYaml } from "./yaml.ts";
import { validateConfig } from "./schema.ts";
import { parseSets, applySets } from "./set.ts";
import { crossCheck, crossWarnings } from "./crosscheck.ts";
import { applyOverrides, type OverrideRow, type ValueSource } from "./overrides.ts";
import { ConfigError, sortProblems, type ConfigProblem } from "./problems.ts";
import { canonicalJson, getPath, hasPath, isObject, setPath, type Obj } from "./paths.ts";

export type { QwenClassifyConfig, OverrideRow };

export const REPO_ROOT = resolve(dirname(import.meta.path), "..", "..");
export const DEMO_CONFIG_PATH = join(REPO_ROOT, "configs", "demo.yaml");

export interface ResolveParams {
  /** YAML file; null/undefined -> the embedded default configs/demo.yaml (found in the repo, not the cwd) */
  configPath?: string | null;
  /** "a.b=value" strings from --set, applied in order */
  sets?: readonly string[];
  /** relative config paths (and the config file) are resolved against this; default process.cwd() */
  cwd?: string;
  readFile?: (path: string) => string;
  exists?: (path: string) => boolean;
}

export interface ResolvedConfig {
  config: QwenClassifyConfig;
  overrides: OverrideRow[];
  warnings: string[];
  sourceFile: string | null;
  configHash: string;
}

function expandHome(p: string): string {
  return p === "~" || p.startsWith("~/") ? join(homedir(), p.slice(1)) : p;
}

/** Is model.pretrained_name a local path (made absolute) rather than a Hub id (kept)? */
function looksLikePath(name: string, config: Obj, cwd: string, exists: (p: string) => boolean): boolean {
  if (isAbsolute(name) || name.startsWith(".") || name.startsWith("~")) return true;
  if (getPath(config, "demo.build_tiny_model") === true) return true;
  return exists(resolve(cwd, name));
}

/** Makes the path options absolute against cwd (see docs/architecture.md). */
export function absolutizePaths(config: Obj, cwd: string, exists: (p: string) => boolean = existsSync): void {
  const abs = (p: string) => resolve(cwd, expandHome(p));
  const name = getPath(config, "model.pretrained_name");
  if (typeof name === "string" && looksLikePath(name, config, cwd, exists)) setPath(config, "model.pretrained_name", abs(name));
  for (const path of ["data.train_jsonl", "data.val_jsonl", "data.labels_file", "training.output_dir"]) {
    const v = getPath(config, path);
    if (typeof v === "string" && v !== "") setPath(config, path, abs(v));
  }
  const resume = getPath(config, "training.resume_from_checkpoint");
  if (typeof resume === "string" && resume !== "" && resume !== "auto") setPath(config, "training.resume_from_checkpoint", abs(resume));
}

export function configHash(config: unknown): string {
  return createHash("sha256").update(canonicalJson(config)).digest("hex");
}

/** Line of a path in the file, or of its nearest ancestor that is there. */
function lineFor(lines: Map<string, number>, path: string): number | undefined {
  const parts = path.split(".");
  while (parts.length) {
    const line = lines.get(parts.join("."));
    if (line) return line;
    parts.pop();
  }
  return undefined;
}

export function resolveConfig(params: ResolveParams = {}): ResolvedConfig {
  const cwd = params.cwd ?? process.cwd();
  const readFile = params.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const exists = params.exists ?? existsSync;
  const sets = params.sets ?? [];
  const sourceFile = params.configPath ? resolve(cwd, params.configPath) : DEMO_CONFIG_PATH;
  const problems: ConfigProblem[] = [];

  // 1. the file
  let text: string | null = null;
  try {
    text = readFile(sourceFile);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push({
      path: "--config",
      file: sourceFile,
      message: code === "ENOENT" ? `config file not found (looked for ${sourceFile})` : code === "EISDIR" ? `is a directory, not a YAML file` : `cannot read the config file (${(err as Error).message})`,
      fix: code === "ENOENT" ? `check the path (shipped configs: configs/demo.yaml, configs/food101.yaml, configs/food101_no_eval_save_all.yaml)` : `pass a readable YAML file to --config`,
    });
  }
  let data: Obj = {};
  let lines = new Map<string, number>();
  let parsedOk = text !== null;
  if (text !== null) {
    const parsed = parseYaml({ text, file: sourceFile });
    lines = parsed.lines;
    for (const p of parsed.problems) {
      problems.push(
        p.kind === "syntax"
          ? { path: "(yaml)", file: sourceFile, line: p.line, message: `YAML syntax error at column ${p.column}: ${p.message}`, fix: `correct the YAML on or just before line ${p.line} (indentation uses spaces; "key: value"; quote values that contain ": " or "#")` }
          : { path: p.path ?? "(yaml)", file: sourceFile, line: p.line, message: `${p.message}: the key appears twice in the same mapping (first at line ${lines.get(p.path ?? "") ?? "?"})`, fix: `keep one of the two and delete the other` },
      );
    }
    if (parsed.data === null) parsedOk = false;
    else if (!isObject(parsed.data)) {
      problems.push({ path: "(top level)", file: sourceFile, line: 1, message: `the file must be a mapping of sections (model:, data:, training:, ...), got ${Array.isArray(parsed.data) ? "a list" : JSON.stringify(parsed.data)}`, fix: `start from configs/demo.yaml` });
      parsedOk = false;
    } else data = parsed.data;
  }
  const fileData: Obj = structuredClone(data);

  // 2. the command line
  const { parsed: setValues, problems: setProblems } = parseSets(sets);
  problems.push(...setProblems);
  applySets(data, setValues);

  const cliPaths = setValues.map((s) => s.path);
  const setByCli = (path: string) => cliPaths.some((c) => path === c || path.startsWith(`${c}.`));
  const cliFlagFor = (path: string) => setValues.findLast((s) => path === s.path || path.startsWith(`${s.path}.`));
  const locate = (p: Omit<ConfigProblem, "file" | "line">): ConfigProblem => {
    if (setByCli(p.path)) return { ...p, message: `${p.message} (from --set ${cliFlagFor(p.path)!.raw})` };
    const line = lineFor(lines, p.path);
    return line ? { ...p, file: sourceFile, line } : hasPath(fileData, p.path) ? { ...p, file: sourceFile } : p;
  };

  // 3. schema (fills defaults), then the checks across options
  if (parsedOk) {
    for (const p of validateConfig(data)) problems.push(locate(p));
    for (const p of crossCheck(data)) problems.push(locate(p));
  }
  if (problems.length) throw new ConfigError(sortProblems(problems), { cwd });

  // 4. forced / ignored values
  const sourceOf = (path: string): ValueSource => (setByCli(path) ? "cli" : hasPath(fileData, path) ? "file" : "default");
  const describeSource = (path: string): string => {
    const src = sourceOf(path);
    if (src === "cli") return `--set ${cliFlagFor(path)!.raw}`;
    if (src === "file") {
      const line = lines.get(path);
      return `${sourceFile}${line ? `:${line}` : ""}`;
    }
    return "schema default";
  };
  const { rows, warnings } = applyOverrides({ config: data, sourceOf, describeSource });

  // 5. absolute paths, hash
  absolutizePaths(data, cwd, exists);
  return {
    config: data as unknown as QwenClassifyConfig,
    overrides: rows,
    warnings: [...warnings, ...crossWarnings(data)],
    sourceFile,
    configHash: configHash(data),
  };
}
