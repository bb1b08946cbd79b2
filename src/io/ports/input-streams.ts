// One input port becomes two streams: notes for session.push and clock for session.connectClock.
// Clock and active sensing arrive dozens of times a second and must never look like playing.

import { Observable, asyncScheduler, share, type SchedulerLike } from 'rxjs';
import type { ClockEvent } from '../../engine/duet/types.ts';
import type { NoteEvent } from '../../engine/note-events.ts';
import { AntiphonError } from '../../errors.ts';
import { runGuarded } from './guard.ts';
import { MidiInputParser, type DropReason } from './parse-input.ts';
import { silentLogger, type MidiInputPort, type PortLogger } from './types.ts';

/** A MIDI channel 0..15, or every channel. */
export type ChannelFilter = number | 'all';

export interface InputStreamOptions {
  /** Only notes and controllers on this channel (0..15) reach the session. Default 'all'. */
  channel?: ChannelFilter;
  /** Stamps each event with now(); must be the session's scheduler, so times share one clock. */
  scheduler?: SchedulerLike;
  logger?: PortLogger;
}

export interface InputStreams {
  notes$: Observable<NoteEvent>;
  clock$: Observable<ClockEvent>;
  /** Messages dropped so far, by reason (SysEx, active sensing, ...). */
  dropped(): Readonly<Record<DropReason | 'other-channel', number>>;
}

export function checkChannelFilter(channel: unknown): ChannelFilter {
  if (channel === 'all') return 'all';
  if (Number.isInteger(channel) && (channel as number) >= 0 && (channel as number) <= 15) return channel as number;
  throw new AntiphonError('E_SETTING', `the input channel must be 0..15 or "all", got ${JSON.stringify(channel)}`);
}

type Parsed = { kind: 'note'; event: NoteEvent } | { kind: 'clock'; event: ClockEvent };

export function splitInput(input: MidiInputPort, options: InputStreamOptions = {}): InputStreams {
  const channel = checkChannelFilter(options.channel ?? 'all');
  const scheduler = options.scheduler ?? asyncScheduler;
  const logger = options.logger ?? silentLogger;
  const counts = { sysex: 0, 'active-sensing': 0, system: 0, unsupported: 0, malformed: 0, 'other-channel': 0 };

  // One parser per subscription to the port: SysEx state belongs to one stream of bytes.
  const parsed$ = new Observable<Parsed>((subscriber) => {
    const parser = new MidiInputParser();
    return input.messages$.subscribe({
      next: (bytes) =>
        runGuarded(() => {
          const p = parser.parse(bytes);
          const time = scheduler.now();
          if (p.kind === 'drop') counts[p.reason] += 1;
          else if (p.kind === 'clock') subscriber.next({ kind: 'clock', event: { type: p.type, time } });
          else if (channel !== 'all' && p.event.channel !== channel) counts['other-channel'] += 1;
          else subscriber.next({ kind: 'note', event: { ...p.event, time } as NoteEvent });
        }, (e) => logger.error(`${input.name}: a MIDI message could not be handled; it was dropped`, e)),
      error: (e) => subscriber.error(e),
      complete: () => subscriber.complete(),
    });
  }).pipe(share());

  const pick = <T>(select: (p: Parsed) => T | undefined) =>
    new Observable<T>((subscriber) =>
      parsed$.subscribe({
        next: (p) => {
          const e = select(p);
          if (e !== undefined) subscriber.next(e);
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      }),
    );
  const notes$ = pick((p) => (p.kind === 'note' ? p.event : undefined));
  const clock$ = pick((p) => (p.kind === 'clock' ? p.event : undefined));

  return { notes$, clock$, dropped: () => ({ ...counts }) };
}
