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
