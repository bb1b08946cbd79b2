// Connects one duet session to a pair of MIDI ports, and owns everything that connection creates:
// subscriptions, the sink's timers, and (by default) the ports. dispose() gives all of it back.

import { Subscription, asyncScheduler, type SchedulerLike } from 'rxjs';
import type { DuetOutput, DuetSessionApi } from '../../engine/duet/types.ts';
import type { NoteEvent } from '../../engine/note-events.ts';
import { EchoFilter, type EchoFilterOptions } from './echo-filter.ts';
import { guarded, runGuarded } from './guard.ts';
import { splitInput, type ChannelFilter, type InputStreams } from './input-streams.ts';
import { NoteSink, type NoteSinkOptions } from './note-sink.ts';
import { stderrLogger, type MidiInputPort, type MidiOutputPort, type PortClosed, type PortLogger } from './types.ts';

export interface BindOptions {
  input?: MidiInputPort;
  output?: MidiOutputPort;
  /** Listen on one channel (0..15) or on all. Default 'all'. The answer's channel is the session's aiChannel setting. */
  inputChannel?: ChannelFilter;
  /** The session's scheduler: input times and answer times must share its clock. Default asyncScheduler. */
  scheduler?: SchedulerLike;
  logger?: PortLogger;
  /** Self-echo suppression (see EchoFilter); false turns it off. On by default when both ports are given. */
  echo?: EchoFilterOptions | false;
  /** Sink limits; its scheduler and logger come from here. */
  sink?: Pick<NoteSinkOptions, 'maxScheduled' | 'register'>;
  /** Close the ports on dispose(). Default true: the binding owns the ports it is given. */
  closePorts?: boolean;
}

export interface PortBinding {
  readonly input?: MidiInputPort;
  readonly output?: MidiOutputPort;
  readonly sink?: NoteSink;
  readonly echo?: EchoFilter;
  readonly streams?: InputStreams;
  readonly disposed: boolean;
  /** Silences the output now (note-offs, CC64 0, CC120, CC123); the binding carries on. */
  panic(): void;
  /** Stops feeding the session, panics, cancels every timer and closes the ports. Idempotent. */
  dispose(): void;
}

const key = (e: { channel?: number; note: number }) => (e.channel ?? 0) * 128 + e.note;

export function bindSessionToPorts(session: DuetSessionApi, options: BindOptions): PortBinding {
  const { input, output } = options;
  const scheduler = options.scheduler ?? asyncScheduler;
  const logger = options.logger ?? stderrLogger;
  const closePorts = options.closePorts ?? true;
  const subs = new Subscription();
  const inputSubs = new Subscription();
  subs.add(inputSubs);
  const onError = (what: string) => (e: unknown) => logger.error(what, e);
  let disposed = false;

  const echo = input && output && options.echo !== false ? new EchoFilter(options.echo || {}) : undefined;
  const sink = output
    ? new NoteSink(output, { scheduler, logger, onSend: echo?.remember, maxScheduled: options.sink?.maxScheduled, register: options.sink?.register })
    : undefined;

  const panicAll = (why: string) => {
    if (disposed) return;
    logger.info(`panic: ${why}`);
    runGuarded(() => sink?.panic(), onError('panic failed'));
    runGuarded(() => session.panic(), onError('the session refused panic'));
  };
  const lostMessage = (port: { name: string }, c: PortClosed) =>
    c.reason === 'unplugged' ? `${port.name} was unplugged` : c.reason === 'failed' ? `${port.name} failed` : `${port.name} was closed`;

  // The person's held keys, so that an input that vanishes mid-phrase does not leave the session
  // waiting forever for note-offs.
  const held = new Map<number, NoteEvent & { type: 'noteon' }>();
  let streams: InputStreams | undefined;
  if (input) {
    streams = splitInput(input, { channel: options.inputChannel ?? 'all', scheduler, logger });
    inputSubs.add(
      streams.notes$.subscribe(
        guarded((e: NoteEvent) => {
          if (echo && !echo.accept(e)) return;
          if (e.type === 'noteon') held.set(key(e), e);
          else if (e.type === 'noteoff') held.delete(key(e));
          session.push(e);
        }, onError(`${input.name}: the session refused a MIDI event; carrying on`)),
      ),
    );
    inputSubs.add(session.connectClock(streams.clock$));
    subs.add(
      input.closed$.subscribe(
        guarded((c: PortClosed) => {
          if (disposed) return;
          inputSubs.unsubscribe();
          const time = scheduler.now();
          for (const e of held.values()) runGuarded(() => session.push({ type: 'noteoff', note: e.note, channel: e.channel, time }), onError('releasing a held key failed'));
          held.clear();
          panicAll(lostMessage(input, c));
        }, onError('handling the input port closing failed')),
      ),
    );
  }

  if (output && sink) {
    subs.add(
      session.output$.subscribe({
        next: guarded((o: DuetOutput) => {
          if (o.type === 'error') logger.warn(`session: ${o.code}: ${o.message}`);
          else sink.handle(o);
        }, onError('playing an answer note failed')),
        error: guarded((e: unknown) => {
          logger.error('the session failed', e);
          inputSubs.unsubscribe();
          sink.panic();
        }, onError('panic failed')),
        complete: guarded(() => {
          inputSubs.unsubscribe(); // the session is over: later notes would only be refused
          sink.panic();
        }, onError('panic failed')),
      }),
    );
    // The sink silences itself on close; the session must also stop answering into nothing.
    subs.add(output.closed$.subscribe(guarded((c: PortClosed) => panicAll(lostMessage(output, c)), onError('handling the output port closing failed'))));
  }

  return {
    input,
    output,
    sink,
    echo,
    streams,
    get disposed() {
      return disposed;
    },
    panic: () => runGuarded(() => sink?.panic(), onError('panic failed')),
    dispose() {
      if (disposed) return;
      disposed = true;
      subs.unsubscribe();
      held.clear();
      runGuarded(() => sink?.dispose(), onError('panic on dispose failed'));
      if (closePorts) {
        runGuarded(() => input?.close(), onError('closing the input failed'));
        runGuarded(() => output?.close(), onError('closing the output failed'));
      }
    },
  };
}
