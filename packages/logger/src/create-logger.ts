import winston from 'winston';
import { redact } from './redact';

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** `ingress`, `admin`, `worker`, …: stamped on every line so mixed logs stay readable. */
  service: string;
  level?: string;
  /** Where lines go; stdout by default. Tests pass a stream transport to read them back. */
  transports?: winston.transport[];
}

/**
 * The winston format that strips secrets. It runs last before JSON so that nothing added by
 * earlier formats (error stacks, metadata) escapes it. Winston keeps `level` and `message`
 * under symbols too; those are carried over untouched apart from the message text.
 */
const redactSecrets = winston.format((info) => {
  const clean = redact({ ...info }) as Record<string, unknown>;
  for (const key of Object.keys(info)) delete (info as Record<string, unknown>)[key];
  Object.assign(info, clean);
  return info;
});

export function createLogger(options: LoggerOptions): Logger {
  return winston.createLogger({
    level: options.level ?? 'info',
    defaultMeta: { service: options.service },
    format: winston.format.combine(winston.format.errors({ stack: true }), winston.format.timestamp(), redactSecrets(), winston.format.json()),
    transports: options.transports ?? [new winston.transports.Console()],
  });
}
