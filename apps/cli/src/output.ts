import { ApiError, type CliError } from './errors';
import { ProgressLine, type ProgressStream } from './progress';

export interface Writer {
  write(text: string): unknown;
}

export interface OutputOptions {
  /** `--json`: stdout carries exactly one JSON document, the result or the error. */
  json: boolean;
  /** `--quiet`: nothing on stderr but errors. */
  quiet: boolean;
  /** How often a progress line is printed when stderr is not a terminal. */
  logIntervalMs: number;
}

/**
 * Where everything a command says goes. stdout: the result only (text, or JSON with --json),
 * so it can be piped; stderr: progress, notes and errors, for the person watching.
 */
export class Output {
  private progressLine: ProgressLine | undefined;

  constructor(
    private readonly stdout: Writer,
    private readonly stderr: ProgressStream,
    readonly options: OutputOptions,
  ) {}

  get json(): boolean {
    return this.options.json;
  }

  /** The command's result: `json` with --json, else `human()` (which may be several lines). */
  result(json: unknown, human: () => string): void {
    this.progressLine?.break();
    this.stdout.write(this.options.json ? `${JSON.stringify(json, null, 2)}\n` : `${human()}\n`);
  }

  /** A remark for the person at the terminal (more pages, what happens next); not with --quiet. */
  note(text: string): void {
    if (this.options.quiet) return;
    this.progressLine?.break();
    this.stderr.write(`${text}\n`);
  }

  /** The progress line of this command (one per command), silent with --quiet. */
  progress(): ProgressLine {
    this.progressLine ??= new ProgressLine(this.stderr, { enabled: !this.options.quiet, logIntervalMs: this.options.logIntervalMs });
    return this.progressLine;
  }

  /** An expected failure: text on stderr always (even with --quiet), and JSON on stdout with --json. */
  error(error: CliError): void {
    this.progressLine?.break();
    const answered = error instanceof ApiError ? ` (${error.status} ${error.code})` : '';
    const lines = [`herald: ${error.message}${answered}`];
    for (const detail of error.details) lines.push(`  ${detail.path}: ${detail.message}${detail.expected ? ` (expected ${detail.expected})` : ''}`);
    if (error.hint) lines.push(`hint: ${error.hint}`);
    this.stderr.write(`${lines.join('\n')}\n`);
    if (this.options.json) this.stdout.write(`${JSON.stringify(error.toJson(), null, 2)}\n`);
  }

  /** A failure already shown as the result (a refused hook call): said on stderr even with --quiet. */
  warn(message: string, hint: string | undefined): void {
    this.progressLine?.break();
    this.stderr.write(`herald: ${message}\n${hint ? `hint: ${hint}\n` : ''}`);
  }

  /** Ctrl+C: the line in progress is ended and `message` says what became of the work. */
  interrupted(message: string): void {
    this.progressLine?.break();
    this.stderr.write(`herald: interrupted; ${message}\n`);
  }
}
