/**
 * Joining separately encoded segments of one video without re-encoding, muxing the source's
 * audio in the same pass. Used by resumable jobs (segments are committed as they finish) and by
 * the render farm. Atomic like the encoder: a temp file renamed into place on success.
 */
import { rename, unlink, writeFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { besideOutput } from '../paths.js';
import { UserError } from '../errors.js';
import { audioPlan, videoCodecArgs, type AudioSource } from './encoder.js';
import { locateTools } from './locate.js';
import { MediaToolError, ffmpegRun } from './run.js';

function concatListLine(path: string): string {
  // The concat demuxer's own quoting: single quotes, with ' written as '\''.
  return `file '${path.replace(/'/g, "'\\''")}'`;
}

export interface ConcatOptions {
  audioFrom?: AudioSource | undefined;
  /** MP4/MOV: index first (default true). */
  faststart?: boolean | undefined;
  /** Called on the finished temp file before it is renamed into place (failure leaves nothing). */
  finalize?: ((tempPath: string) => Promise<void>) | undefined;
  /**
   * Encode the joined video with this codec instead of copying the segments' streams: a resumed
   * job whose codec or quality changed (the segments were made with the old ones).
   */
  reencode?: { codec: string; crf?: number | undefined } | undefined;
}

export async function concatSegments(segments: readonly string[], output: string, opts: ConcatOptions = {}): Promise<void> {
  if (segments.length === 0) throw new UserError(`no frames to write to ${output}`);
  const ext = extname(output);
  // Beside the output in its resolved folder, and the list names every segment by absolute path:
  // ffmpeg reads a list's relative names from the list's own folder, not from the working folder
  // (docs/architecture.md, "Outputs").
  const temp = besideOutput(output, `.partial-${process.pid}-concat${ext}`, true);
  const list = `${temp}.txt`;
  try {
    const names = segments.map((s) => resolve(s));
    // The list is read line by line: a name with a line break cannot be listed.
    const unlistable = names.find((n) => /[\r\n]/.test(n));
    if (unlistable !== undefined) throw new UserError(`cannot join segments into ${output}: the segment path ${JSON.stringify(unlistable)} holds a line break`);
    // Inside the try: a list half-written to a full disk is removed too.
    await writeFile(list, names.map(concatListLine).join('\n') + '\n');
    const tools = await locateTools();
    const args = ['-y', '-f', 'concat', '-safe', '0', '-i', list];
    const audio = opts.audioFrom ? await audioPlan(opts.audioFrom, ext, {}) : undefined;
    if (audio) args.push(...audio.inputArgs);
    args.push('-map', '0:v:0');
    if (audio) args.push('-map', '1:a:0?', ...audio.codecArgs);
    if (opts.reencode) args.push(...videoCodecArgs(opts.reencode.codec, { crf: opts.reencode.crf }), ...tools.passthroughArgs);
    else args.push('-c:v', 'copy', ...tools.passthroughArgs);
    if (['.mp4', '.m4v', '.mov'].includes(ext.toLowerCase()) && opts.faststart !== false) args.push('-movflags', '+faststart');
    args.push(temp);
    await ffmpegRun(args);
    if (opts.finalize) await opts.finalize(temp);
    await rename(temp, output);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    if (err instanceof MediaToolError) throw new UserError(`joining segments into ${output} failed: ${err.message}`);
    throw err;
  } finally {
    await unlink(list).catch(() => undefined);
  }
}
