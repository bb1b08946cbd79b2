// The on-screen piano: pointer input (mouse, pen, multi-touch) with glissando by dragging,
// key labels for the computer keyboard, and highlights for the person's and the AI's notes.

import { keyboardLayout, noteName, velocityFromPosition, type KeyGeometry } from './keymap.ts';

export interface PianoHandlers {
  press(source: string, note: number, velocity: number, time: number): void;
  release(source: string, note: number, time: number): void;
}

export class OnScreenPiano {
  readonly layout: KeyGeometry[];
  private readonly keys = new Map<number, HTMLElement>();
  private readonly labels = new Map<number, HTMLElement>();
  /** The note each active pointer is on. */
  private readonly pointers = new Map<number, number>();
  private aiLit = new Set<number>();

  constructor(
    private readonly root: HTMLElement,
    readonly low: number,
    readonly high: number,
    private readonly handlers: PianoHandlers,
  ) {
    this.layout = keyboardLayout(low, high);
    for (const k of this.layout) {
      const el = document.createElement('div');
      el.className = `key ${k.black ? 'black' : 'white'}`;
      el.style.left = `${k.x * 100}%`;
      el.style.width = `${k.w * 100}%`;
      el.dataset.note = String(k.note);
      el.setAttribute('aria-label', noteName(k.note));
      const label = document.createElement('span');
      label.className = 'label';
      el.append(label);
      this.labels.set(k.note, label);
      if (k.note % 12 === 0) {
        const c = document.createElement('span');
        c.className = 'cname';
        c.textContent = noteName(k.note);
        el.append(c);
      }
      root.append(el);
      this.keys.set(k.note, el);
    }
    root.addEventListener('pointerdown', (e) => this.onDown(e));
    window.addEventListener('pointermove', (e) => this.onMove(e), { passive: true });
    window.addEventListener('pointerup', (e) => this.onUp(e));
    window.addEventListener('pointercancel', (e) => this.onUp(e));
    root.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  /** Shows the computer key for each note the key map covers. */
  setLabels(labels: Map<number, string>): void {
    for (const [note, el] of this.labels) el.textContent = labels.get(note) ?? '';
  }

  setPerson(note: number, on: boolean): void {
    this.keys.get(note)?.classList.toggle('person', on);
  }

  /** The AI notes sounding now (the roll works it out each frame). */
  setAi(notes: Set<number>): void {
    for (const n of this.aiLit) if (!notes.has(n)) this.keys.get(n)?.classList.remove('ai');
    for (const n of notes) if (!this.aiLit.has(n)) this.keys.get(n)?.classList.add('ai');
    this.aiLit = new Set(notes);
  }

  /** Scrolls the keyboard so `note` is in the middle (small screens). */
  centreOn(note: number, scroller: HTMLElement): void {
    const k = this.layout.find((g) => g.note === note);
    if (!k) return;
    const width = this.root.getBoundingClientRect().width;
    scroller.scrollLeft = Math.max(0, (k.x + k.w / 2) * width - scroller.clientWidth / 2);
  }

  /** Lets go of every pointer (the window lost focus). */
  releaseAll(time: number): void {
    for (const [id, note] of this.pointers) this.handlers.release(source(id), note, time);
    this.pointers.clear();
  }

  private keyAt(x: number, y: number): { note: number; el: HTMLElement } | null {
    const hit = document.elementFromPoint(x, y);
    const el = hit instanceof HTMLElement ? (hit.closest('.key') as HTMLElement | null) : null;
    if (!el || !this.root.contains(el)) return null;
    return { note: Number(el.dataset.note), el };
  }

  private velocity(el: HTMLElement, y: number): number {
    const r = el.getBoundingClientRect();
    return velocityFromPosition((y - r.top) / Math.max(1, r.height));
  }

  private onDown(e: PointerEvent): void {
    if (e.button !== 0 && e.pointerType === 'mouse') return;
    const hit = this.keyAt(e.clientX, e.clientY);
    if (!hit) return;
    e.preventDefault();
    this.pointers.set(e.pointerId, hit.note);
    this.handlers.press(source(e.pointerId), hit.note, this.velocity(hit.el, e.clientY), eventTime(e));
  }

  private onMove(e: PointerEvent): void {
    const current = this.pointers.get(e.pointerId);
    if (current === undefined) return;
    // The button came up outside the window: that pointerup never reached us.
    if (e.pointerType === 'mouse' && e.buttons === 0) return this.onUp(e);
    const hit = this.keyAt(e.clientX, e.clientY);
    if (hit?.note === current) return;
    if (hit === null && Number.isNaN(current)) return;
    const t = eventTime(e);
    if (!Number.isNaN(current)) this.handlers.release(source(e.pointerId), current, t);
    if (hit) {
      this.pointers.set(e.pointerId, hit.note);
      this.handlers.press(source(e.pointerId), hit.note, this.velocity(hit.el, e.clientY), t);
    } else {
      // Slid off the keyboard: the pointer stays tracked and plays again if it comes back.
      this.pointers.set(e.pointerId, NaN);
    }
  }

  private onUp(e: PointerEvent): void {
    const current = this.pointers.get(e.pointerId);
    if (current === undefined) return;
    this.pointers.delete(e.pointerId);
    if (!Number.isNaN(current)) this.handlers.release(source(e.pointerId), current, eventTime(e));
  }
}

function source(pointerId: number): string {
  return `pointer:${pointerId}`;
}

/**
 * An input event's time on the performance.now() clock. Event.timeStamp is that clock in every
 * current browser; anything else (a synthetic event, an epoch stamp) falls back to now.
 */
export function eventTime(e: Event): number {
  const now = performance.now();
  const t = e.timeStamp;
  return t > 0 && t <= now && now - t < 1000 ? t : now;
}
