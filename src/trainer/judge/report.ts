// The judge's report as a table for a terminal.

import type { Stat } from './stats.ts';
import { HISTOGRAM_MEASURES, type JudgeReport, type Measure } from './run.ts';

const COLUMNS: Array<{ measure: Measure; title: string; digits: number }> = [
  { measure: 'pitchClass', title: 'pc dist', digits: 3 },
  { measure: 'onset', title: 'onset dist', digits: 3 },
  { measure: 'density', title: 'density err', digits: 3 },
  { measure: 'notesPerBar', title: 'notes/bar', digits: 1 },
  { measure: 'inKey', title: 'in key', digits: 3 },
  { measure: 'distinct4', title: 'distinct 4g', digits: 3 },
  { measure: 'harmonyRepeat', title: 'harmony rep', digits: 3 },
];

const TITLES: Record<(typeof HISTOGRAM_MEASURES)[number], string> = { pitchClass: 'pitch classes', onset: 'onsets' };

const signed = (x: number, d: number) => `${x >= 0 ? '+' : '-'}${Math.abs(x).toFixed(d)}`;

export function formatStat(s: Stat | null | undefined, digits: number): string {
  if (!s) return '-';
  return `${s.mean.toFixed(digits)} [${s.ci95[0].toFixed(digits)}, ${s.ci95[1].toFixed(digits)}]`;
}

export function formatReport(r: JudgeReport): string[] {
  const sk = r.split.skipped;
  const skipped = sk.tooShort + sk.silentReference;
  const lines = [
    `${r.songs.judged} of ${r.split.validationSongs} validation songs (fraction ${r.split.valFraction}, from the ${r.split.valFractionFrom})` +
      `; ${skipped} skipped: ${sk.tooShort} shorter than ${r.primerBars + r.bars} bars, ${sk.silentReference} silent after the primer` +
      (r.split.eligible > r.songs.judged ? `; ${r.split.eligible - r.songs.judged} more usable, not asked for` : ''),
    `primer ${r.primerBars} bars, continuation ${r.bars} bars, seed ${r.seed}, Markov order ${r.markovOrder}; mean [95% bootstrap CI] over songs`,
    '',
  ];
  const rows: string[][] = [['system', ...COLUMNS.map((c) => c.title)]];
  rows.push(['reference', ...COLUMNS.map((c) => (c.measure in r.reference ? formatStat(r.reference[c.measure as keyof JudgeReport['reference']], c.digits) : ''))]);
  for (const s of r.systems) rows.push([s.name, ...COLUMNS.map((c) => formatStat(s.measures[c.measure], c.digits))]);
  const widths = rows[0].map((_, j) => Math.max(...rows.map((row) => row[j].length)));
  for (const row of rows) lines.push(row.map((cell, j) => cell.padEnd(widths[j])).join('  ').trimEnd());
  lines.push(
    '',
    'pc dist, onset dist: total variation distance of the pitch-class / onset-position histograms to the real bars (0 best, 1 disjoint)',
    'density err: |log2((notes + 1) / (real notes + 1))| (0 best); notes/bar, in key, distinct 4g, harmony rep: nearer the reference row is better',
  );
  for (const s of r.systems) {
    if (!s.vsMarkov) continue;
    const parts = HISTOGRAM_MEASURES.map((k) => {
      const v = s.vsMarkov![k];
      const d = v.difference;
      return `${TITLES[k]} ${v.beats ? 'BEATS' : 'does not beat'} (${d ? `${signed(d.mean, 3)} [${signed(d.ci95[0], 3)}, ${signed(d.ci95[1], 3)}]` : '-'})`;
    });
    const extra = [s.hitMaxWords ? `${s.hitMaxWords} continuations cut at ${r.maxWords} words` : '', `${s.seconds.toFixed(0)} s`].filter(Boolean).join(', ');
    lines.push(`${s.name} vs markov (model - markov, lower is better): ${parts.join('; ')}; ${extra}`);
    const u = s.contextUse;
    if (u && u.songs > 0) {
      lines.push(
        `${s.name} listens: NLL per word of the real next bars ${u.nllPerWord.full.toFixed(3)} after the whole primer, ${u.nllPerWord.lastBar.toFixed(3)} after its last bar ` +
          `(gain ${signed(u.nllPerWord.gain, 3)}); pitch ${u.pitch.full.toFixed(3)} / ${u.pitch.lastBar.toFixed(3)} (gain ${signed(u.pitch.gain, 3)}); ${u.songs} songs`,
      );
    }
  }
  return lines;
}
