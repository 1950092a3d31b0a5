// schema/events.schema.json -> generated/messages.ts: the TypeScript types of every message between the
// planes (event stream, evaluate/export stdout protocols, the JSON files the engine writes).
// Run through scripts/codegen.ts (`bun run codegen`, `bun run codegen --check`); also runnable alone.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { compile } from "json-schema-to-typescript";

export const MESSAGES_SCHEMA = join("schema", "events.schema.json");
const BANNER = "// generated — do not edit. Source: schema/events.schema.json; regenerate with `bun run codegen`.";

type JsonSchema = Record<string, any>;

/** The $defs a whole message validates against (the rest are parts of messages). */
export const MESSAGE_KINDS = [
  "TrainEvent",
  "EvalEngineEvent",
  "EvaluateSummaryFile",
  "ExportEvent",
  "ExportPausedEvent",
  "TrainingInfo",
  "EvalResults",
  "PredictionLine",
  "BestCheckpoint",
  "EvalSummary",
  "DeepDecodeResult",
  "HistogramPlotInput",
] as const;

/** generated/messages.ts for the schema object (pure; codegen.ts compares or writes it). */
export async function generateMessages(schema: JsonSchema): Promise<string> {
  const defs: JsonSchema = schema.$defs ?? {};
  for (const kind of MESSAGE_KINDS) {
    if (!defs[kind]) throw new Error(`${MESSAGES_SCHEMA}: $defs.${kind} is missing (listed in MESSAGE_KINDS)`);
  }
  // The root becomes the union of all messages, so that every $def is reached and named once.
  const root = { ...schema, anyOf: MESSAGE_KINDS.map((k) => ({ $ref: `#/$defs/${k}` })) };
  const types = await compile(root, "QcMessage", {
    additionalProperties: false,
    strictIndexSignatures: true,
    unreachableDefinitions: true,
    bannerComment: "",
    // prettier (format: true) costs ~1.5 s on a busy 2-core machine at every `codegen --check`;
    // indentBlocks gives a readable file for a fraction of that.
    format: false,
  });
  return `${BANNER}
// Validate a message at runtime against schema/events.schema.json#/$defs/<kind> (tests use Ajv).

export const MESSAGE_KINDS = ${JSON.stringify(MESSAGE_KINDS)} as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

${indentBlocks(types.trim())}
`;
}

/** Two-space indentation by brace depth, and `;` after members (json-schema-to-typescript's unformatted output has neither). */
export function indentBlocks(text: string): string {
  let depth = 0;
  return text
    .split("\n")
    .map((raw) => {
      const line = raw.trim();
      if (line.startsWith("}")) depth = Math.max(0, depth - 1);
      const comment = line.startsWith("*") || line.startsWith("/**");
      const member = depth > 0 && !comment && line !== "" && !line.endsWith("{") && !line.endsWith(";") && !line.endsWith(",");
      const out = "  ".repeat(depth) + (comment && line.startsWith("*") ? " " : "") + line + (member && !line.startsWith("}") ? ";" : "");
      if (line.endsWith("{")) depth += 1;
      return out;
    })
    .join("\n");
}

/** { "messages.ts": text } for the repository at root. */
export async function messagesFiles(root: string): Promise<Record<string, string>> {
  const schema = JSON.parse(readFileSync(join(root, MESSAGES_SCHEMA), "utf8"));
  return { "messages.ts": await generateMessages(schema) };
}

if (import.meta.main) {
  const { join: j, dirname } = await import("node:path");
  const root = j(dirname(new URL(import.meta.url).pathname), "..");
  process.stdout.write((await messagesFiles(root))["messages.ts"]);
}
