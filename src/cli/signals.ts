/**
 * The signal policy of every long command (docs/architecture.md, "Signals"): SIGINT (Ctrl-C),
 * SIGTERM and SIGHUP (a closed terminal, a dropped SSH session) stop the job cleanly through an
 * AbortSignal: a video or farm keeps its checkpoint and exits 130, a live job finishes and
 * renames its recording and exits 0, a picture job stops at the next tile and writes nothing
 * (130). A second signal ends dreamflow at once, by that same signal.
 */

/** The signals that stop a job. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * End this process by `sig` itself, now: the exit hooks run first (children killed, temp files
 * removed, output locks released), then the signal's default action ends the process, which the
 * shell reports as 128 + its number (130 for SIGINT). Unlike `process.exit`, this runs no native
 * destructors: an ONNX Runtime call still running in a worker thread would otherwise come back
 * into a torn-down environment and abort the process (`terminate called after throwing an
 * instance of 'Napi::Error'`, exit 134).
 */
export function exitBySignal(sig: NodeJS.Signals): never {
  const code = 128 + (sig === 'SIGINT' ? 2 : sig === 'SIGHUP' ? 1 : 15);
  try {
    process.emit('exit', code);
  } catch {
    // A hook that throws must not keep the process alive.
  }
  for (const s of STOP_SIGNALS) process.removeAllListeners(s);
  process.kill(process.pid, sig);
  // Not reached: the default action of a stop signal ends the process before kill() returns.
  process.exit(code);
}

/** Stops a job on the first stop signal; the second ends the process (exitBySignal). */
export function interruptSignal(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      process.stderr.write(`dreamflow: ${sig} again, exiting without finishing\n`);
      exitBySignal(sig);
    }
    // Said at once on a terminal: a large frame's step can take seconds to come to an end.
    if (process.stderr.isTTY) process.stderr.write(`\ndreamflow: ${sig}: stopping at the next step (${sig} again quits at once)\n`);
    controller.abort(sig);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  return {
    signal: controller.signal,
    release: () => {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
    },
  };
}
