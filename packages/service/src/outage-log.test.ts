import { createLogger } from '@herald/logger';
import { isConnectionError, OutageLog } from './outage-log';

/** The logger's lines, as JSON objects (winston writes to the console transport's stream). */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ service: 'test', level: 'debug' });
  logger.on('data', (info: Record<string, unknown>) => lines.push(info));
  logger.transports.forEach((t) => (t.silent = true));
  return { logger, lines };
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

describe('OutageLog', () => {
  it('logs one line when an outage starts and one when it ends, counting the errors between', () => {
    const { logger, lines } = capturingLogger();
    let now = 1_000;
    const outage = new OutageLog(logger, 'redis', () => now);
    for (let i = 0; i < 250; i++) outage.failed(refused());
    now += 3_500;
    outage.recovered();
    outage.recovered(); // no outage: nothing
    expect(lines.map(({ level, message, cause, downMs, errorsWhileDown }) => ({ level, message, cause, downMs, errorsWhileDown }))).toEqual([
      {
        level: 'warn',
        message: 'redis unavailable: retrying until it answers',
        cause: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:6379',
        downMs: undefined,
        errorsWhileDown: undefined,
      },
      { level: 'info', message: 'redis available again', cause: undefined, downMs: 3_500, errorsWhileDown: 250 },
    ]);
    expect(JSON.stringify(lines)).not.toContain('stack');

    outage.failed(refused()); // a second outage is logged again
    expect(lines).toHaveLength(3);
  });

  it('logs errors that are not about the connection in full, outside any outage', () => {
    const { logger, lines } = capturingLogger();
    const outage = new OutageLog(logger, 'redis');
    outage.report('worker error', new Error('ERR Error running script: attempt to compare nil with number'), { queue: 'dispatch' });
    outage.report('worker error', refused(), { queue: 'dispatch' });
    expect(lines.map((l) => [l.level, l.message])).toEqual([
      ['error', 'worker error'],
      ['warn', 'redis unavailable: retrying until it answers'],
    ]);
    expect(outage.down).toBe(true);
  });

  it('knows the connection errors of ioredis, the cluster client and Node', () => {
    expect(isConnectionError(new Error('Connection is closed.'))).toBe(true);
    expect(isConnectionError(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe(true);
    expect(isConnectionError(new Error('CLUSTERDOWN The cluster is down'))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isConnectionError(new Error('ERR unknown command'))).toBe(false);
    expect(isConnectionError('ECONNREFUSED')).toBe(false);
  });
});
