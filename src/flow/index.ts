/** Dense optical flow (Farnebäck via OpenCV.js), warping, occlusion masks, scene cuts. */
export type { FlowField, FlowInput, GreyImage } from './types.js';
export { computeFlow, computeFlowPair, toGrey, flowWorkingSize, DEFAULT_FARNEBACK, DEFAULT_FLOW_MAX_WIDTH } from './farneback.js';
export type { FarnebackParams, FlowOptions } from './farneback.js';
export { warp, warpFlow, zeroFlow } from './warp.js';
export type { WarpOptions } from './warp.js';
export { occlusionMask, consistencyMask } from './occlusion.js';
export type { OcclusionOptions } from './occlusion.js';
export { sceneCutScore, isSceneCut } from './sceneCut.js';
export type { SceneCutOptions, SceneCutScore } from './sceneCut.js';
export { loadOpenCv, liveMatCount, openCvLoadMillis } from './cv.js';
