// Unobtrusive messages in a corner: server errors and connection hints. Repeats of the same
// code fold into one toast with a count instead of piling up.

interface Live {
  el: HTMLElement;
  text: HTMLElement;
  count: number;
  timer: ReturnType<typeof setTimeout>;
}

export class Toasts {
  private readonly live = new Map<string, Live>();

  constructor(
    private readonly root: HTMLElement,
    private readonly max = 4,
  ) {}

  show(message: string, opts: { code?: string; kind?: 'error' | 'info'; ms?: number } = {}): void {
    const key = opts.code ?? message;
    const ms = opts.ms ?? 6000;
    const existing = this.live.get(key);
    if (existing) {
      existing.count++;
      existing.text.textContent = `${message} (×${existing.count})`;
      clearTimeout(existing.timer);
      existing.timer = setTimeout(() => this.dismiss(key), ms);
      return;
    }
    while (this.live.size >= this.max) this.dismiss(this.live.keys().next().value as string);
    const el = document.createElement('div');
    el.className = `toast ${opts.kind ?? 'error'}`;
    const text = document.createElement('span');
    text.textContent = message;
    el.append(text);
    if (opts.code && (opts.kind ?? 'error') === 'error') {
      const code = document.createElement('code');
      code.textContent = opts.code;
      el.append(code);
    }
    const close = document.createElement('button');
    close.type = 'button';
    close.setAttribute('aria-label', 'Dismiss');
    close.textContent = '×';
    close.addEventListener('click', () => this.dismiss(key));
    el.append(close);
    this.root.append(el);
    this.live.set(key, { el, text, count: 1, timer: setTimeout(() => this.dismiss(key), ms) });
  }

  dismiss(key: string): void {
    const t = this.live.get(key);
    if (!t) return;
    clearTimeout(t.timer);
    t.el.remove();
    this.live.delete(key);
  }
}
