import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, mkdir, writeFile, copyFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { cli } from './helpers/cli.ts';
import { POP1K7, POP909, ROOT } from './helpers/data.ts';
import { endlessSysex } from './helpers/midi-bytes.ts';
import { FAMILIES, FAMILIES_OF_TYPE, F, UNUSED, wordError } from '../src/engine/vocab.ts';
import { readTokenStore, unpackWords } from '../src/trainer/token-store.ts';
import { listMidiFiles } from '../src/io/midi-pool.ts';

let tmp = '';
test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'antiphon-cli-'));
  await mkdir(join(tmp, 'mixed'));
  await writeFile(join(tmp, 'mixed', 'endless.mid'), endlessSysex());
  await writeFile(join(tmp, 'mixed', 'garbage.mid'), Buffer.from('this is not a MIDI file at all'));
  await copyFile(join(POP1K7, 'src_001', '0.mid'), join(tmp, 'mixed', 'good.mid'));
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('tokenize --json: one integer per family, -1 where the type does not use it', async () => {
  const r = await cli('tokenize', join(POP1K7, 'src_001', '0.mid'), '--json');
  assert.is(r.code, 0);
  const j = JSON.parse(r.out) as { families: string[]; words: number[][] };
  assert.equal(j.families, [...FAMILIES]);
  assert.ok(j.words.length > 500);
  for (const w of j.words) {
    assert.is(wordError(w), null);
    const used = FAMILIES_OF_TYPE[w[F.type]];
    FAMILIES.forEach((f, i) => {
      if (i > 0 && !used.includes(f)) assert.is(w[i], UNUSED);
    });
  }
});

test('roundtrip --json over real files of both corpora loses no quantized note, and names bad files', async () => {
  const a = (await listMidiFiles(POP1K7)).slice(0, 120);
  const b = (await listMidiFiles(POP909)).slice(0, 60);
  const r = await cli('roundtrip', '--json', ...a, ...b, join(tmp, 'mixed'));
  assert.is(r.code, 0);
  const j = JSON.parse(r.out);
  assert.is(j.files, a.length + b.length + 3);
  assert.is(j.ok, a.length + b.length + 1);
  assert.is(j.failed.length, 2);
  for (const f of j.failed) {
    assert.ok(['E_MIDI_PARSE', 'E_MIDI_TIMEOUT'].includes(f.code), f.code);
    assert.ok(f.message.includes(f.file.split('/').pop()), 'the message names the file');
  }
  assert.ok(j.notesIn > 100_000);
  assert.is(j.notesLost, 0);
  assert.is(j.notesOut, j.notesIn);
});

test('dataset build writes a token store that matches the tokenizer and skips bad files', async () => {
  const out = join(tmp, 'store');
  const r = await cli('dataset', 'build', '--data', join(tmp, 'mixed'), '--data', join(POP909, '001'), '--out', out, '--json');
  assert.is(r.code, 0, r.err);
  const stats = JSON.parse(r.out);
  assert.is(stats.songs, 2);
  assert.is(stats.skipped, 2);
  assert.ok(r.err.includes('endless.mid') && r.err.includes('garbage.mid'), 'bad files are named');
  const store = await readTokenStore(out);
  assert.is(store.index.songs.length, 2);
  const song = store.index.songs.find((s) => s.file === 'good.mid')!;
  const words = unpackWords(store.tokens, song.offset, song.words);
  const direct = JSON.parse((await cli('tokenize', join(tmp, 'mixed', 'good.mid'), '--json')).out).words;
  assert.equal(words, direct);
  assert.is(stats.words, store.index.songs.reduce((s: number, x: { words: number }) => s + x.words, 0));
  const typeCounts: number[] = stats.familyCounts.type;
  assert.is(typeCounts.slice(0, 3).reduce((s, c) => s + c, 0), stats.words, 'every word has a type');
  assert.is(typeCounts[0], 2, 'one EOS per song');
});

test('usage errors: one line, exit 2; unknown command; --help everywhere', async () => {
  let r = await cli('tokenize');
  assert.is(r.code, 2);
  assert.is(r.err.split('\n').length, 1);
  assert.ok(r.err.includes('E_USAGE'));
  r = await cli('dataset', 'build', '--data', 'x');
  assert.is(r.code, 2);
  r = await cli('nope');
  assert.is(r.code, 2);
  for (const c of [['tokenize'], ['roundtrip'], ['dataset', 'build']]) {
    r = await cli(...c, '--help');
    assert.is(r.code, 0);
    assert.ok(r.out.startsWith(`Usage: antiphon ${c.join(' ')}`), r.out);
  }
});

test('a missing file fails with its name and a non-zero exit', async () => {
  const r = await cli('tokenize', join(tmp, 'nope.mid'));
  assert.is(r.code, 1);
  assert.ok(r.err.includes('E_FILE_NOT_FOUND') && r.err.includes('nope.mid'));
});

test('the antiphon bin runs from a shell', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'antiphon.js'), '--help'], { encoding: 'utf8' });
  assert.is(r.status, 0);
  assert.ok(r.stdout.includes('tokenize'));
  const bad = spawnSync(process.execPath, [join(ROOT, 'bin', 'antiphon.js'), 'roundtrip', '--nope'], { encoding: 'utf8' });
  assert.is(bad.status, 2);
  assert.is(bad.stderr.trim().split('\n').length, 1);
});

test.run();
