/**
 * The preset commands (image, stills, video, vr, live): flags → spec → runPipeline, then print.
 * Everything they accept, check and default is the spec table's (src/pipeline/spec.ts).
 */
import { runPipeline } from '../pipeline/run.js';
import { helpFor, specFromArgs, withDefaults, type PresetCommand } from '../pipeline/spec.js';

/**
 * Ctrl-C and SIGTERM stop a job cleanly through an AbortSignal (a video keeps its checkpoint for
 * --resume, a live job finishes its recording); a second one exits at once.
 */
export function interruptSignal(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      process.stderr.write(`dreamflow: ${sig} again, exiting without finishing\n`);
      process.exit(130);
    }
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export function presetCommand(command: PresetCommand): (args: string[]) => Promise<void> {
  return async (args) => {
    const { spec, run } = specFromArgs(command, args);
    if (run.help) {
      console.log(helpFor(command));
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
        signal: interrupt.signal,
        onWarning: (m) => process.stderr.write(`dreamflow: warning: ${m}\n`),
        onReady: (line) => console.log(line),
      });
      if (run.json) console.log(JSON.stringify(result.summary));
      else if (!run.quiet && result.line) console.log(result.line);
    } finally {
      interrupt.release();
    }
  };
}
