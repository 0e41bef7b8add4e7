/**
 * Equirectangular ⇄ cubemap reprojection (bilinear sampling, written here rather than through
 * ffmpeg's v360 filter, which the bundled ffmpeg lacks). Near the poles an equirectangular frame
 * stretches a few degrees of sky over the whole width; a cube face sees them undistorted, so the
 * network dreams objects of one size everywhere.
 *
 * Each face is a 90° view plus `overlap` pixels on every side, so neighbouring faces share a
 * band; going back, pixels in a band are a feathered blend of the faces that see them, which
 * hides the independent dreams' borders.
 *
 * Directions: longitude λ runs left to right over the frame (−π at x = 0, 0 at the centre),
 * latitude φ from +π/2 (top row) to −π/2; d = (cos φ sin λ, sin φ, cos φ cos λ).
 */
import { bilerp, createImage, type RgbImage } from '../dream/image.js';

export type FaceName = 'front' | 'right' | 'back' | 'left' | 'up' | 'down';

interface FaceAxes {
  name: FaceName;
  /** Looking direction, the face's +x (right) and +y (up) directions on the sphere. */
  f: [number, number, number];
  r: [number, number, number];
  u: [number, number, number];
}

export const FACES: readonly FaceAxes[] = [
  { name: 'front', f: [0, 0, 1], r: [1, 0, 0], u: [0, 1, 0] },
  { name: 'right', f: [1, 0, 0], r: [0, 0, -1], u: [0, 1, 0] },
  { name: 'back', f: [0, 0, -1], r: [-1, 0, 0], u: [0, 1, 0] },
  { name: 'left', f: [-1, 0, 0], r: [0, 0, 1], u: [0, 1, 0] },
  { name: 'up', f: [0, 1, 0], r: [1, 0, 0], u: [0, 0, -1] },
  { name: 'down', f: [0, -1, 0], r: [1, 0, 0], u: [0, 0, 1] },
];

export interface CubeGeometry {
  /** Pixels across a face's 90° core. */
  face: number;
  /** Extra pixels on each side of the core, shared with the neighbouring faces. */
  overlap: number;
}

/**
 * Face size that keeps the equator's resolution: a face spans 2 tangent units over 90°, so at its
 * centre it has face/2 pixels per radian, as many as the frame's width/(2π) when face = width/π.
 * That is what dreaming uses (hallucinations come out the size they have on the flat frame);
 * `oversample` > 1 makes larger faces, for a reprojection that loses less detail (the poles
 * hold more pixels on an equirectangular frame than any face can). Overlap: 1/16 of the face on
 * each side (at least 4 pixels).
 */
export function cubeGeometryFor(equirectWidth: number, oversample = 1): CubeGeometry {
  const face = Math.max(8, 2 * Math.round((oversample * equirectWidth) / Math.PI / 2));
  return { face, overlap: Math.max(4, Math.round(face / 16)) };
}

/** Bilinear sample of an RGB image at (sx, sy) into out[o..o+2]; x wraps, y clamps. */
function sampleWrapX(img: RgbImage, sx: number, sy: number, out: Float32Array, o: number): void {
  const { width: w, height: h, data } = img;
  sy = sy < 0 ? 0 : sy > h - 1 ? h - 1 : sy;
  const fx = Math.floor(sx);
  const ax = sx - fx;
  let x0 = fx % w;
  if (x0 < 0) x0 += w;
  const x1 = x0 + 1 === w ? 0 : x0 + 1;
  const y0 = Math.floor(sy);
  const y1 = y0 < h - 1 ? y0 + 1 : y0;
  const ay = sy - y0;
  const p00 = (y0 * w + x0) * 3;
  const p01 = (y0 * w + x1) * 3;
  const p10 = (y1 * w + x0) * 3;
  const p11 = (y1 * w + x1) * 3;
  for (let c = 0; c < 3; c++) out[o + c] = bilerp(data, p00 + c, p01 + c, p10 + c, p11 + c, ax, ay);
}

/** Bilinear sample clamped at every edge, accumulated with a weight. */
function sampleClampAdd(img: RgbImage, sx: number, sy: number, weight: number, out: Float32Array, o: number): void {
  const { width: w, height: h, data } = img;
  sx = sx < 0 ? 0 : sx > w - 1 ? w - 1 : sx;
  sy = sy < 0 ? 0 : sy > h - 1 ? h - 1 : sy;
  const x0 = Math.floor(sx);
  const y0 = Math.floor(sy);
  const x1 = x0 < w - 1 ? x0 + 1 : x0;
  const y1 = y0 < h - 1 ? y0 + 1 : y0;
  const ax = sx - x0;
  const ay = sy - y0;
  const p00 = (y0 * w + x0) * 3;
  const p01 = (y0 * w + x1) * 3;
  const p10 = (y1 * w + x0) * 3;
  const p11 = (y1 * w + x1) * 3;
  for (let c = 0; c < 3; c++) out[o + c] += weight * bilerp(data, p00 + c, p01 + c, p10 + c, p11 + c, ax, ay);
}

/** The six faces (order of FACES), each (face + 2·overlap)² pixels. Pure. */
export function equirectToCubemap(img: RgbImage, geometry: CubeGeometry = cubeGeometryFor(img.width)): RgbImage[] {
  const { face: n, overlap: p } = geometry;
  const side = n + 2 * p;
  const W = img.width;
  const H = img.height;
  return FACES.map(({ f, r, u }) => {
    const out = new Float32Array(side * side * 3);
    for (let j = 0; j < side; j++) {
      // Tangent-plane coordinates: the core spans [−1, 1]; b grows downwards.
      const b = ((j - p + 0.5) / n) * 2 - 1;
      for (let i = 0; i < side; i++) {
        const a = ((i - p + 0.5) / n) * 2 - 1;
        const dx = f[0] + a * r[0] - b * u[0];
        const dy = f[1] + a * r[1] - b * u[1];
        const dz = f[2] + a * r[2] - b * u[2];
        const lon = Math.atan2(dx, dz);
        const lat = Math.atan2(dy, Math.hypot(dx, dz));
        const sx = ((lon + Math.PI) / (2 * Math.PI)) * W - 0.5;
        const sy = ((Math.PI / 2 - lat) / Math.PI) * H - 0.5;
        sampleWrapX(img, sx, sy, out, (j * side + i) * 3);
      }
    }
    return createImage(side, side, out);
  });
}

/**
 * Feather weight along one tangent axis: 1 inside the core away from its edge, falling linearly
 * to 0 at the outer edge of the overlap, ½ exactly at the 90° edge, so two neighbouring faces
 * share a border pixel half and half.
 */
function feather(t: number, extent: number): number {
  const band = extent - 1; // overlap in tangent units
  const a = Math.abs(t);
  if (a <= 1 - band) return 1;
  if (a >= extent) return 0;
  return (extent - a) / (2 * band);
}

/** An equirectangular frame from six faces (as made by equirectToCubemap), overlaps blended. Pure. */
export function cubemapToEquirect(faces: readonly RgbImage[], width: number, height: number, geometry: CubeGeometry): RgbImage {
  if (faces.length !== 6) throw new Error(`a cubemap has 6 faces, got ${faces.length}`);
  const { face: n, overlap: p } = geometry;
  const extent = 1 + (2 * p) / n;
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const lat = Math.PI / 2 - ((y + 0.5) / height) * Math.PI;
    const cl = Math.cos(lat);
    const dy = Math.sin(lat);
    for (let x = 0; x < width; x++) {
      const lon = ((x + 0.5) / width) * 2 * Math.PI - Math.PI;
      const dx = cl * Math.sin(lon);
      const dz = cl * Math.cos(lon);
      const o = (y * width + x) * 3;
      let total = 0;
      for (let k = 0; k < 6; k++) {
        const { f, r, u } = FACES[k]!;
        const t = dx * f[0] + dy * f[1] + dz * f[2];
        if (t <= 0) continue;
        const a = (dx * r[0] + dy * r[1] + dz * r[2]) / t;
        const b = -(dx * u[0] + dy * u[1] + dz * u[2]) / t;
        const weight = feather(a, extent) * feather(b, extent);
        if (weight <= 0) continue;
        const i = ((a + 1) / 2) * n + p - 0.5;
        const j = ((b + 1) / 2) * n + p - 0.5;
        sampleClampAdd(faces[k]!, i, j, weight, out, o);
        total += weight;
      }
      // Every direction lies in some face's core, where the weight is at least ¼.
      const inv = 1 / total;
      out[o] = out[o]! * inv;
      out[o + 1] = out[o + 1]! * inv;
      out[o + 2] = out[o + 2]! * inv;
    }
  }
  return createImage(width, height, out);
}
