// A steady 10 ms tick from a worker: main-thread timers are throttled in background tabs, and
// the AI's notes must still be handed to the synth and the MIDI output on time.

const scope = self as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((e: MessageEvent) => void) | null;
};

let timer = setInterval(() => scope.postMessage(0), 10);

scope.onmessage = (e: MessageEvent) => {
  const ms = Number(e.data);
  if (ms > 0) {
    clearInterval(timer);
    timer = setInterval(() => scope.postMessage(0), ms);
  }
};
