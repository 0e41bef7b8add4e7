/** A rectangle of the image whose gradient one forward/backward pass computes. */
export interface Tile {
  /** The part of the image this tile is responsible for. */
  core: { x: number; y: number; width: number; height: number };
  /**
   * The core plus a context margin (clamped to the image), which is what the network sees. With
   * `wrapX` the margin is not clamped horizontally: x may be negative or x + width exceed the
   * image width, meaning columns wrapped around from the other side (see cropWrapX).
   */
  view: { x: number; y: number; width: number; height: number };
}

function split(length: number, parts: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < parts; i++) {
    const a = Math.round((i * length) / parts);
    const b = Math.round(((i + 1) * length) / parts);
    out.push([a, b - a]);
  }
  return out;
}

/**
 * Cut a width×height image into tiles no larger than `maxTile` (plus margins), and into at least
 * `minTiles` pieces when each piece would still be at least `minSide` wide, so every worker thread
 * gets work. The dream loop rolls the image randomly every step, so tile borders land somewhere
 * new each time and never accumulate into visible seams; the margin gives each tile's border
 * pixels real context instead of zero padding.
 */
export function tileGrid(
  width: number,
  height: number,
  opts: { maxTile: number; margin: number; minTiles?: number; minSide?: number; wrapX?: boolean | undefined },
): Tile[] {
  let cols = Math.ceil(width / opts.maxTile);
  let rows = Math.ceil(height / opts.maxTile);
  const minTiles = opts.minTiles ?? 1;
  const minSide = opts.minSide ?? 96;
  while (cols * rows < minTiles) {
    // Split the longer side of the tiles further, if the pieces stay big enough to be worth it.
    const canCol = width / (cols + 1) >= minSide;
    const canRow = height / (rows + 1) >= minSide;
    if (canCol && (width / cols >= height / rows || !canRow)) cols++;
    else if (canRow) rows++;
    else break;
  }
  const tiles: Tile[] = [];
  for (const [y, h] of split(height, rows)) {
    for (const [x, w] of split(width, cols)) {
      // A 360° panorama has no left or right edge: every tile gets its full margin there.
      const vx = opts.wrapX ? x - opts.margin : Math.max(0, x - opts.margin);
      const vy = Math.max(0, y - opts.margin);
      const vx2 = opts.wrapX ? x + w + opts.margin : Math.min(width, x + w + opts.margin);
      const vy2 = Math.min(height, y + h + opts.margin);
      tiles.push({ core: { x, y, width: w, height: h }, view: { x: vx, y: vy, width: vx2 - vx, height: vy2 - vy } });
    }
  }
  return tiles;
}
