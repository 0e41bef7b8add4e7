import sharp from 'sharp';

export interface Series {
  label: string;
  values: readonly number[];
  colour: string;
}

/** Text safe inside SVG markup. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A line chart as SVG text: axes with ticks, one polyline per series, a legend. Pure. */
export function lineChartSvg(series: readonly Series[], opts: { title: string; xLabel: string; yLabel: string; width?: number; height?: number }): string {
  const W = opts.width ?? 800;
  const H = opts.height ?? 400;
  const m = { left: 70, right: 20, top: 40, bottom: 50 };
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const maxY = Math.max(1e-12, ...series.flatMap((s) => s.values.filter(Number.isFinite)));
  const x = (i: number): number => m.left + (i / (n - 1)) * (W - m.left - m.right);
  const y = (v: number): number => H - m.bottom - (v / maxY) * (H - m.top - m.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(opts.title)}</text>`,
    `<line x1="${m.left}" y1="${H - m.bottom}" x2="${W - m.right}" y2="${H - m.bottom}" stroke="black"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${H - m.bottom}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`,
    `<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">${escapeXml(opts.yLabel)}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = (maxY * k) / 4;
    parts.push(`<line x1="${m.left - 4}" y1="${y(v)}" x2="${m.left}" y2="${y(v)}" stroke="black"/>`);
    parts.push(`<text x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toExponential(1)}</text>`);
    const i = Math.round(((n - 1) * k) / 4);
    parts.push(`<text x="${x(i)}" y="${H - m.bottom + 16}" text-anchor="middle">${i}</text>`);
  }
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(Number.isFinite(v) ? v : 0).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="2" points="${points}"/>`);
    const ly = m.top + 4 + k * 18;
    parts.push(`<line x1="${W - m.right - 150}" y1="${ly}" x2="${W - m.right - 130}" y2="${ly}" stroke="${s.colour}" stroke-width="3"/>`);
    parts.push(`<text x="${W - m.right - 124}" y="${ly + 4}">${escapeXml(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Render the per-frame warping error of input and output to a PNG. */
export async function writeWarpingErrorPlot(path: string, perFrame: { input: readonly number[]; output: readonly number[] }): Promise<void> {
  const svg = lineChartSvg(
    [
      { label: 'input', values: perFrame.input, colour: '#1f77b4' },
      { label: 'output (dreamed)', values: perFrame.output, colour: '#d62728' },
    ],
    { title: 'Warping error per frame', xLabel: 'frame pair t → t+1', yLabel: 'E(t)' },
  );
  await sharp(Buffer.from(svg)).png().toFile(path);
}
