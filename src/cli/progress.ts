// Progress for long work: a live bar on a terminal (cli-progress), plain lines otherwise
// (one every 10%, so CI logs stay short). Always written to stderr, so --json output stays clean.

import cliProgress from 'cli-progress';

export interface Progress {
  tick(detail?: string): void;
  stop(): void;
}

export function progress(label: string, total: number, opts: { tty: boolean; err: (line: string) => void; quiet?: boolean }): Progress {
  if (opts.quiet || total === 0) return { tick() {}, stop() {} };
  if (opts.tty) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} | {detail}`, hideCursor: true, stream: process.stderr },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { detail: '' });
    return { tick: (detail = '') => bar.increment(1, { detail }), stop: () => bar.stop() };
  }
  let done = 0;
  let lastDecile = -1;
  const t0 = Date.now();
  return {
    tick() {
      done++;
      const decile = Math.floor((done / total) * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        const s = (Date.now() - t0) / 1000;
        opts.err(`${label}: ${done}/${total} (${Math.round((done / total) * 100)}%) after ${s.toFixed(1)} s`);
      }
    },
    stop() {},
  };
}
