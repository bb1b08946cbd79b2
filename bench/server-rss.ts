// The server's own memory with one performer: `antiphon serve` in a child process, one WebSocket
// client playing calls and hearing the answers, and the server process's peak VmRSS (which
// counts every thread, engine workers included). The load benchmark runs its clients in its
// own process, so its RSS is not the server's alone.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export interface ServerRss {
  rssMb: number;
  calls: number;
  aiNotes: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureServerRss(opts: { calls?: number; backend?: string; log?: (l: string) => void } = {}): Promise<ServerRss> {
  const bin = fileURLToPath(new URL('../bin/antiphon.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--backend', opts.backend ?? 'auto'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += String(d);
        const m = /Open (http:\/\/\S+?)\/? in a browser/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`antiphon serve exited (${code}) before listening`)));
    });
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    let peak = rss();
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`, { headers: { Origin: url } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    let aiNotes = 0;
    ws.on('message', (m) => {
      if ((JSON.parse(String(m)) as { type: string }).type === 'noteon') aiNotes++;
    });
    const calls = opts.calls ?? 2;
    for (let c = 0; c < calls; c++) {
      // Two bars of eighths at 120 BPM, then room for the answer.
      for (let i = 0; i < 16; i++) {
        const note = 60 + [0, 2, 4, 5, 7, 9, 11, 12][i % 8];
        ws.send(JSON.stringify({ type: 'noteon', note, velocity: 80 }));
        await sleep(200);
        ws.send(JSON.stringify({ type: 'noteoff', note }));
        await sleep(50);
        peak = Math.max(peak, rss());
      }
      for (let t = 0; t < 30; t++) {
        await sleep(200);
        peak = Math.max(peak, rss());
      }
    }
    ws.close();
    opts.log?.(`server RSS: ${peak.toFixed(0)} MB peak over ${calls} calls, ${aiNotes} AI notes`);
    return { rssMb: Math.round(peak), calls, aiNotes };
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  }
}
