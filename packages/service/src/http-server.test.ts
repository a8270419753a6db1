import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { boundPort, closeServer, listen } from './http-server';

describe('closeServer', () => {
  it('ends a keep-alive connection that is busy when the server closes, though its client keeps calling', async () => {
    // A caller that sends its next request 50 ms after each answer, always on the same
    // keep-alive connection; the server is closed while one of its requests is being answered.
    let served = 0;
    let servedAfterClose = 0;
    let closing: Promise<void> | undefined;
    const app = express();
    app.get('/', (_request, response) => {
      served++;
      if (closing) servedAfterClose++;
      if (served === 3) closing = closeServer(server);
      setTimeout(() => response.send('ok'), 10);
    });
    const server = await listen(app, 0, '127.0.0.1');
    const url = `http://127.0.0.1:${boundPort(server)}/`;
    let stopped = false;
    let refused = 0;
    const caller = (async () => {
      while (!stopped) {
        await fetch(url).then(
          (response) => response.text(),
          () => refused++,
        );
        await sleep(50);
      }
    })();

    try {
      await sleep(300); // three calls
      expect(closing).toBeDefined();
      // Without `Connection: close` the connection was served for as long as the caller kept
      // calling, and the close never finished.
      const closed = await Promise.race([closing!.then(() => 'closed'), sleep(2_000, undefined, { ref: false }).then(() => 'still serving')]);
      expect(closed).toBe('closed');
      expect(servedAfterClose).toBeLessThanOrEqual(1);
      await sleep(200);
      expect(refused).toBeGreaterThan(0); // later calls find no server
    } finally {
      stopped = true;
      server.closeAllConnections();
      await caller;
    }
  });
});
