import { PassThrough } from 'node:stream';
import winston from 'winston';
import { createLogger } from './create-logger';

function capture(service = 'test') {
  const stream = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line));
  });
  const logger = createLogger({ service, level: 'debug', transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines };
}

describe('createLogger', () => {
  it('writes one JSON line per entry with service, level, message and timestamp', () => {
    const { logger, lines } = capture('ingress');
    logger.info('listening', { port: 3000 });
    expect(lines).toEqual([expect.objectContaining({ service: 'ingress', level: 'info', message: 'listening', port: 3000, timestamp: expect.any(String) })]);
  });

  it('carries child logger fields (request id, job id, run id) on every line', () => {
    const { logger, lines } = capture();
    logger.child({ jobId: 'j-1', runId: 'r-1' }).warn('slow');
    expect(lines[0]).toMatchObject({ jobId: 'j-1', runId: 'r-1', level: 'warn', message: 'slow' });
  });

  it('redacts secret fields, bearer tokens, hook tokens and URL passwords, at any depth', () => {
    const { logger, lines } = capture();
    const token = 'hk_9f8e7d6c5b4a39281706f5e4d3c2b1a0';
    const request = {
      url: `/hooks/${token}?x=1`,
      headers: { authorization: 'Bearer bot-secret-123', 'x-request-id': 'abc' },
      channel: { credentials: { secret: 's3', access_token: 'EAAG' }, base_url: 'http://127.0.0.1:9000' },
    };
    logger.info(`called /hooks/${token}`, {
      request,
      config: { DATABASE_URL: 'postgres://herald:pa55word@db:5432/herald', ADMIN_API_KEY: 'admin-key-0123456789' },
      api_token: 'bt_abc',
    });
    const text = JSON.stringify(lines);
    for (const secret of [token, 'bot-secret-123', 's3"', 'EAAG', 'pa55word', 'admin-key-0123456789', 'bt_abc']) {
      expect(text).not.toContain(secret);
    }
    expect(lines[0]).toMatchObject({
      message: 'called /hooks/[redacted]',
      request: {
        url: '/hooks/[redacted]?x=1',
        headers: { authorization: '[redacted]', 'x-request-id': 'abc' },
        channel: { credentials: '[redacted]', base_url: 'http://127.0.0.1:9000' },
      },
      config: { DATABASE_URL: 'postgres://herald:[redacted]@db:5432/herald', ADMIN_API_KEY: '[redacted]' },
    });
    // The object the caller logged is not modified.
    expect(request.headers.authorization).toBe('Bearer bot-secret-123');
  });

  it("logs an error's scalar fields but not the driver objects hanging off it", () => {
    const { logger, lines } = capture();
    const error = Object.assign(new Error('terminating connection'), {
      code: '57P01',
      severity: 'FATAL',
      client: { connectionParameters: { password: 'pw' }, buffer: Buffer.alloc(10) },
    });
    logger.warn('postgres connection error', { error });
    expect(lines[0]?.['error']).toEqual({
      name: 'Error',
      message: 'terminating connection',
      stack: expect.any(String),
      code: '57P01',
      severity: 'FATAL',
    });
  });

  it("drops a Postgres error's detail, where and internal query, which quote the failing row", () => {
    const { logger, lines } = capture();
    const error = Object.assign(new Error('duplicate key value violates unique constraint "contacts_phone_key"'), {
      code: '23505',
      severity: 'ERROR',
      detail: 'Key (phone)=(+15550100) already exists.',
      where: 'COPY contacts, line 2: "+15550100,Ann"',
      internalQuery: "insert into contacts values ('+15550100')",
      table: 'contacts',
      column: 'phone',
      constraint: 'contacts_phone_key',
    });
    logger.error('import failed', { error, detail: 'not a database error: kept' });
    logger.error('import failed', error); // winston copies the error's fields onto the entry itself
    logger.error(error);
    expect(JSON.stringify(lines)).not.toContain('+15550100');
    expect(lines[0]).toMatchObject({ detail: 'not a database error: kept' });
    expect(lines[0]?.['error']).toEqual({
      name: 'Error',
      message: error.message,
      stack: expect.any(String),
      code: '23505',
      severity: 'ERROR',
      table: 'contacts',
      column: 'phone',
      constraint: 'contacts_phone_key',
    });
    for (const line of lines.slice(1)) expect(line).toMatchObject({ code: '23505', table: 'contacts', column: 'phone', constraint: 'contacts_phone_key' });
  });

  it('logs errors with their stack, redacted too', () => {
    const { logger, lines } = capture();
    logger.error('failed', { error: new Error('connect to redis://:hunter2@cache:6379 failed') });
    expect(lines[0]?.['error']).toMatchObject({
      message: 'connect to redis://:[redacted]@cache:6379 failed',
      stack: expect.stringContaining('Error: connect to redis://:[redacted]@cache'),
    });
  });
});
