// The worker pool: hostile files end with an error in bounded time, the process and the pool live on.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AntiphonError } from '../src/errors.ts';
import { MidiReaderPool, liveWorkerCount, listMidiFiles, readMidiFile } from '../src/io/midi-pool.ts';
import { parseMidiBytes } from '../src/io/midi-read.ts';
import { cc, endlessSysex, off, on, smf, tempo, trackName } from './helpers/midi-bytes.ts';

const dir = mkdtempSync(join(tmpdir(), 'antiphon-io-'));
const good = smf([[on(0, 60, 100), off(480, 60)]]);
const goodPath = join(dir, 'good.mid');
writeFileSync(goodPath, good);

async function rejectsWith(p: Promise<unknown>, codes: string[], name: string): Promise<AntiphonError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, AntiphonError);
    const err = e as AntiphonError;
    assert.ok(codes.includes(err.code), `${err.code}: ${err.message}`);
    assert.ok(err.message.includes(name), `"${err.message}" should name ${name}`);
    assert.is(err.file, name);
    return err;
  }
  assert.unreachable(`expected one of ${codes.join(', ')}`);
  throw new Error('unreachable');
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('the 29-byte endless-SysEx file fails in under 2 s; the pool then reads a good file', async () => {
  const evil = endlessSysex();
  assert.is(evil.length, 29);
  const pool = new MidiReaderPool({ workers: 1 });
  try {
    // Start the worker first: the clock is for the crafted file, not for thread start-up (~0.25 s, more on a busy machine).
    await pool.read(goodPath);
    const t0 = performance.now();
    await rejectsWith(pool.readBytes(evil, 'crafted.mid'), ['E_MIDI_PARSE', 'E_MIDI_TIMEOUT'], 'crafted.mid');
    const ms = performance.now() - t0;
    assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
    const after = await pool.read(goodPath);
    assert.is(after.tracks[0].notes.length, 1);
    assert.ok(process.memoryUsage().heapUsed < 512 * 1024 * 1024, 'the main heap is untouched');
  } finally {
    await pool.dispose();
  }
});

test('a parse past the deadline is E_MIDI_TIMEOUT and the worker is replaced', async () => {
  const pool = new MidiReaderPool({ workers: 1, timeoutMs: 150, maxHeapMb: 1024 });
  try {
    await pool.read(goodPath); // warm, so the deadline measures parsing, not thread start-up
    await rejectsWith(pool.readBytes(endlessSysex(), 'slow.mid'), ['E_MIDI_TIMEOUT'], 'slow.mid');
    const after = await pool.readBytes(good, 'again.mid');
    assert.is(after.file, 'again.mid');
    assert.ok(liveWorkerCount() <= 2, `live workers: ${liveWorkerCount()}`);
  } finally {
    await pool.dispose();
  }
});

test('the pool returns exactly what parseMidiBytes returns in-thread', async () => {
  const bytes = smf([
    [tempo(0, 500000), tempo(480, 666665)],
    [trackName(0, 'mix'), cc(0, 64, 127), on(0, 60, 90), on(0, 38, 70, 9), off(240, 60), cc(0, 64, 0), on(0, 62, 1), off(10, 38, 9), cc(0, 67, 5, 9)],
  ]);
  const pool = new MidiReaderPool({ workers: 1 });
  try {
    const viaPool = await pool.readBytes(bytes, 'same.mid');
    const direct = parseMidiBytes(bytes, 'same.mid');
    assert.ok(direct.tracks.some((t) => t.notes.some((n) => n.unterminated)), 'fixture has an unterminated note');
    assert.ok(direct.tracks.some((t) => t.percussion) && direct.tracks.some((t) => t.pedals.length === 2));
    assert.equal(viaPool, direct);
  } finally {
    await pool.dispose();
  }
});

test('garbage, out-of-range, missing and too-big files give their codes with the file name', async () => {
  const junk = join(dir, 'junk.mid');
  writeFileSync(junk, 'RIFF nonsense that is not MIDI');
  const loud = join(dir, 'loud.mid');
  writeFileSync(loud, smf([[cc(0, 64, 168)]]));
  const big = join(dir, 'big.mid');
  writeFileSync(big, new Uint8Array(5000));
  const missing = join(dir, 'nope.mid');
  const pool = new MidiReaderPool({ workers: 2, maxFileBytes: 4096 });
  try {
    await rejectsWith(pool.read(junk), ['E_MIDI_PARSE'], junk);
    await rejectsWith(pool.read(loud), ['E_MIDI_RANGE'], loud);
    await rejectsWith(pool.read(missing), ['E_FILE_NOT_FOUND'], missing);
    await rejectsWith(pool.read(big), ['E_MIDI_TOO_BIG'], big);
    await rejectsWith(pool.readBytes(new Uint8Array(5000), 'big-bytes.mid'), ['E_MIDI_TOO_BIG'], 'big-bytes.mid');
    await rejectsWith(pool.read(dir), ['E_FILE_READ'], dir);
  } finally {
    await pool.dispose();
  }
});

test('readMany keeps order, reports bad files in place, and reuses at most `workers` threads', async () => {
  const evilPath = join(dir, 'evil.mid');
  writeFileSync(evilPath, endlessSysex());
  const paths = [goodPath, join(dir, 'missing.mid'), evilPath, goodPath, goodPath, goodPath];
  const pool = new MidiReaderPool({ workers: 2 });
  let peak = 0;
  const seen: number[] = [];
  try {
    const results = await pool.readMany(paths, (_p, _r, done, total) => {
      peak = Math.max(peak, liveWorkerCount());
      seen.push(done);
      assert.is(total, paths.length);
    });
    assert.equal(results.map((r) => (r instanceof AntiphonError ? r.code : 'ok')), ['ok', 'E_FILE_NOT_FOUND', 'E_MIDI_PARSE', 'ok', 'ok', 'ok']);
    assert.equal(seen, [1, 2, 3, 4, 5, 6]);
    assert.ok(peak <= 3, `peak ${peak}`); // 2 workers, plus one dying after the evil file while its replacement starts
  } finally {
    await pool.dispose();
  }
});

test('one file starts one worker, not one per core', async () => {
  const pool = new MidiReaderPool({ workers: 4 });
  try {
    await pool.read(goodPath);
    assert.is(liveWorkerCount(), 1);
    await pool.read(goodPath);
    assert.is(liveWorkerCount(), 1);
  } finally {
    await pool.dispose();
  }
});

test('dispose leaves no worker running and refuses later reads', async () => {
  const pool = new MidiReaderPool({ workers: 2 });
  const pending = pool.readMany([goodPath, goodPath, goodPath]);
  await pending;
  assert.ok(liveWorkerCount() > 0);
  await pool.dispose();
  assert.is(liveWorkerCount(), 0);
  await rejectsWith(pool.read(goodPath), ['E_INTERNAL'], goodPath);
});

test('readMidiFile reads one file and leaves no worker behind', async () => {
  const p = await readMidiFile(goodPath);
  assert.is(p.tracks[0].notes[0].durationTicks, 480);
  assert.is(liveWorkerCount(), 0);
  await rejectsWith(readMidiFile(join(dir, 'absent.mid')), ['E_FILE_NOT_FOUND'], join(dir, 'absent.mid'));
  assert.is(liveWorkerCount(), 0);
});

test('options are validated', () => {
  assert.throws(() => new MidiReaderPool({ workers: 0 }), (e: AntiphonError) => e.code === 'E_USAGE');
  const d = MidiReaderPool.defaults();
  assert.ok(d.workers >= 1 && d.timeoutMs > 0 && d.maxHeapMb > 0 && d.maxFileBytes > 0);
});

test('listMidiFiles walks folders, matches .mid/.midi in any case, sorts, and names a missing path', async () => {
  const root = join(dir, 'tree');
  for (const f of ['b/Z.MID', 'b/a.midi', 'a.mid', 'notes.txt', 'c/d/e.Mid']) {
    const full = join(root, f);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, good);
  }
  const found = await listMidiFiles(root);
  assert.equal(found.map((f) => f.slice(root.length + 1)), ['a.mid', 'b/Z.MID', 'b/a.midi', 'c/d/e.Mid']);
  assert.equal(await listMidiFiles(join(root, 'a.mid')), [join(root, 'a.mid')]);
  try {
    await listMidiFiles(join(root, 'missing'));
    assert.unreachable();
  } catch (e) {
    assert.is((e as AntiphonError).code, 'E_FILE_NOT_FOUND');
    assert.ok((e as AntiphonError).message.includes('missing'));
  }
});

test.run();
