import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readJsonBody } from './read-body';

/**
 * Reading a hook call's body when the caller hangs up: the read must end (rejected), whether
 * the caller left while the body was arriving or before the read began (the call was still
 * waiting for its checks). A read that never ended kept a stopping ingress waiting for it until
 * its shutdown deadline, then exit 1 (seen in `pnpm bench:retention` and a load test).
 */
describe('readJsonBody with a caller that hangs up', () => {
  let server: Server;
  let reads: Array<Promise<unknown>>;
  let delayBeforeReadMs = 0;
  beforeEach(async () => {
    reads = [];
    server = createServer((req: IncomingMessage) => {
      const started = new Promise((resolve) => setTimeout(resolve, delayBeforeReadMs)).then(() => readJsonBody(req, 1024 * 1024));
      reads.push(
        started.then(
          (value) => ({ value }),
          (error: Error) => ({ error: error.message }),
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(() => new Promise((resolve) => server.close(resolve)));

  /** Sends the headers (Content-Length 100) and `sent` of the body, then destroys the socket. */
  async function hangUpAfter(sent: string): Promise<void> {
    const { port } = server.address() as AddressInfo;
    const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/hooks/x', headers: { 'content-type': 'application/json', 'content-length': 100 } });
    req.on('error', () => undefined);
    req.write(sent);
    await new Promise((resolve) => setTimeout(resolve, 50));
    req.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  it('rejects when the caller leaves while the body is arriving', async () => {
    await hangUpAfter('{"targets": [');
    // Node's own 'aborted' error, or the cut-off one: either way the read ends.
    await expect(Promise.race([reads[0], new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2_000))])).resolves.toEqual({
      error: expect.stringMatching(/^(aborted|The request body was cut off: .*)$/),
    });
  });

  it('rejects when the caller left before the read began', async () => {
    delayBeforeReadMs = 300;
    await hangUpAfter('{"targets": [');
    await expect(Promise.race([reads[0], new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2_000))])).resolves.toEqual({
      error: 'The request body was cut off: the caller closed the connection before sending all of it',
    });
  });
});
