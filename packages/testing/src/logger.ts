import { PassThrough } from 'node:stream';
import { createLogger, type Logger } from '@herald/logger';
import winston from 'winston';

/** A real logger that writes nowhere (set HERALD_TEST_LOGS=1 to see the lines). */
export function testLogger(service = 'test'): Logger {
  return createLogger({
    service,
    level: 'debug',
    transports: [new winston.transports.Console({ silent: process.env['HERALD_TEST_LOGS'] !== '1' })],
  });
}

/** A real logger whose lines (JSON, after redaction) are kept in `lines`, for tests that read them. */
export function capturingLogger(service = 'test'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (line: Buffer) => lines.push(line.toString()));
  return { logger: createLogger({ service, level: 'debug', transports: [new winston.transports.Stream({ stream })] }), lines };
}
