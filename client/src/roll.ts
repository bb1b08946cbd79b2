// The piano roll: a canvas above the piano whose lanes line up with its keys. Time runs upwards
// from the keyboard: a note appears at the bottom edge when it sounds and rises as it ages. The
// call is amber, the answer teal, and the bottom edge glows in the colour of whose turn it is.

import type { KeyGeometry } from './keymap.ts';
import type { Turn } from './protocol.ts';

type Who = 'person' | 'ai';

interface RollNote {
  note: number;
  velocity: number;
  who: Who;
  start: number;
  end: number | null;
  /** Counted once it was on screen (the data-*-notes attributes). */
  shown: boolean;
}

const COLOURS: Record<Who, [number, number, number]> = {
  person: [255, 181, 71],
  ai: [57, 208, 196],
};

export class PianoRoll {
  /** How much time the roll shows, in ms. */
  windowMs = 6000;
  private readonly notes = new Map<string, RollNote>();
  private readonly personKeys = new Map<number, string>();
  private readonly geometry = new Map<number, KeyGeometry>();
  private readonly lowest: KeyGeometry;
  private readonly highest: KeyGeometry;
  private seq = 0;
  private turn: Turn = 'listening';
  private turnAt = 0;
  private aiShown = 0;
  private personShown = 0;
  private aiSounding = new Set<number>();
  private width = 0;
  private height = 0;
  private dpr = 1;
  private readonly ctx: CanvasRenderingContext2D;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    layout: KeyGeometry[],
    private readonly onAiSounding: (notes: Set<number>) => void,
  ) {
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas');
    this.ctx = ctx;
    for (const k of layout) this.geometry.set(k.note, k);
    this.lowest = layout[0];
    this.highest = layout[layout.length - 1];
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  start(): void {
    const loop = () => {
      this.frame(performance.now());
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  personOn(note: number, velocity: number, time: number): void {
    const key = `p${this.seq++}`;
    this.notes.set(key, { note, velocity, who: 'person', start: time, end: null, shown: false });
    this.personKeys.set(note, key);
  }

  personOff(note: number, time: number): void {
    const key = this.personKeys.get(note);
    if (key === undefined) return;
    this.personKeys.delete(note);
    const n = this.notes.get(key);
    if (n) n.end = Math.max(n.start, time);
  }

  aiOn(id: number, note: number, velocity: number, time: number): void {
    this.notes.set(`a${id}`, { note, velocity, who: 'ai', start: time, end: null, shown: false });
  }

  aiOff(id: number, time: number): void {
    const n = this.notes.get(`a${id}`);
    if (n) n.end = Math.max(n.start, time);
  }

  /** A cancelled note: gone if it had not sounded yet, cut short if it had. */
  aiAbort(id: number, now: number): void {
    const n = this.notes.get(`a${id}`);
    if (!n) return;
    if (n.start > now) this.notes.delete(`a${id}`);
    else n.end = Math.min(n.end ?? now, now);
  }

  /** Ends every AI note now (panic, disconnect). */
  aiStopAll(now: number): void {
    for (const [key, n] of this.notes) {
      if (n.who !== 'ai') continue;
      if (n.start > now) this.notes.delete(key);
      else if (n.end === null || n.end > now) n.end = now;
    }
  }

  setTurn(turn: Turn, now: number): void {
    if (turn !== this.turn) this.turnAt = now;
    this.turn = turn;
  }

  private resize(): void {
    const r = this.canvas.getBoundingClientRect();
    this.dpr = Math.min(2, window.devicePixelRatio || 1);
    this.width = Math.max(1, Math.round(r.width));
    this.height = Math.max(1, Math.round(r.height));
    this.canvas.width = Math.round(this.width * this.dpr);
    this.canvas.height = Math.round(this.height * this.dpr);
  }

  private geom(note: number): KeyGeometry {
    return this.geometry.get(note) ?? (note < this.lowest.note ? this.lowest : this.highest);
  }

  frame(now: number): void {
    const { ctx, width: W, height: H } = this;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const k = H / this.windowMs;

    // Lanes: black keys a shade lighter, a line at every C.
    ctx.fillStyle = '#0a0c10';
    ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = '#10131a';
    for (const g of this.geometry.values()) if (g.black) ctx.fillRect(g.x * W, 0, g.w * W, H);
    ctx.fillStyle = '#1c212b';
    for (const g of this.geometry.values()) if (g.note % 12 === 0) ctx.fillRect(Math.round(g.x * W), 0, 1, H);

    // Seconds rising with the notes.
    ctx.fillStyle = 'rgba(255,255,255,0.035)';
    for (let t = Math.floor(now / 1000) * 1000; now - t < this.windowMs; t -= 1000) {
      ctx.fillRect(0, Math.round(H - (now - t) * k), W, 1);
    }

    // The turn glow along the bottom edge, fading in after a change.
    const [r, g, b] = COLOURS[this.turn === 'answering' ? 'ai' : 'person'];
    const fade = Math.min(1, (now - this.turnAt) / 250);
    const glow = ctx.createLinearGradient(0, H, 0, H - 70);
    glow.addColorStop(0, `rgba(${r},${g},${b},${0.32 * fade})`);
    glow.addColorStop(1, `rgba(${r},${g},${b},0)`);
    ctx.fillStyle = glow;
    ctx.fillRect(0, H - 70, W, 70);

    const sounding = new Set<number>();
    for (const [key, n] of this.notes) {
      if (n.end !== null && now - n.end > this.windowMs) {
        this.notes.delete(key);
        continue;
      }
      if (n.start > now) continue;
      if (!n.shown) {
        n.shown = true;
        if (n.who === 'ai') this.aiShown++;
        else this.personShown++;
      }
      const live = n.end === null || n.end > now;
      if (live && n.who === 'ai') sounding.add(n.note);
      const geo = this.geom(n.note);
      const x = geo.x * W + 1;
      const w = Math.max(2, geo.w * W - 2);
      const top = H - (now - n.start) * k;
      const bottom = live ? H : H - (now - (n.end as number)) * k;
      const [cr, cg, cb] = COLOURS[n.who];
      const alpha = 0.45 + 0.55 * Math.min(1, n.velocity / 127);
      ctx.fillStyle = `rgba(${cr},${cg},${cb},${alpha})`;
      if (live) {
        ctx.shadowColor = `rgba(${cr},${cg},${cb},0.8)`;
        ctx.shadowBlur = 12;
      }
      roundRect(ctx, x, top, w, Math.max(2, bottom - top), Math.min(4, w / 3));
      ctx.shadowBlur = 0;
    }

    this.canvas.dataset.aiNotes = String(this.aiShown);
    this.canvas.dataset.personNotes = String(this.personShown);
    if (!sameSet(sounding, this.aiSounding)) {
      this.aiSounding = sounding;
      this.onAiSounding(sounding);
    }
  }
}

function roundRect(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
  ctx.fill();
}

function sameSet(a: Set<number>, b: Set<number>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
