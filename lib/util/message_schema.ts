// Validate a message between the planes against schema/events.schema.json (the schema that
// generated/messages.ts is generated from). Used by tests to check what the engine really writes
// and the fixtures that stand in for it; the launcher itself stays lenient when reading (a line it
// does not know is kept or skipped, never fatal).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";

export const MESSAGES_SCHEMA_PATH = join(import.meta.dir, "..", "..", "schema", "events.schema.json");

type JsonSchema = Record<string, any>;
let loaded: { schema: JsonSchema; ajv: InstanceType<typeof Ajv2020> } | null = null;
const validators = new Map<string, ValidateFunction>();

function load(): { schema: JsonSchema; ajv: InstanceType<typeof Ajv2020> } {
  if (!loaded) {
    const schema = JSON.parse(readFileSync(MESSAGES_SCHEMA_PATH, "utf8")) as JsonSchema;
    const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
    ajv.addSchema(schema);
    loaded = { schema, ajv };
  }
  return loaded;
}

function validatorFor(kind: string): ValidateFunction {
  let v = validators.get(kind);
  if (v) return v;
  const { schema, ajv } = load();
  if (!schema.$defs?.[kind]) throw new Error(`schema/events.schema.json: no $defs.${kind}`);
  v = ajv.getSchema(`${schema.$id}#/$defs/${kind}`);
  if (!v) throw new Error(`schema/events.schema.json: cannot compile $defs.${kind}`);
  validators.set(kind, v);
  return v;
}

/** For a union ($defs with oneOf on `event`), the member whose `event` matches, so errors name its fields. */
function branchFor(kind: string, obj: unknown): string {
  const defs = load().schema.$defs as Record<string, JsonSchema>;
  const event = (obj as { event?: unknown } | null)?.event;
  for (const ref of defs[kind]?.oneOf ?? []) {
    const name = String(ref.$ref).split("/").pop()!;
    if (defs[name]?.properties?.event?.const === event) return name;
  }
  return kind;
}

/** Every violation as "<$def> <instance path>: <message>"; empty when obj is a valid `kind`. */
export function messageErrors(kind: string, obj: unknown): string[] {
  const target = branchFor(kind, obj);
  const validate = validatorFor(target);
  if (validate(obj)) return [];
  return (validate.errors ?? []).map((e) => {
    const extra = e.keyword === "additionalProperties" ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : "";
    return `${target} ${e.instancePath || "(root)"}: ${e.message}${extra}`;
  });
}
