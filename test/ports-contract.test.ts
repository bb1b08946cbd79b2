// The shared source and sink contracts, run against every MIDI implementation this machine has:
// the fake port always, the session binding over it, and easymidi ports where an ALSA sequencer exists.

import { existsSync } from 'node:fs';
import { VirtualTimeScheduler } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AntiphonError } from '../src/errors.ts';
import { bindSessionToPorts } from '../src/io/ports/bind-session.ts';
import { createEasymidiBackend, easymidiMessage } from '../src/io/ports/easymidi-backend.ts';
import { FakePort } from '../src/io/ports/fake-port.ts';
import { splitInput } from '../src/io/ports/input-streams.ts';
import { ALSA_SEQ_DEVICE, loadEasymidi } from '../src/io/ports/load-easymidi.ts';
import { matchPortName } from '../src/io/ports/match-port.ts';
import { NoteSink } from '../src/io/ports/note-sink.ts';
import { silentLogger, type MidiOutputPort } from '../src/io/ports/types.ts';
import { FakeDuetSession } from './helpers/fake-duet-session.ts';
import { advanceTo, noteSinkContract, noteSourceContract, type Heard, type PlayedEvent, type SinkUnderTest, type SourceUnderTest } from './helpers/port-contract.ts';

const bytesOf = (e: PlayedEvent): number[] =>
  e.type === 'noteon' ? [0x90 | e.channel, e.note, e.velocity] : e.type === 'noteoff' ? [0x80 | e.channel, e.note, 0x40] : [0xb0 | e.channel, e.controller, e.value];

/** Reads the sink's sends back as what a synth would hear. */
function heardFrom(bytes: readonly number[], time: number): Heard | undefined {
  const [status, note, velocity] = bytes;
  const channel = status & 0x0f;
  if ((status & 0xf0) === 0x90 && velocity > 0) return { type: 'noteon', note, velocity, channel, time };
  if ((status & 0xf0) === 0x80 || (status & 0xf0) === 0x90) return { type: 'noteoff', note, channel, time };
  return undefined; // controllers (panic's CC64/120/123) are not notes
}

// Garbage as a MIDI driver can deliver it: a truncated note-on, a stray data byte, a chunked
// SysEx, active sensing, a clock tick, a pitch bend.
const MIDI_GARBAGE = [[0x93, 60], [0x40, 0x40], [0xf0, 0x7e, 0x00], [0x09, 0x01], [0x02, 0xf7], [0xfe], [0xf8], [0xe0, 0, 64]];

noteSourceContract('fake port', (): SourceUnderTest => {
  const scheduler = new VirtualTimeScheduler();
  const port = new FakePort('Contract In');
  const { notes$ } = splitInput(port, { scheduler });
  return {
    scheduler,
    notes$,
    play: (e) => port.inject(bytesOf(e)),
    garbage: () => port.inject(...MIDI_GARBAGE),
    hangUp: () => port.unplug(),
    settle: async () => {},
    dispose: () => port.close(),
  };
});

noteSinkContract('note sink on a fake port', (): SinkUnderTest => {
  const scheduler = new VirtualTimeScheduler();
  const port = new FakePort('Contract Out');
  const heard: Heard[] = [];
  const sink = new NoteSink(port, { scheduler, register: false, onSend: (b, t) => void (heardFrom(b, t) && heard.push(heardFrom(b, t)!)) });
  return {
    scheduler,
    deliver: (o) => sink.handle(o),
    heard: async () => heard.filter((e) => e.time <= scheduler.now()),
    panic: () => sink.panic(),
    dispose: () => {
      sink.dispose();
      port.close();
    },
  };
});

noteSinkContract('session bound to a fake port', (): SinkUnderTest => {
  const scheduler = new VirtualTimeScheduler();
  const port = new FakePort('Contract Bound Out');
  const heard: Heard[] = [];
  // The far side's ear: the port as the binding sees it, noting when each message went out.
  const output: MidiOutputPort = {
    name: port.name,
    virtual: port.virtual,
    closed$: port.closed$,
    get closed() {
      return port.closed;
    },
    close: () => port.close(),
    send: (b) => {
      const ok = port.send(b);
      const h = heardFrom(b, scheduler.now());
      if (ok && h) heard.push(h);
      return ok;
    },
  };
  const session = new FakeDuetSession({ scheduler });
  const binding = bindSessionToPorts(session, { output, scheduler, logger: silentLogger, sink: { register: false } });
  return {
    scheduler,
    deliver: (o) => session.emit(o),
    heard: async () => heard,
    panic: () => binding.panic(),
    dispose: () => binding.dispose(),
  };
});

// easymidi: only where RtMidi can start. Elsewhere say so, and why, instead of passing silently.
const hasSeq = process.platform !== 'linux' || existsSync(ALSA_SEQ_DEVICE);
if (!hasSeq) {
  console.log(`ports-contract: easymidi contract SKIPPED: ${ALSA_SEQ_DEVICE} does not exist on this machine (no ALSA sequencer), so RtMidi cannot open ports. It runs where snd-seq is loaded.`);
  test('easymidi contract skipped for a real reason: RtMidi is refused here with E_MIDI_PORT_UNAVAILABLE', async () => {
    try {
      await loadEasymidi();
    } catch (e) {
      assert.is((e as AntiphonError).code, 'E_MIDI_PORT_UNAVAILABLE');
      return;
    }
    assert.unreachable('easymidi loaded, so the contract should have run');
  });
  test.run();
} else {
  const settle = () => new Promise<void>((r) => setTimeout(r, 40));

  noteSourceContract('easymidi input', async (): Promise<SourceUnderTest> => {
    const scheduler = new VirtualTimeScheduler();
    const midi = await loadEasymidi();
    const name = `Antiphon Contract Keys ${process.pid}`;
    const far = new midi.Output(name, true); // the "keyboard": a virtual output our input opens by name
    const backend = await createEasymidiBackend({ scheduler, unplugPollMs: 1000, logger: silentLogger });
    const port = backend.openInput(matchPortName(name, backend.listInputs(), 'input'), { virtual: false });
    const { notes$ } = splitInput(port, { scheduler });
    let farOpen = true;
    return {
      scheduler,
      notes$,
      play: (e) => farOpen && far.send(...easymidiMessage(bytesOf(e))),
      garbage: () => {
        far.send('sysex', [0xf0, 0x7e, 0x00, 0x09, 0x01, 0xf7]);
        far.send('activesense');
        far.send('clock');
      },
      hangUp: () => {
        far.close();
        farOpen = false;
        advanceTo(scheduler, scheduler.now() + 1000); // the unplug poll notices the port is gone
      },
      settle,
      dispose: () => {
        port.close();
        if (farOpen) far.close();
        farOpen = false;
      },
    };
  });

  noteSinkContract('note sink on an easymidi virtual output', async (): Promise<SinkUnderTest> => {
    const scheduler = new VirtualTimeScheduler();
    const midi = await loadEasymidi();
    const backend = await createEasymidiBackend({ scheduler, unplugPollMs: 0, logger: silentLogger });
    const name = `Antiphon Contract Answer ${process.pid}`;
    const port = backend.openOutput(name, { virtual: true });
    const far = new midi.Input(matchPortName(name, midi.getInputs(), 'input')) as unknown as { on(e: string, f: () => void): void; close(): void };
    let received = 0;
    far.on('noteon', () => (received += 1));
    far.on('noteoff', () => (received += 1));
    const heard: Heard[] = [];
    const sink = new NoteSink(port, { scheduler, register: false, onSend: (b, t) => void (heardFrom(b, t) && heard.push(heardFrom(b, t)!)) });
    let open = true;
    return {
      scheduler,
      deliver: (o) => sink.handle(o),
      heard: async () => {
        await settle();
        if (received < heard.length) throw new Error(`sent ${heard.length} notes but the far side received ${received}`);
        return heard.filter((e) => e.time <= scheduler.now());
      },
      panic: () => sink.panic(),
      dispose: () => {
        sink.dispose();
        port.close();
        if (open) far.close();
        open = false;
      },
    };
  });
}
