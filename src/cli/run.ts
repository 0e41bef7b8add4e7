import { readFile } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { RUN_FLAGS, applyOverride, argsFromConfig, effectiveConfig, jsonSchema, validateConfig } from '../pipeline/config.js';
import { parse } from './options.js';

export const RUN_HELP = `dreamflow run FILE.json [options]

Run a pipeline described in a JSON file: a source, stages and sinks (see pipelines/ for presets:
video-file.json, webcam-live.json, vr360.json, stills-folder.json). Every field is a flag of the
matching subcommand in camelCase (--frame-iterations is "frameIterations"); paths are relative to
the current folder.

      --set PATH=VALUE   override a field, e.g. --set source.path=clip.mp4 --set stages[0].seed=3
                         (repeatable; VALUE is read as JSON when it parses, else as text)
      --print-config     print the effective config (every default written out) and exit
      --schema           print the JSON Schema of pipeline files and exit
      --json             print one JSON line with the result (as the subcommand does)
      --quiet            no progress output
      --resume           continue an interrupted video job

Any subcommand (image, stills, video, vr, live) also takes --print-config, to turn its flags into
a pipeline file.`;

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UserError(`no such pipeline file: ${path}`);
  }
  try {
    const doc: unknown = JSON.parse(text);
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UserError(`${path}: expected a JSON object with source, stages and sinks`);
    return doc as Record<string, unknown>;
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path} is not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Point a flag in an error message at the JSON field it came from, so a bad value in a file
 * names its path: "--iterations must be …" becomes "stages[0].iterations (--iterations) must be …".
 */
function withFieldPaths(err: UserError, fieldOfFlag: ReadonlyMap<string, string>): UserError {
  const message = err.message.replace(/--([a-z][a-z-]*)/, (whole, flag: string) => {
    const path = fieldOfFlag.get(flag);
    return path ? `${path} (${whole})` : whole;
  });
  return message === err.message ? err : new UserError(message, err.exitCode);
}

export async function runCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    set: { type: 'string', multiple: true },
    'print-config': { type: 'boolean' },
    schema: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
    resume: { type: 'boolean' },
  });
  if (values.help) {
    console.log(RUN_HELP);
    return;
  }
  if (values.schema) {
    console.log(JSON.stringify(jsonSchema(), null, 2));
    return;
  }
  const file = positionals[0];
  if (!file) throw new UserError('run: missing pipeline file (dreamflow run FILE.json)');
  const doc = await readConfigFile(file);
  for (const assignment of (values.set as unknown as string[] | undefined) ?? []) applyOverride(doc, assignment);
  const config = validateConfig(doc, file);
  if (values['print-config']) {
    console.log(JSON.stringify(effectiveConfig(config), null, 2));
    return;
  }
  const { command, args: commandArgs, fieldOfFlag } = argsFromConfig(config);
  const passthrough = RUN_FLAGS.filter((flag) => flag !== '--print-config' && values[flag.slice(2)]);
  if (values.resume && command !== 'video' && command !== 'vr' && command !== 'stills') {
    throw new UserError(`--resume applies to video, vr and stills pipelines, not to a ${command} pipeline`);
  }
  const { commandFor } = await import('./main.js');
  const run = await commandFor(command);
  try {
    await run([...commandArgs, ...passthrough]);
  } catch (err) {
    throw err instanceof UserError ? withFieldPaths(err, fieldOfFlag) : err;
  }
}
