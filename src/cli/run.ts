import { readFile } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { redactText } from '../media/redact.js';
import { runPipeline } from '../pipeline/run.js';
import { applyOverride, jsonSchema, validateSpec, withDefaults } from '../pipeline/spec.js';
import { parse } from './options.js';
import { overwritePolicy } from '../sinks/outputGuard.js';
import { interruptSignal } from './signals.js';

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
  -y, --overwrite        replace existing outputs (without it a terminal is asked, anything else refused)
  -n, --no-overwrite     never replace an existing output (exit 2 when one exists)

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

export async function runCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    set: { type: 'string', multiple: true },
    'print-config': { type: 'boolean' },
    schema: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
    resume: { type: 'boolean' },
    overwrite: { type: 'boolean', short: 'y' },
    'no-overwrite': { type: 'boolean', short: 'n' },
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
  const spec = validateSpec(doc, file);
  if (values['print-config']) {
    console.log(JSON.stringify(withDefaults(spec), null, 2));
    return;
  }
  const json = Boolean(values.json);
  const interrupt = interruptSignal();
  try {
    const result = await runPipeline(spec, {
      quiet: Boolean(values.quiet) || json,
      resume: Boolean(values.resume),
      overwrite: overwritePolicy(Boolean(values.overwrite), Boolean(values['no-overwrite'])),
      signal: interrupt.signal,
      onWarning: (m) => process.stderr.write(`dreamflow: warning: ${redactText(m)}\n`),
      onReady: (line) => console.log(line),
    });
    if (json) console.log(JSON.stringify(result.summary));
    else if (!values.quiet && result.line) console.log(result.line);
  } finally {
    interrupt.release();
  }
}
