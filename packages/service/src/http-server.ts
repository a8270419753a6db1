import type { Server } from 'node:http';
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
 */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeIdleConnections();
  });
}
