#!/usr/bin/env node
// Bundles the browser client (client/src) into client/dist with esbuild: index.html, app.js,
// app.css and timer-worker.js. Runs on `npm install` (postinstall) and before `npm start`
// (prestart); no network, about a second.
//
//   node scripts/build-client.mjs [--outdir DIR] [--dev] [--watch] [--quiet]
//
// Files are written next to their final names and renamed into place, index.html last, so a
// server reading client/dist mid-build serves either the old page or the new one.

import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { watch } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLIENT_SRC = join(ROOT, 'client', 'src');
/** Where the server finds the page. */
export const CLIENT_DIST = join(ROOT, 'client', 'dist');

/**
 * Tone.js prints one console warning that names a wiki page by its URL. It is only text, but the
 * page promises to hold no internet address at all, so it is reworded at bundle time.
 */
const quietUrls = {
  name: 'quiet-urls',
  setup(b) {
    b.onLoad({ filter: /[\\/]tone[\\/]build[\\/]esm[\\/]core[\\/]util[\\/]Debug\.js$/ }, async (args) => ({
      contents: (await readFile(args.path, 'utf8')).replace(
        'See https://github.com/Tonejs/Tone.js/wiki/Accurate-Timing',
        "See the Tone.js wiki page 'Accurate Timing'",
      ),
      loader: 'js',
    }));
  },
};

/** Every http(s) URL in a built file. The build fails on any: the page must work offline. */
export function findUrls(text) {
  return [...text.matchAll(/https?:\/\/[^\s"'`)<>]*/gi)].map((m) => m[0]);
}

const hash = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 10);

/**
 * Builds the client into `outdir`. Returns the files written (name → bytes) and the time taken.
 * @param {{ outdir?: string, dev?: boolean }} [options]
 */
export async function buildClient({ outdir = CLIENT_DIST, dev = false } = {}) {
  const t0 = performance.now();
  const common = {
    absWorkingDir: ROOT,
    bundle: true,
    write: false,
    // A dev build keeps names and adds a source map, but still drops comments (whitespace
    // minification), so it passes the same no-URL check.
    minify: !dev,
    minifyWhitespace: true,
    sourcemap: dev ? 'inline' : false,
    // Licence texts stay in node_modules; the bundle keeps no comments (and so no URLs in them).
    legalComments: 'none',
    target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
    charset: 'utf8',
    logLevel: 'silent',
    plugins: [quietUrls],
  };

  const worker = await build({
    ...common,
    entryPoints: [join(CLIENT_SRC, 'timer-worker.ts')],
    format: 'iife',
    outfile: join(outdir, 'timer-worker.js'),
  });
  const workerJs = worker.outputFiles[0].contents;

  const app = await build({
    ...common,
    entryPoints: [join(CLIENT_SRC, 'main.ts')],
    format: 'esm',
    outfile: join(outdir, 'app.js'),
    define: { __TIMER_WORKER__: JSON.stringify(`./timer-worker.js?v=${hash(workerJs)}`) },
  });
  const appJs = app.outputFiles[0].contents;

  const css = await build({
    ...common,
    entryPoints: [join(CLIENT_SRC, 'styles.css')],
    outfile: join(outdir, 'app.css'),
  });
  const appCss = css.outputFiles[0].contents;

  const template = await readFile(join(CLIENT_SRC, 'index.html'), 'utf8');
  const html = template.replaceAll('%JS_HASH%', hash(appJs)).replaceAll('%CSS_HASH%', hash(appCss));

  const files = new Map([
    ['timer-worker.js', workerJs],
    ['app.css', appCss],
    ['app.js', appJs],
    ['index.html', new TextEncoder().encode(html)],
  ]);

  for (const [name, bytes] of files) {
    const urls = findUrls(new TextDecoder().decode(bytes));
    if (urls.length) throw new Error(`${name} refers to ${urls.slice(0, 3).join(', ')}: the client must fetch nothing from the internet`);
  }

  await mkdir(outdir, { recursive: true });
  for (const [name, bytes] of files) {
    const tmp = join(outdir, `.${name}.${process.pid}.tmp`);
    await writeFile(tmp, bytes);
    await rename(tmp, join(outdir, name));
  }
  return { outdir, files, ms: performance.now() - t0 };
}

function summary({ outdir, files, ms }) {
  const kb = (n) => `${(n / 1024).toFixed(0)} kB`;
  const sizes = [...files].map(([name, b]) => `${name} ${kb(b.length)}`).join(', ');
  return `client: built ${relative(process.cwd(), outdir) || '.'} in ${Math.round(ms)} ms (${sizes})`;
}

async function main() {
  const { values } = parseArgs({
    options: {
      outdir: { type: 'string' },
      dev: { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  const options = { outdir: values.outdir ? resolve(values.outdir) : CLIENT_DIST, dev: values.dev };
  const once = async () => {
    try {
      const result = await buildClient(options);
      if (!values.quiet) console.log(summary(result));
      return true;
    } catch (err) {
      const first = err?.errors?.[0];
      const where = first?.location ? `${first.location.file}:${first.location.line}: ` : '';
      console.error(`client: build failed: ${where}${first?.text ?? err?.message ?? err}`);
      return false;
    }
  };
  const ok = await once();
  if (!values.watch) {
    process.exitCode = ok ? 0 : 1;
    return;
  }
  console.log('client: watching client/src (Ctrl-C stops)');
  let timer = null;
  watch(CLIENT_SRC, { recursive: true }, () => {
    clearTimeout(timer);
    timer = setTimeout(once, 60);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}
