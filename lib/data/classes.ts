import { readFileSync } from "node:fs";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import type { Finding } from "./problems.ts";

export interface ClassSpec {
  numLabels: number;
  /** Class names in label-id order, or null when the config names none (ids are used). */
  names: string[] | null;
  /** Where the names came from, e.g. "datasets.dataset_configs.food101.class_names". */
  source: string;
  /** The datasets.dataset_configs entry this run uses (null: none). */
  datasetName: string | null;
  /** Config-level disagreements (never tied to a data line). */
  problems: Finding[];
}

/** Parses a labels.json: {"0": "apple_pie", "1": ...} (id -> name), {"id2label": {...}} or a plain array of names. */
export function parseLabelsFile(path: string, text: string): { names: string[] } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { error: `${path} is not valid JSON (${(err as Error).message})` };
  }
  if (Array.isArray(raw)) {
    if (!raw.every((x) => typeof x === "string")) return { error: `${path}: every entry of the array must be a class name (string)` };
    return { names: raw as string[] };
  }
  if (raw === null || typeof raw !== "object") return { error: `${path} must be an object {"0": "name", ...} or an array of names` };
  const nested = (raw as Record<string, unknown>).id2label; // a model config's {"id2label": {...}}, as the engine accepts
  if (nested && typeof nested === "object" && !Array.isArray(nested)) raw = nested;
  const entries = Object.entries(raw as Record<string, unknown>);
  const names: string[] = [];
  for (let id = 0; id < entries.length; id++) {
    const v = (raw as Record<string, unknown>)[String(id)];
    if (typeof v !== "string") {
      return { error: `${path}: ids must run 0..${entries.length - 1} with a string name each; id "${id}" is ${v === undefined ? "missing" : "not a string"}` };
    }
    names.push(v);
  }
  return { names };
}

/**
 * Which class names the run uses and whether model.num_labels, the datasets.dataset_configs
 * entry (num_classes, class_names) and data.labels_file agree.
 */
export function resolveClasses(params: { config: QwenClassifyConfig; readText?: (path: string) => string }): ClassSpec {
  const { config } = params;
  const readText = params.readText ?? ((p: string) => readFileSync(p, "utf8"));
  const problems: Finding[] = [];
  const numLabels = config.model.num_labels;
  const entries = config.datasets?.dataset_configs ?? {};
  const entryNames = Object.keys(entries);
  let datasetName: string | null = null;
  const problem = (message: string, file = "config") => problems.push({ kind: "class_config", file, message });

  if (config.data.dataset) {
    if (entries[config.data.dataset]) datasetName = config.data.dataset;
    else
      problem(
        `data.dataset "${config.data.dataset}" is not in datasets.dataset_configs (${entryNames.length ? entryNames.join(", ") : "none defined"}); add the entry or fix the name`,
      );
  } else if (entryNames.length === 1) {
    datasetName = entryNames[0];
  } else if (entryNames.length > 1) {
    problem(`data.dataset is empty but datasets.dataset_configs has ${entryNames.length} entries (${entryNames.join(", ")}); set data.dataset to one of them`);
  }

  const entry = datasetName ? entries[datasetName] : undefined;
  const key = `datasets.dataset_configs.${datasetName}`;
  if (entry && entry.num_classes !== numLabels) {
    problem(`${key}.num_classes is ${entry.num_classes} but model.num_labels is ${numLabels}; they must be equal`);
  }
  let names: string[] | null = null;
  let source = "ids";
  if (entry?.class_names) {
    names = entry.class_names;
    source = `${key}.class_names`;
    if (names.length !== numLabels) problem(`${key}.class_names has ${names.length} names but model.num_labels is ${numLabels}`);
  }

  if (config.data.labels_file) {
    const path = config.data.labels_file;
    let text: string | null = null;
    try {
      text = readText(path);
    } catch (err) {
      problem(`data.labels_file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); fix the path or set it to ""`, path);
    }
    if (text !== null) {
      const parsed = parseLabelsFile(path, text);
      if ("error" in parsed) problem(parsed.error, path);
      else {
        const fromFile = parsed.names;
        if (fromFile.length !== numLabels) problem(`${path} names ${fromFile.length} classes but model.num_labels is ${numLabels}`, path);
        if (names) {
          const differs = names.findIndex((n, i) => fromFile[i] !== n);
          if (differs !== -1 || fromFile.length !== names.length) {
            const i = differs === -1 ? Math.min(names.length, fromFile.length) : differs;
            problem(
              `${path} and ${source} disagree at id ${i} ("${fromFile[i] ?? "(none)"}" vs "${names[i] ?? "(none)"}"); keep one source of class names`,
              path,
            );
          }
        } else {
          names = fromFile;
          source = `data.labels_file (${path})`;
        }
      }
    }
  }

  if (names) {
    const seen = new Map<string, number>();
    names.forEach((n, i) => {
      if (seen.has(n)) problem(`class name "${n}" appears twice (ids ${seen.get(n)} and ${i}) in ${source}`);
      else seen.set(n, i);
    });
  }
  return { numLabels, names, source, datasetName, problems };
}
