// A machine without a MIDI system: one clear error (code E_MIDI_PORT_UNAVAILABLE, naming snd-seq),
// no ALSA noise, nothing left open, and easymidi never loaded by merely importing Antiphon.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AntiphonError } from '../src/errors.ts';
import { ALSA_SEQ_DEVICE, loadEasymidi, type EasymidiModule, type MidiSystem } from '../src/io/ports/load-easymidi.ts';
import { openMidiPorts } from '../src/io/ports/open-ports.ts';
import { startMidiDuet } from '../src/io/ports/start-midi-duet.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

async function unavailable(p: Promise<unknown>): Promise<AntiphonError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, AntiphonError);
    assert.is((e as AntiphonError).code, 'E_MIDI_PORT_UNAVAILABLE', (e as Error).message);
    return e as AntiphonError;
  }
  assert.unreachable('expected E_MIDI_PORT_UNAVAILABLE');
  throw new Error('unreachable');
}

const fakeModule = (getInputs: () => string[]): EasymidiModule => ({ getInputs, getOutputs: () => [], Input: class {} as never, Output: class {} as never });

test('Linux without /dev/snd/seq: E_MIDI_PORT_UNAVAILABLE says what is missing and how to fix it, before touching RtMidi', async () => {
  let imported = false;
  const system: MidiSystem = {
    platform: 'linux',
    hasAlsaSequencer: () => false,
    importEasymidi: async () => {
      imported = true;
      return fakeModule(() => []);
    },
  };
  const e = await unavailable(loadEasymidi(system));
  assert.match(e.message, '/dev/snd/seq');
  assert.match(e.message, 'sudo modprobe snd-seq');
  assert.match(e.message, 'browser client');
  assert.not.ok(imported, 'easymidi was not even imported');
});

test('RtMidi failing to start ("Failed to initialise RtMidi") becomes the same error, with the cause kept', async () => {
  const rtmidi = new Error('Failed to initialise RtMidi');
  const system: MidiSystem = {
    platform: 'linux',
    hasAlsaSequencer: () => true, // the device exists but cannot be opened (permissions, a broken module)
    importEasymidi: async () =>
      fakeModule(() => {
        throw rtmidi;
      }),
  };
  const e = await unavailable(loadEasymidi(system));
  assert.match(e.message, 'Failed to initialise RtMidi');
  assert.match(e.message, 'snd-seq');
  assert.match(e.message, 'audio group');
  assert.is(e.cause, rtmidi);
});

test('the native module failing to load (no libasound) becomes the same error', async () => {
  const e = await unavailable(
    loadEasymidi({
      platform: 'linux',
      hasAlsaSequencer: () => true,
      importEasymidi: async () => {
        throw new Error('libasound.so.2: cannot open shared object file');
      },
    }),
  );
  assert.match(e.message, 'libasound2');
});

test('macOS and Windows do not look for an ALSA device', async () => {
  for (const platform of ['darwin', 'win32'] as const) {
    const mod = fakeModule(() => ['IAC Driver Bus 1']);
    const got = await loadEasymidi({ platform, hasAlsaSequencer: () => assert.unreachable('checked ALSA') as never, importEasymidi: async () => mod });
    assert.is(got, mod);
  }
});

const noSeqHere = process.platform === 'linux' && !existsSync(ALSA_SEQ_DEVICE);

if (noSeqHere) {
  test('this machine (no ALSA sequencer): opening ports or starting a MIDI duet fails cleanly, no session made', async () => {
    const e = await unavailable(openMidiPorts({ virtual: 'Antiphon', platform: 'linux' }));
    assert.match(e.message, 'snd-seq');
    let made = 0;
    await unavailable(startMidiDuet({ request: { input: 'Keys' } }, () => (made++, undefined as never)));
    assert.is(made, 0);
  });

  test('this machine: `antiphon ports` prints one line with the code and snd-seq, exits 1, and no ALSA noise', () => {
    const r = spawnSync(process.execPath, ['bin/antiphon.js', 'ports'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0], /^antiphon ports: E_MIDI_PORT_UNAVAILABLE: /);
    assert.match(lines[0], 'snd-seq');
    assert.not.match(r.stderr, 'ALSA lib');
    assert.is(r.stdout, '');
  });
} else {
  console.log(`ports-no-alsa: the real no-ALSA checks are SKIPPED: ${ALSA_SEQ_DEVICE} exists here (or this is not Linux); the faked system tests above still ran.`);
}

test('importing the ports modules and the CLI does not load easymidi or its native module', () => {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(process.cwd() + '/');
    const midi = () => Object.keys(require.cache).filter((k) => /node_modules[\\\\/](easymidi|@julusian[\\\\/]midi)[\\\\/]/.test(k)).length;
    await import('./src/io/ports/index.ts');
    await import('./src/cli/commands/ports.ts');
    await import('./src/cli/main.ts');
    const before = midi();
    await import('easymidi');
    console.log(JSON.stringify({ before, after: midi() }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const { before, after } = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.is(before, 0, 'nothing of easymidi was loaded by the imports');
  assert.ok(after > 0, 'the probe does see easymidi once it is loaded');
});

test.run();
