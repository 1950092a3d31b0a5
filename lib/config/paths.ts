// Dotted-path helpers over plain config objects.

export type Obj = Record<string, unknown>;

export const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split(".")) {
    if (!isObject(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

export function hasPath(obj: unknown, path: string): boolean {
  const keys = path.split(".");
  const last = keys.pop()!;
  const parent = keys.length ? getPath(obj, keys.join(".")) : obj;
  return isObject(parent) && Object.prototype.hasOwnProperty.call(parent, last);
}

/** Sets a value, creating (or replacing non-object) intermediate sections. */
export function setPath(obj: Obj, path: string, value: unknown): void {
  const keys = path.split(".");
  const last = keys.pop()!;
  let cur = obj;
  for (const key of keys) {
    if (!isObject(cur[key])) cur[key] = {};
    cur = cur[key] as Obj;
  }
  cur[last] = value;
}

/** Every leaf path of a plain object ("a.b.c"); arrays and empty objects count as leaves. */
export function leafPaths(obj: unknown, prefix = ""): string[] {
  if (!isObject(obj) || (prefix && Object.keys(obj).length === 0)) return prefix ? [prefix] : [];
  return Object.entries(obj).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

/** JSON pointer ("/training/lr") -> dotted path ("training.lr"). */
export function pointerToPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .join(".");
}

/** JSON with sorted keys: the canonical form that config_hash is computed over. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => value[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}
