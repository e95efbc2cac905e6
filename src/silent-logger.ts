import type { Logger } from 'pino';

const noop = (): void => {};

/**
 * The courier's logger when the host gives none: it drops everything. It stands in
 * for `pino({ level: 'silent' })` without loading pino, which alone costs a worker
 * process about 9 MB of resident memory. Every level method and `child` exist, so a
 * handler may use `ctx.logger` the same way whether or not a logger was given.
 */
export function silentLogger(): Logger {
  const logger = {
    level: 'silent',
    fatal: noop,
    error: noop,
    warn: noop,
    info: noop,
    debug: noop,
    trace: noop,
    silent: noop,
    flush: noop,
    child: () => logger,
    bindings: () => ({}),
    setBindings: noop,
    isLevelEnabled: () => false,
  };
  return logger as unknown as Logger;
}
