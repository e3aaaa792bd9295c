/**
 * Everything lmctl prints goes through here: results on stdout, messages, logs and timing on
 * stderr; colours only when that stream is a terminal (and NO_COLOR is unset), a spinner only on
 * a terminal's stderr; `--json` makes stdout one JSON object.
 */
import picocolors from 'picocolors';
import yoctoSpinner from 'yocto-spinner';

const SPINNER_DELAY_MS = 150;

export type Colors = ReturnType<typeof picocolors.createColors>;

export interface CliIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly env: NodeJS.ProcessEnv;
}

export class Output {
  readonly json: boolean;
  /** Colours for what goes to stderr (messages) and to stdout (tables). */
  readonly err: Colors;
  readonly out: Colors;
  readonly #io: CliIo;
  readonly #interactive: boolean;

  constructor(io: CliIo, json: boolean) {
    this.#io = io;
    this.json = json;
    const colourful = (stream: NodeJS.WriteStream): boolean => stream.isTTY === true && !io.env.NO_COLOR && io.env.TERM !== 'dumb';
    this.err = picocolors.createColors(colourful(io.stderr));
    this.out = picocolors.createColors(colourful(io.stdout) && !json);
    this.#interactive = io.stderr.isTTY === true && io.env.CI === undefined;
  }

  /** A line on stdout. */
  print(text: string): void {
    this.#io.stdout.write(`${text}\n`);
  }

  /** A value on stdout as JSON (the one object of --json, or a result). */
  printJson(value: unknown): void {
    this.print(JSON.stringify(value === undefined ? null : value, null, 2));
  }

  /** A command's answer: `value` as JSON with --json; otherwise the line `human` says, or what it prints. */
  answer(value: unknown, human: string | (() => void)): void {
    if (this.json) this.printJson(value);
    else if (typeof human === 'string') this.print(human);
    else human();
  }

  /** A line on stderr. */
  note(text: string): void {
    this.#io.stderr.write(`${text}\n`);
  }

  /** An aligned table on stdout. */
  table(headers: readonly string[], rows: readonly (readonly string[])[]): void {
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
    const line = (cells: readonly string[]): string => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ');
    this.print(this.out.bold(line(headers)));
    for (const row of rows) this.print(line(row));
  }

  /** Runs `work` with a spinner saying `text`: on a terminal only, and only once it has taken a moment (no flicker). */
  async spin<T>(text: string, work: () => Promise<T>): Promise<T> {
    if (!this.#interactive) return work();
    const spinner = yoctoSpinner({ text, stream: this.#io.stderr });
    const timer = setTimeout(() => spinner.start(), SPINNER_DELAY_MS);
    try {
      return await work();
    } finally {
      clearTimeout(timer);
      if (spinner.isSpinning) spinner.stop();
    }
  }
}
