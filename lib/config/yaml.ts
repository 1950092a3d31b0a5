// YAML text -> plain data plus the line of every key path, using js-yaml only.
// js-yaml 5 exposes its parser's event stream (parseEvents) with source offsets, so the
// positions come from the same parser that builds the data: no second YAML library and no
// hand-written indentation scanner that could disagree with it on flow maps or quoting.
import { load, parseEvents, getScalarValue, EVENT_ID, YAMLException, type Event } from "js-yaml";

export interface YamlProblem {
  kind: "syntax" | "duplicate";
  line: number; // 1-based
  column: number; // 1-based
  path?: string; // the key path, for a duplicate key
  message: string;
}

export interface ParsedYaml {
  /** The document (duplicates resolved last-wins so validation can go on); null when unparseable. */
  data: unknown;
  /** dotted key path -> 1-based line of the key ("a.b.0" for sequence items). */
  lines: Map<string, number>;
  problems: YamlProblem[];
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function lineOf(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

type Frame =
  | { kind: "map"; path: string; expectKey: boolean; key: string | null; seen: Set<string> }
  | { kind: "seq"; path: string; index: number };

/** Walk the event stream: key path -> line, and duplicate keys with their path and line. */
function positions(text: string, events: Event[]): { lines: Map<string, number>; duplicates: YamlProblem[] } {
  const starts = lineStarts(text);
  const lines = new Map<string, number>();
  const duplicates: YamlProblem[] = [];
  const stack: Frame[] = [];
  const join = (a: string, b: string) => (a ? `${a}.${b}` : b);

  // Path of the node that starts now (as a value in the enclosing collection); advances the parent.
  const enterValue = (): string | null => {
    const top = stack[stack.length - 1];
    if (!top) return "";
    if (top.kind === "seq") return join(top.path, String(top.index++));
    if (top.expectKey) return null; // this node is a key
    top.expectKey = true;
    return join(top.path, top.key ?? "?");
  };

  for (const ev of events) {
    if (ev.type === EVENT_ID.SCALAR) {
      const top = stack[stack.length - 1];
      if (top && top.kind === "map" && top.expectKey) {
        const key = getScalarValue(text, ev);
        const path = join(top.path, key);
        const line = lineOf(starts, ev.valueStart);
        if (top.seen.has(key)) {
          const col = ev.valueStart - starts[line - 1] + 1;
          duplicates.push({ kind: "duplicate", line, column: col, path, message: `duplicate key "${key}"` });
        } else {
          top.seen.add(key);
          lines.set(path, line);
        }
        top.key = key;
        top.expectKey = false;
      } else {
        enterValue();
      }
    } else if (ev.type === EVENT_ID.MAPPING || ev.type === EVENT_ID.SEQUENCE) {
      const path = enterValue() ?? "?"; // a collection used as a key: give it a placeholder
      const top = stack[stack.length - 1];
      if (top && top.kind === "map" && path === "?" && top.expectKey) top.expectKey = false;
      stack.push(
        ev.type === EVENT_ID.MAPPING
          ? { kind: "map", path, expectKey: true, key: null, seen: new Set() }
          : { kind: "seq", path, index: 0 },
      );
    } else if (ev.type === EVENT_ID.ALIAS) {
      enterValue();
    } else if (ev.type === EVENT_ID.POP) {
      stack.pop();
    }
  }
  return { lines, duplicates };
}

function syntaxProblem(err: unknown): YamlProblem {
  if (err instanceof YAMLException && err.mark) {
    return { kind: "syntax", line: err.mark.line + 1, column: err.mark.column + 1, message: err.reason };
  }
  return { kind: "syntax", line: 1, column: 1, message: err instanceof Error ? err.message : String(err) };
}

export function parseYaml(params: { text: string; file?: string }): ParsedYaml {
  const { text } = params;
  let events: Event[];
  try {
    events = parseEvents(text, { filename: params.file });
  } catch (err) {
    return { data: null, lines: new Map(), problems: [syntaxProblem(err)] };
  }
  const { lines, duplicates } = positions(text, events);
  let data: unknown = null;
  try {
    // json: true -> a duplicate key overrides instead of throwing; duplicates are reported above
    // with their key path, and validation of the rest still runs (one report for everything).
    const empty = !events.some((e) => e.type !== EVENT_ID.DOCUMENT && e.type !== EVENT_ID.POP);
    data = empty ? {} : load(text, { filename: params.file, json: true });
  } catch (err) {
    return { data: null, lines, problems: [syntaxProblem(err)] };
  }
  return { data: data ?? {}, lines, problems: duplicates };
}
