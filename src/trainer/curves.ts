// Training and validation curves as a self-contained SVG (no network, no library).

export interface CurvePoint {
  step: number;
  value: number;
}

export function curvesSvg(series: Array<{ name: string; color: string; points: CurvePoint[] }>, title: string): string {
  const width = 720;
  const height = 360;
  const pad = { l: 60, r: 160, t: 36, b: 40 };
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.value));
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  if (all.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><text x="20" y="40">${esc(title)}: no points yet</text></svg>\n`;
  }
  const xMax = Math.max(1, ...all.map((p) => p.step));
  const yMin = Math.min(...all.map((p) => p.value));
  const yMax = Math.max(...all.map((p) => p.value));
  const ySpan = yMax - yMin || 1;
  const x = (s: number) => pad.l + ((width - pad.l - pad.r) * s) / xMax;
  const y = (v: number) => pad.t + (height - pad.t - pad.b) * (1 - (v - yMin) / ySpan);
  const ticks = Array.from({ length: 5 }, (_, i) => yMin + (ySpan * i) / 4);
  const lines = series
    .filter((s) => s.points.length)
    .map((s, i) => {
      const d = s.points.filter((p) => Number.isFinite(p.value)).map((p, j) => `${j ? 'L' : 'M'}${x(p.step).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
      return [
        `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`,
        `<rect x="${width - pad.r + 16}" y="${pad.t + i * 20}" width="12" height="3" fill="${s.color}"/>`,
        `<text x="${width - pad.r + 34}" y="${pad.t + i * 20 + 5}" font-size="12">${esc(s.name)}</text>`,
      ].join('\n');
    });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${pad.l}" y="20" font-size="14">${esc(title)}</text>`,
    ...ticks.map((v) => `<line x1="${pad.l}" x2="${width - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${pad.l - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${v.toFixed(2)}</text>`),
    `<text x="${(width - pad.r + pad.l) / 2}" y="${height - 8}" font-size="11" text-anchor="middle">step (max ${xMax})</text>`,
    ...lines,
    '</svg>',
    '',
  ].join('\n');
}
