// The session settings panel: every [data-control] element is wired to a ControlId. Changes go
// out as small `settings` patches (throttled while a slider moves); the server's `hello` and
// `settings` replies are reflected back, except on the control the person is moving right now.

import {
  answerLengthPatch,
  clampControl,
  CONTROLS,
  controlValues,
  formatControl,
  isEmptyPatch,
  mergePatches,
  restorePatch,
  settingsPatch,
  type ControlId,
  type DuetSettings,
  type SettingsPatch,
} from './protocol.ts';

const THROTTLE_MS = 120;
/** A control the person touched this recently keeps their value over a reply. */
const HANDS_OFF_MS = 700;

export class SettingsControls {
  /** Every control the person has changed in this page. */
  readonly touched = new Set<ControlId>();
  /** What the person wants: all their patches merged (sent again to a new session). */
  private desired: SettingsPatch = {};
  private pending: SettingsPatch = {};
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly touchedAt = new Map<ControlId, number>();
  private readonly inputs = new Map<ControlId, HTMLInputElement[]>();
  private readonly outputs = new Map<ControlId, HTMLOutputElement>();

  constructor(
    root: HTMLElement,
    private readonly send: (patch: SettingsPatch) => boolean,
  ) {
    for (const el of root.querySelectorAll<HTMLInputElement>('input[data-control]')) {
      const id = el.dataset.control as ControlId;
      const spec = CONTROLS[id];
      if (!spec) continue;
      if (spec.kind === 'number') {
        el.min = String(spec.min);
        el.max = String(spec.max);
        el.step = String(spec.step);
      }
      const list = this.inputs.get(id) ?? [];
      list.push(el);
      this.inputs.set(id, list);
      if (el.type === 'range') {
        el.addEventListener('input', () => this.changed(id, el.value));
      } else {
        el.addEventListener('change', () => this.changed(id, el.value));
      }
    }
    for (const out of root.querySelectorAll<HTMLOutputElement>('output[data-for]')) {
      this.outputs.set(out.dataset.for as ControlId, out);
    }
  }

  /** Shows a settings object from the server. */
  reflect(settings: Partial<DuetSettings>, force = false): void {
    const values = controlValues(settings);
    const now = performance.now();
    for (const [id, value] of Object.entries(values) as [ControlId, number | string][]) {
      if (!force && now - (this.touchedAt.get(id) ?? -Infinity) < HANDS_OFF_MS) continue;
      this.show(id, value);
    }
    const rhythm = this.inputs.get('rhythm.temperature')?.[0]?.closest('tr');
    const d = settings.sampling?.duration;
    const b = settings.sampling?.barBeat;
    if (rhythm && d && b) {
      rhythm.title =
        d.temperature === b.temperature && d.topP === b.topP
          ? 'Durations and positions in the bar'
          : `Durations (temperature ${d.temperature}, top-p ${d.topP}) and positions in the bar (temperature ${b.temperature}, top-p ${b.topP}); moving a slider sets both`;
    }
  }

  /**
   * A fresh session said hello: show its settings, then send what the person had chosen.
   * Returns true if a patch went out.
   */
  hello(settings: Partial<DuetSettings>): boolean {
    this.reflect(settings, true);
    if (isEmptyPatch(this.desired)) return false;
    this.flush();
    return this.send(this.desired);
  }

  /** The server refused a value: go back to what it last accepted. */
  refused(lastAccepted: Partial<DuetSettings>): void {
    this.desired = restorePatch(lastAccepted, this.touched);
    this.pending = {};
    this.reflect(lastAccepted, true);
  }

  private changed(id: ControlId, raw: string): void {
    let patch: SettingsPatch;
    try {
      if (id === 'minBars' || id === 'maxBars') {
        const min = Number(this.inputs.get('minBars')?.[0]?.value);
        const max = Number(this.inputs.get('maxBars')?.[0]?.value);
        patch = answerLengthPatch(min, max, id);
        this.show('minBars', patch.minBars as number);
        this.show('maxBars', patch.maxBars as number);
        this.mark('minBars');
        this.mark('maxBars');
      } else if (CONTROLS[id].kind === 'number') {
        const v = clampControl(id, Number(raw));
        patch = settingsPatch(id, v);
        this.show(id, v);
        this.mark(id);
      } else {
        patch = settingsPatch(id, raw);
        this.mark(id);
      }
    } catch {
      return; // an empty number box: leave it until it holds a number
    }
    this.desired = mergePatches(this.desired, patch);
    this.pending = mergePatches(this.pending, patch);
    if (this.timer === null) this.timer = setTimeout(() => this.flush(), THROTTLE_MS);
  }

  private mark(id: ControlId): void {
    this.touched.add(id);
    this.touchedAt.set(id, performance.now());
  }

  private flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (isEmptyPatch(this.pending)) return;
    const patch = this.pending;
    this.pending = {};
    this.send(patch);
  }

  private show(id: ControlId, value: number | string): void {
    for (const el of this.inputs.get(id) ?? []) {
      if (el.type === 'radio') el.checked = el.value === value;
      else if (document.activeElement !== el || el.type === 'range') el.value = String(value);
    }
    if (id === 'tempoSource') {
      const clock = document.getElementById('tempo-clock');
      if (clock) {
        clock.hidden = value !== 'clock';
        const radio = clock.querySelector('input');
        if (radio) radio.checked = value === 'clock';
      }
    }
    const out = this.outputs.get(id);
    if (out) out.textContent = formatControl(id, value) + unit(out.dataset.unit ?? '', value);
  }
}

/** ' bars' → ' bar' for 1. */
function unit(u: string, value: number | string): string {
  return value === 1 && u.endsWith('s') ? u.slice(0, -1) : u;
}
