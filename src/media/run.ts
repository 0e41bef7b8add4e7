/**
 * Running ffmpeg / ffprobe as child processes with argument arrays (never a shell string, so
 * paths with spaces or quotes need no escaping and cannot inject commands).
 */
import { resolve as resolvePath } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { locateTools, type MediaToolName } from './locate.js';
import { redactText } from './redact.js';

/** A failed ffmpeg/ffprobe run. `lastLine` is the most useful single line of its stderr. */
export class MediaToolError extends Error {
  readonly tool: MediaToolName;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly lastLine: string;
  constructor(tool: MediaToolName, exitCode: number | null, signal: NodeJS.Signals | null, stderr: string) {
    const lastLine = lastStderrLine(redactText(stderr)) || (signal ? `killed by ${signal}` : `exit code ${String(exitCode)}`);
    super(`${tool} failed: ${lastLine}`);
    this.name = 'MediaToolError';
    this.tool = tool;
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderr = redactText(stderr);
    this.lastLine = lastLine;
  }
}

export interface RunOptions {
  /** Bytes written to the tool's stdin (then closed). */
  input?: Uint8Array;
  /** Kill the tool when aborted. */
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
}

/**
 * Run ffmpeg with `args` (prefixed with `-hide_banner -nostdin`, and `-loglevel error` unless the
 * caller chose a level) and resolve with its output, or reject with a MediaToolError carrying the
 * last stderr line. For short jobs: stdout is collected in memory.
 */
export function ffmpegRun(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runTool('ffmpeg', args, opts);
}

/** Like ffmpegRun for ffprobe (`-v error` unless given). */
export function ffprobeRun(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runTool('ffprobe', args, opts);
}

export async function runTool(tool: MediaToolName, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const tools = await locateTools();
  const fullArgs = withQuietDefaults(tool, args, opts.input === undefined);
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(tools[tool].path, fullArgs, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      signal: opts.signal,
      // Its own process group: a terminal's Ctrl-C must not fail a join or probe that the
      // interrupted job still needs; the job stops through its AbortSignal instead.
      detached: true,
      windowsHide: true,
    });
    const stdout: Buffer[] = [];
    const stderr = new StderrTail();
    child.stdout?.on('data', (b: Buffer) => stdout.push(b));
    stderr.attach(child);
    let spawnError: Error | undefined;
    child.on('error', (err) => {
      spawnError = err;
    });
    if (opts.input !== undefined && child.stdin) {
      // EPIPE when the tool exits before reading everything is reported through its exit code.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    child.on('close', (code, sig) => {
      if (spawnError && child.pid === undefined) {
        reject(new Error(`could not start ${tool} (${tools[tool].path}): ${spawnError.message}`));
      } else if (code === 0) {
        resolve({ stdout: Buffer.concat(stdout), stderr: stderr.text() });
      } else {
        reject(new MediaToolError(tool, code, sig, stderr.text()));
      }
    });
  });
}

/** Global quietness flags go first; an explicit `-v`/`-loglevel` from the caller is kept. */
export function withQuietDefaults(tool: MediaToolName, args: readonly string[], noStdin: boolean): string[] {
  const out = ['-hide_banner'];
  // Without -nostdin ffmpeg reads keyboard commands from stdin and can stall or eat input.
  if (tool === 'ffmpeg' && noStdin) out.push('-nostdin');
  if (!args.includes('-v') && !args.includes('-loglevel')) out.push('-loglevel', 'error');
  return out.concat(args);
}

/** The last non-empty line of a tool's stderr, trimmed; '' if none. */
export function lastStderrLine(stderr: string): string {
  const lines = stderr.split(/\r?\n|\r/).map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i] !== '') return lines[i]!;
  }
  return '';
}

/**
 * Keeps the tail of a child's stderr. Bounded because a long decode of a damaged file can log
 * millions of lines; only the last ones matter for error messages.
 */
export class StderrTail {
  private chunks: string[] = [];
  private size = 0;
  constructor(private readonly limit = 64 * 1024) {}

  attach(child: ChildProcess): void {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => this.push(s));
  }

  push(s: string): void {
    this.chunks.push(s);
    this.size += s.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  /** The kept text, URLs redacted: it goes into error lines and warnings (docs/architecture.md, "Redaction"). */
  text(): string {
    return redactText(this.chunks.join(''));
  }

  lines(): string[] {
    return this.text()
      .split(/\r?\n|\r/)
      .map((l) => l.trim())
      .filter((l) => l !== '');
  }
}

/** Resolves when a child has exited (after its stdio closed) with its code and signal. */
export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    // A spawn failure emits 'error' and then 'close' with a negative errno as the code.
    child.on('error', (err) => {
      error = err;
    });
    child.on('close', (code, signal) => resolve(error ? { code, signal, error } : { code, signal }));
  });
}

/**
 * A local file as ffmpeg and ffprobe must be given it: through the file protocol by absolute
 * path, so that no name is read as an option (`-report`) or another protocol (`http:`,
 * `concat:a|b`). URLs go to them only where a command documents them (live inputs).
 */
export function localFile(path: string): string {
  return `file:${resolvePath(path)}`;
}

/**
 * Children spawned `detached` (their own process group, so a terminal's Ctrl-C reaches only
 * dreamflow, which then closes them) are not taken down with the group when dreamflow exits
 * early (`process.exit` after a second Ctrl-C): kill `child` then, and run `cleanup`. A SIGKILLed
 * dreamflow cannot run this; its children end through their pipes (EOF on stdin, EPIPE on stdout).
 */
export function endWithProcess(child: ChildProcess, exited: Promise<unknown>, cleanup?: () => void): void {
  const onExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    cleanup?.();
  };
  process.once('exit', onExit);
  void exited.then(() => process.off('exit', onExit));
}
