/**
 * Complex discrete Fourier transforms of any length: radix-2 for powers of two, Bluestein's chirp
 * z-transform (through a power-of-two convolution) otherwise, because octave sizes are arbitrary
 * (117×77 …). Pure functions on plain arrays; the inverse includes the 1/n factor.
 */

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** In-place iterative radix-2 transform; `sign` −1 forward, +1 inverse (unscaled). */
function radix2(re: Float64Array, im: Float64Array, sign: 1 | -1): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = (sign * 2 * Math.PI) / len;
    const wr = Math.cos(angle);
    const wi = Math.sin(angle);
    const half = len >> 1;
    for (let start = 0; start < n; start += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < half; k++) {
        const a = start + k;
        const b = a + half;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

/** Bluestein: a length-n DFT as a convolution with a chirp, done by power-of-two FFTs. */
function bluestein(re: Float64Array, im: Float64Array, sign: 1 | -1): void {
  const n = re.length;
  let m = 1;
  while (m < 2 * n - 1) m <<= 1;
  const cosT = new Float64Array(n);
  const sinT = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    // k² mod 2n keeps the angle exact for large k.
    const angle = (sign * Math.PI * ((k * k) % (2 * n))) / n;
    cosT[k] = Math.cos(angle);
    sinT[k] = Math.sin(angle);
  }
  const ar = new Float64Array(m);
  const ai = new Float64Array(m);
  for (let k = 0; k < n; k++) {
    ar[k] = re[k]! * cosT[k]! - im[k]! * sinT[k]!;
    ai[k] = re[k]! * sinT[k]! + im[k]! * cosT[k]!;
  }
  const br = new Float64Array(m);
  const bi = new Float64Array(m);
  br[0] = cosT[0]!;
  bi[0] = -sinT[0]!;
  for (let k = 1; k < n; k++) {
    br[k] = br[m - k] = cosT[k]!;
    bi[k] = bi[m - k] = -sinT[k]!;
  }
  radix2(ar, ai, -1);
  radix2(br, bi, -1);
  for (let k = 0; k < m; k++) {
    const r = ar[k]! * br[k]! - ai[k]! * bi[k]!;
    ai[k] = ar[k]! * bi[k]! + ai[k]! * br[k]!;
    ar[k] = r;
  }
  radix2(ar, ai, 1);
  for (let k = 0; k < n; k++) {
    const r = ar[k]! / m;
    const i = ai[k]! / m;
    re[k] = r * cosT[k]! - i * sinT[k]!;
    im[k] = r * sinT[k]! + i * cosT[k]!;
  }
}

/** In-place DFT of any length. `inverse` divides by n, so fft then inverse fft is the identity. */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (n <= 1) return;
  const sign = inverse ? 1 : -1;
  if (isPowerOfTwo(n)) radix2(re, im, sign);
  else bluestein(re, im, sign);
  if (inverse) {
    for (let i = 0; i < n; i++) {
      re[i] = re[i]! / n;
      im[i] = im[i]! / n;
    }
  }
}

/**
 * Filter one channel of a width×height plane in the frequency domain: multiply its 2-D spectrum
 * by `gain(fx, fy)` (frequencies in cycles per pixel, −0.5 … 0.5) and transform back. Circular
 * boundaries, like the dream's jitter roll.
 */
export function filterPlane(plane: Float64Array, width: number, height: number, gain: (fx: number, fy: number) => number): Float64Array {
  const re = Float64Array.from(plane);
  const im = new Float64Array(plane.length);
  const rowRe = new Float64Array(width);
  const rowIm = new Float64Array(width);
  const colRe = new Float64Array(height);
  const colIm = new Float64Array(height);
  const pass = (inverse: boolean): void => {
    for (let y = 0; y < height; y++) {
      rowRe.set(re.subarray(y * width, (y + 1) * width));
      rowIm.set(im.subarray(y * width, (y + 1) * width));
      fft(rowRe, rowIm, inverse);
      re.set(rowRe, y * width);
      im.set(rowIm, y * width);
    }
    for (let x = 0; x < width; x++) {
      for (let y = 0; y < height; y++) {
        colRe[y] = re[y * width + x]!;
        colIm[y] = im[y * width + x]!;
      }
      fft(colRe, colIm, inverse);
      for (let y = 0; y < height; y++) {
        re[y * width + x] = colRe[y]!;
        im[y * width + x] = colIm[y]!;
      }
    }
  };
  pass(false);
  for (let y = 0; y < height; y++) {
    const fy = (y <= height / 2 ? y : y - height) / height;
    for (let x = 0; x < width; x++) {
      const fx = (x <= width / 2 ? x : x - width) / width;
      const g = gain(fx, fy);
      re[y * width + x] = re[y * width + x]! * g;
      im[y * width + x] = im[y * width + x]! * g;
    }
  }
  pass(true);
  return re;
}
