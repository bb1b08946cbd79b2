// Headless Chromium for the end-to-end tests: Debian's `chromium` package (apt-get install
// chromium; .ci/run installs it) driven by playwright-core, which downloads no browser.
//
// Where no Chromium is found the tests are skipped with a line saying why, so `npm test` passes
// on a machine without one; with ANTIPHON_E2E=require (set by .ci/run once the install worked) a
// missing Chromium fails instead. ANTIPHON_CHROMIUM names another binary.
import { accessSync, constants } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's package installs /usr/bin/chromium; Ubuntu's older one /usr/bin/chromium-browser. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export type ChromiumLookup = { path: string } | { path: null; reason: string };

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The Chromium binary to drive, or why there is none. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): ChromiumLookup {
  const chosen = env.ANTIPHON_CHROMIUM;
  if (chosen) return executable(chosen) ? { path: chosen } : { path: null, reason: `ANTIPHON_CHROMIUM=${chosen} is not an executable file` };
  const found = CANDIDATES.find(executable);
  if (found) return { path: found };
  return { path: null, reason: `no Chromium at ${CANDIDATES.join(' or ')} (install it with "apt-get install chromium", or set ANTIPHON_CHROMIUM=/path/to/chromium)` };
}

/** True when ANTIPHON_E2E=require: a missing browser is then a failure, not a skip. */
export const e2eRequired = (env: NodeJS.ProcessEnv = process.env): boolean => env.ANTIPHON_E2E === 'require';

/**
 * Launches `path` headless. --no-sandbox because CI runs as root (Chromium refuses its sandbox
 * there); --disable-dev-shm-usage because containers often have a tiny /dev/shm.
 */
export function launchChromium(path: string): Promise<Browser> {
  return chromium.launch({
    executablePath: path,
    headless: true,
    timeout: 60_000,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--mute-audio', '--no-first-run', '--no-default-browser-check'],
  });
}
