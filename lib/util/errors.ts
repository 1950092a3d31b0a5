/** Errors a user can fix: printed as `error: ...` (+ hint), never as a stack trace. */
export class UserError extends Error {
  exitCode: number;
  hint?: string;
  constructor(message: string, opts: { exitCode?: number; hint?: string } = {}) {
    super(message);
    this.name = "UserError";
    this.exitCode = opts.exitCode ?? 2;
    this.hint = opts.hint;
  }
}

export interface RunTaskIO {
  stderr?: { write(s: string): unknown };
  setExitCode?: (code: number) => void;
}

/** Runs a task's main, turning a UserError into a clear message and its exit code. */
export async function runTask(main: () => Promise<number | void> | number | void, io: RunTaskIO = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  const setExitCode = io.setExitCode ?? ((c: number) => (process.exitCode = c));
  let code: number;
  try {
    code = (await main()) ?? 0;
  } catch (err) {
    if (err instanceof UserError) {
      stderr.write(`error: ${err.message}\n`);
      if (err.hint) stderr.write(`hint: ${err.hint}\n`);
      code = err.exitCode;
    } else {
      stderr.write(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      code = 1;
    }
  }
  setExitCode(code);
  return code;
}
