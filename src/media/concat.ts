/**
 * Joining separately encoded segments of one video without re-encoding, muxing the source's
 * audio in the same pass. Used by resumable jobs (segments are committed as they finish) and by
 * the render farm. Atomic like the encoder: a temp file renamed into place on success.
 */
import { rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { UserError } from '../errors.js';
import { audioPlan, type AudioSource } from './encoder.js';
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
}

export async function concatSegments(segments: readonly string[], output: string, opts: ConcatOptions = {}): Promise<void> {
  if (segments.length === 0) throw new UserError(`no frames to write to ${output}`);
  const ext = extname(output);
  const temp = join(dirname(output), `.${basename(output, ext)}.partial-${process.pid}-concat${ext}`);
  const list = `${temp}.txt`;
  try {
    // Inside the try: a list half-written to a full disk is removed too.
    await writeFile(list, segments.map(concatListLine).join('\n') + '\n');
    const tools = await locateTools();
    const args = ['-y', '-f', 'concat', '-safe', '0', '-i', list];
    const audio = opts.audioFrom ? await audioPlan(opts.audioFrom, ext, {}) : undefined;
    if (audio) args.push(...audio.inputArgs);
    args.push('-map', '0:v:0');
    if (audio) args.push('-map', '1:a:0?', ...audio.codecArgs);
    args.push('-c:v', 'copy', ...tools.passthroughArgs);
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
