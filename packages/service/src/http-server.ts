import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Express } from 'express';

/** Starts listening and resolves once the port is bound (port 0 picks a free one). */
export function listen(app: Express, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}

export function boundPort(server: Server): number {
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('server is not listening on a TCP port');
  return address.port;
}

/**
 * Stops accepting connections and resolves when in-flight requests have finished. Idle
 * keep-alive connections are closed at once so they cannot hold the process open.
 *
 * A keep-alive connection busy at this moment is not idle, and Node serves it on: a client that
 * sends its next request within keepAliveTimeout (a steady caller, a load balancer's pool)
 * kept it open, its calls accepted, until the shutdown deadline ended the process with exit 1
 * (found by e2e/faults-delivery.e2e.test.ts). So whatever still arrives on such a connection
 * is answered with `Connection: close`, which ends it after that answer. Prepended, so the
 * header is set before the app can answer.
 */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => response.setHeader('Connection', 'close'));
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeIdleConnections();
  });
}
