/**
 * The preset commands (image, stills, video, vr, live): flags → spec → runPipeline, then print.
 * Everything they accept, check and default is the spec table's (src/pipeline/spec.ts).
 */
import { UserError } from '../errors.js';
import { runPipeline } from '../pipeline/run.js';
import { redactText } from '../media/redact.js';
import { overwritePolicy } from '../sinks/outputGuard.js';
import { interruptSignal } from './signals.js';
import { helpFor, specFromArgs, withDefaults, type PresetCommand } from '../pipeline/spec.js';

export { interruptSignal } from './signals.js';

/** Most cells a `video --preview` sheet takes (each is a full dream). */
export const MAX_PREVIEW_FRAMES = 36;

const PREVIEW_HELP = `
preview (a look before a long render):
  --preview N               dream N evenly spaced frames fresh (as the render's first frame) into a labelled
                            contact sheet -o SHEET.png|jpg, with the estimated time of the full render under it`;

/** `--preview N` of dreamflow video: how to run, not what, so it is taken out before the spec is made. */
export function takePreview(args: readonly string[]): { preview: number | undefined; rest: string[] } {
  const rest: string[] = [];
  let preview: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      rest.push(...args.slice(i));
      break;
    }
    if (arg !== '--preview' && !arg.startsWith('--preview=')) {
      rest.push(arg);
      continue;
    }
    const raw = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[++i];
    const n = Number(raw);
    if (raw === undefined || !Number.isInteger(n) || n < 1 || n > MAX_PREVIEW_FRAMES) {
      throw new UserError(`--preview must be a number of frames from 1 to ${MAX_PREVIEW_FRAMES} (got ${raw === undefined ? 'nothing' : `"${raw}"`})`);
    }
    preview = n;
  }
  return { preview, rest };
}

export function presetCommand(command: PresetCommand): (args: string[]) => Promise<void> {
  return async (allArgs) => {
    const { preview, rest: args } = command === 'video' ? takePreview(allArgs) : { preview: undefined, rest: allArgs };
    const { spec, run } = specFromArgs(command, args);
    if (run.help) {
      console.log(helpFor(command) + (command === 'video' ? PREVIEW_HELP : ''));
      return;
    }
    if (run.printConfig) {
      console.log(JSON.stringify(withDefaults(spec), null, 2));
      return;
    }
    const interrupt = interruptSignal();
    try {
      const result = await runPipeline(spec, {
        quiet: run.quiet || run.json,
        resume: run.resume,
        preview,
        overwrite: overwritePolicy(run.overwrite, run.noOverwrite),
        signal: interrupt.signal,
        onWarning: (m) => process.stderr.write(`dreamflow: warning: ${redactText(m)}\n`),
        onReady: (line) => console.log(line),
      });
      if (run.json) console.log(JSON.stringify(result.summary));
      else if (!run.quiet && result.line) console.log(result.line);
    } finally {
      interrupt.release();
    }
  };
}
