/** ffmpeg/ffprobe behind a small typed wrapper: locate, probe, decode, encode, run. */
export { locateTools, ffmpegPath, ffprobePath, resetToolCache } from './locate.js';
export type { LocatedTool, MediaTools, MediaToolName } from './locate.js';
export { ffmpegRun, ffprobeRun, runTool, MediaToolError, lastStderrLine } from './run.js';
export type { RunOptions, RunResult } from './run.js';
export { probe, probeLavfi, chooseFrameRate, parseRational, reduceRational } from './probe.js';
export type { MediaInfo, AudioInfo } from './probe.js';
export { FrameDecoder, evenFit, frameDuration } from './decoder.js';
export type { DecodeOptions, LavfiOptions, Size } from './decoder.js';
export { FrameAssembler } from './frameAssembler.js';
export { FrameEncoder } from './encoder.js';
export type { EncodeOptions, AudioSource } from './encoder.js';
