// Where the shared corpora live (../shared/data from the repo root, or $ANTIPHON_DATA).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DATA = process.env.ANTIPHON_DATA ?? join(ROOT, '..', 'shared', 'data');
if (!existsSync(join(DATA, 'pop1k7')) || !existsSync(join(DATA, 'pop909'))) {
  throw new Error(`the test corpora are missing: expected pop1k7/ and pop909/ under ${DATA} (set ANTIPHON_DATA)`);
}
export const POP1K7 = join(DATA, 'pop1k7');
export const POP909 = join(DATA, 'pop909');
