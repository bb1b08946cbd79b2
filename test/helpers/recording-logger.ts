// A port logger that keeps every line, so tests can assert what was logged and at what level.
import type { PortLogger } from '../../src/io/ports/types.ts';

export function recordingLogger() {
  const lines: Array<{ level: string; message: string; error?: unknown }> = [];
  const logger: PortLogger = {
    info: (message) => lines.push({ level: 'info', message }),
    warn: (message, error) => lines.push({ level: 'warn', message, error }),
    error: (message, error) => lines.push({ level: 'error', message, error }),
  };
  return { logger, lines };
}
