import { createServer, type Server, type Socket } from 'node:net';

/**
 * Serves one PGlite database over the Postgres wire protocol to any number of connections, so
 * that `pg`, Kysely, BullMQ's Postgres backend and psql use it unchanged.
 *
 * PGlite is a single Postgres session; every connection here shares it. What this server does
 * to make that safe (and why not `@electric-sql/pglite-socket`, whose 0.2.17 multiplexer queues
 * single protocol messages: a BEGIN from one connection lands between another's Parse and Sync
 * and that connection gets someone else's rows, with no error — measured, and upstream issue
 * electric-sql/pglite#1046):
 *
 * - **Units, not messages.** A connection's messages are run together up to the end of a
 *   request — a simple Query, a Sync (the end of an extended query) or a Flush — so two
 *   connections' Parse/Bind/Execute never interleave.
 * - **Ownership.** After a unit, the last ReadyForQuery says whether the session is idle. If
 *   not (a transaction block is open, or an extended query or COPY is unfinished), the
 *   connection that ran it owns the session: only its units run until it is idle again; the
 *   others wait in arrival order. A transaction on one connection therefore excludes every
 *   other connection — stronger than Postgres's row locks, so what row locks, `FOR UPDATE` and
 *   `SKIP LOCKED` protect still holds, one transaction after another. (Code that waits inside
 *   a transaction for a query on another connection waits for ever: Herald has none.)
 * - **Names.** Prepared statement and portal names are per session in Postgres, so each
 *   connection's names get a prefix of its own; its statements are deallocated when it leaves.
 * - **Notifications.** A NOTIFY reaches the session, so its NotificationResponse comes back on
 *   whichever connection committed it; it is forwarded to the connections that LISTEN on
 *   that channel instead (BullMQ's workers wait on LISTEN for new jobs).
 * - **search_path.** A connection that asks for one at start-up (`options=-c search_path=…`,
 *   as BullMQ does for its schema) gets it set before each of its units.
 * - **Goodbyes.** A connection that leaves mid-transaction has it rolled back.
 *
 * What stays shared: other session settings (`SET` without `LOCAL`), session advisory locks
 * (every connection holds them at once), `statement_timeout` (PGlite has no timer to cancel a
 * statement). No authentication: listen on loopback only.
 */
/** What the server needs of PGlite: one session that runs raw protocol messages, one caller at a time. */
export interface WireProtocolSession {
  runExclusive<T>(fn: () => Promise<T>): Promise<T>;
  execProtocolRaw(message: Uint8Array): Promise<Uint8Array>;
}

export interface SessionServerOptions {
  db: WireProtocolSession;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** A transaction has kept the others waiting this long: logged, as it may never end. */
  onLongWait?: (waitedMs: number) => void;
}

export interface SessionServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
const DEFAULT_SEARCH_PATH = '"$user", public';
/** Start-up packets are small; a message may carry a large COPY chunk or bind a big value. */
const MAX_STARTUP_LENGTH = 10_000;
const MAX_MESSAGE_LENGTH = 256 * 1024 * 1024;
/** Frontend messages a client may send once started (Terminate is handled here). */
const FRONTEND_TYPES = new Set('PBDECSHQdcfFX');
const LONG_WAIT_MS = Number(process.env['EMBEDDED_LONG_WAIT_MS'] ?? 10_000);

interface Connection {
  id: number;
  socket: Socket;
  buffer: Buffer;
  started: boolean;
  /** Messages of the unit being received. */
  pending: Buffer[];
  statements: Set<string>;
  searchPath: string;
  listening: Set<string>;
  /** Its last simple query held an UNLISTEN (which the shared session applies for everyone). */
  lastUnlisten: boolean;
  closed: boolean;
}

type Work = ({ kind: 'unit'; connection: Connection; messages: Buffer[] } | { kind: 'goodbye'; connection: Connection }) & {
  /** When it was queued, for the long-wait warning. */
  queuedAt: number;
};

export async function startSessionServer({ db, host = '127.0.0.1', port = 0, onLongWait }: SessionServerOptions): Promise<SessionServer> {
  const connections = new Set<Connection>();
  const queue: Work[] = [];
  let owner: Connection | null = null;
  /** The owner's unit ended with no ReadyForQuery after a Flush, or in a COPY: it is mid-request. */
  let ownerMidRequest = false;
  /** The session is in COPY FROM STDIN (a CopyInResponse with no ReadyForQuery since). */
  let inCopy = false;
  let sessionSearchPath = DEFAULT_SEARCH_PATH;
  /** The session's status from the last ReadyForQuery: 'I' idle, 'T' in a transaction, 'E' failed. */
  let sessionStatus = 'I';
  let pumping = false;
  let nextId = 1;
  let lastWarnedAt = 0;

  const exec = (message: Buffer): Promise<Buffer> =>
    db.runExclusive(async () => Buffer.from(await db.execProtocolRaw(new Uint8Array(message.buffer, message.byteOffset, message.length))));

  /** Runs SQL of the server's own (SET, ROLLBACK, DEALLOCATE), outside any connection. */
  const execSimple = async (sql: string): Promise<void> => {
    const messages = messagesOf(await exec(build('Q', [Buffer.from(`${sql}\0`, 'utf8')])));
    sessionStatus = lastReadyStatus(messages) ?? sessionStatus;
    const error = messages.find((m) => m.type === 'E');
    if (error) throw new Error(`embedded database refused ${sql}: ${errorText(error.body)}`);
  };

  const deliver = (connection: Connection, output: Buffer, lastType: string): void => {
    const messages = messagesOf(output);
    let notified = false;
    for (const message of messages) {
      if (message.type === 'G' || message.type === 'W') inCopy = true;
      if (message.type !== 'A') continue;
      notified = true;
      const channel = notificationChannel(message.body);
      for (const other of connections) {
        if (other.listening.has(channel) && !other.closed) other.socket.write(message.raw);
      }
    }
    // The answer goes as it came, less the notifications routed above (rarely any).
    const answer = notified ? Buffer.concat(messages.filter((m) => m.type !== 'A').map((m) => m.raw)) : output;
    if (!connection.closed && answer.length) connection.socket.write(answer);
    const status = lastReadyStatus(messages);
    if (status !== null) {
      sessionStatus = status;
      inCopy = false;
      owner = status === 'I' ? null : connection;
      ownerMidRequest = false;
    } else if (lastType === 'H' || inCopy) {
      owner = connection;
      ownerMidRequest = true;
    }
    // Otherwise (stray COPY data outside a COPY, say) nothing changed for the session.
  };

  const runUnit = async (connection: Connection, messages: Buffer[]): Promise<void> => {
    if (connection.closed) return;
    if (owner !== connection && connection.searchPath !== sessionSearchPath) {
      await execSimple(`SET search_path TO ${connection.searchPath}`);
      sessionSearchPath = connection.searchPath;
    }
    const outputs: Buffer[] = [];
    try {
      for (const message of messages) outputs.push(await exec(message));
    } finally {
      // Even when the session failed midway, what ran is answered and who holds it is known.
      deliver(connection, Buffer.concat(outputs), String.fromCharCode(messages[messages.length - 1]![0]!));
    }
    if (connection.lastUnlisten) {
      // UNLISTEN ran on the shared session: listen again for whoever else still listens.
      for (const channel of wantedChannels()) await execSimple(`LISTEN ${quoteIdent(channel)}`);
      connection.lastUnlisten = false;
    }
  };

  const wantedChannels = (): Set<string> => new Set([...connections].filter((c) => !c.closed).flatMap((c) => [...c.listening]));

  /** Runs a step of a goodbye; a failure there must not keep the others waiting. */
  const attempt = async (step: () => Promise<unknown>): Promise<void> => {
    try {
      await step();
    } catch {
      // the statement or channel was already gone, or the session refused: nothing to keep
    }
  };

  const goodbye = async (connection: Connection): Promise<void> => {
    if (owner === connection) {
      try {
        if (ownerMidRequest) {
          // Abort what it left unfinished, never commit it: fail the COPY, or make the
          // extended query fail (an unknown portal) before the Sync that ends it.
          const abort = inCopy ? build('f', [Buffer.from('client left\0')]) : build('E', [Buffer.from('herald_no_such_portal\0'), Buffer.alloc(4)]);
          await attempt(() => exec(abort));
          await attempt(async () => (sessionStatus = lastReadyStatus(messagesOf(await exec(build('S', [])))) ?? sessionStatus));
        }
        if (sessionStatus !== 'I') await attempt(() => execSimple('ROLLBACK'));
      } finally {
        owner = null;
        ownerMidRequest = false;
        inCopy = false;
      }
    }
    for (const name of connection.statements) await attempt(() => execSimple(`DEALLOCATE ${quoteIdent(name)}`));
    const stillWanted = wantedChannels();
    for (const channel of connection.listening) {
      if (!stillWanted.has(channel)) await attempt(() => execSimple(`UNLISTEN ${quoteIdent(channel)}`));
    }
  };

  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      for (;;) {
        const index = owner ? queue.findIndex((work) => work.connection === owner) : 0;
        if (queue.length === 0 || index < 0) break;
        const [work] = queue.splice(index, 1);
        try {
          if (work!.kind === 'unit') await runUnit(work!.connection, work!.messages);
          else await goodbye(work!.connection);
        } catch (error) {
          // The session itself failed: the connection closes (its caller retries); its goodbye
          // then ends whatever it left open, since it still owns the session if it did.
          work!.connection.socket.destroy(error as Error);
        }
      }
    } finally {
      pumping = false;
    }
  };

  const enqueue = (work: Work): void => {
    queue.push(work);
    void pump();
  };

  const longWaitTimer = setInterval(() => {
    // The oldest work still queued says how long the session has kept someone waiting.
    const oldest = queue[0]?.queuedAt;
    if (oldest !== undefined && Date.now() - oldest > LONG_WAIT_MS && Date.now() - lastWarnedAt > LONG_WAIT_MS) {
      onLongWait?.(Date.now() - oldest);
      lastWarnedAt = Date.now();
    }
  }, LONG_WAIT_MS);
  longWaitTimer.unref();

  const onData = (connection: Connection, data: Buffer): void => {
    connection.buffer = connection.buffer.length ? Buffer.concat([connection.buffer, data]) : data;
    for (;;) {
      const buffer = connection.buffer;
      if (!connection.started) {
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        if (length < 8 || length > MAX_STARTUP_LENGTH) {
          connection.socket.destroy(); // not a Postgres client
          return;
        }
        if (buffer.length < length) return;
        const code = buffer.readInt32BE(4);
        const message = buffer.subarray(0, length);
        connection.buffer = buffer.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          connection.socket.write('N');
        } else if (code === CANCEL_REQUEST) {
          connection.socket.end(); // PGlite has no statement to cancel from outside
          return;
        } else if (code === PROTOCOL_3) {
          connection.started = true;
          connection.searchPath = startupSearchPath(message) ?? DEFAULT_SEARCH_PATH;
          enqueue({ kind: 'unit', connection, messages: [Buffer.from(message)], queuedAt: Date.now() });
        } else {
          connection.socket.destroy();
          return;
        }
        continue;
      }
      if (buffer.length < 5) return;
      const type = String.fromCharCode(buffer[0]!);
      const declared = buffer.readInt32BE(1);
      if (!FRONTEND_TYPES.has(type) || declared < 4 || declared > MAX_MESSAGE_LENGTH) {
        connection.socket.destroy(); // garbage must not reach the session everyone shares
        return;
      }
      const length = 1 + declared;
      if (buffer.length < length) return;
      const message = Buffer.from(buffer.subarray(0, length));
      connection.buffer = buffer.subarray(length);
      if (type === 'X') {
        connection.socket.end();
        return;
      }
      connection.pending.push(renameForConnection(connection, type, message));
      if (type === 'Q') trackListen(connection, message);
      // The end of a request: Query, Sync, Flush; COPY data goes as it comes.
      if ('QSHdcf'.includes(type)) {
        enqueue({ kind: 'unit', connection, messages: connection.pending, queuedAt: Date.now() });
        connection.pending = [];
      }
    }
  };

  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    const connection: Connection = {
      id: nextId++,
      socket,
      buffer: Buffer.alloc(0),
      started: false,
      pending: [],
      statements: new Set(),
      searchPath: DEFAULT_SEARCH_PATH,
      listening: new Set(),
      lastUnlisten: false,
      closed: false,
    };
    connections.add(connection);
    socket.on('data', (data) => onData(connection, data));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      connection.closed = true;
      for (let i = queue.length - 1; i >= 0; i--) if (queue[i]!.connection === connection) queue.splice(i, 1);
      enqueue({ kind: 'goodbye', connection, queuedAt: Date.now() });
      connections.delete(connection);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as { port: number };

  return {
    port: address.port,
    host,
    close: async () => {
      clearInterval(longWaitTimer);
      for (const connection of connections) connection.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      while (pumping || queue.length) await new Promise((resolve) => setTimeout(resolve, 5));
    },
  };
}

interface Message {
  type: string;
  body: Buffer;
  raw: Buffer;
}

/** Splits backend output into its messages (type byte, length, body). */
function messagesOf(output: Buffer): Message[] {
  const messages: Message[] = [];
  let offset = 0;
  while (offset + 5 <= output.length) {
    const length = output.readInt32BE(offset + 1);
    const end = offset + 1 + length;
    messages.push({ type: String.fromCharCode(output[offset]!), body: output.subarray(offset + 5, end), raw: output.subarray(offset, end) });
    offset = end;
  }
  return messages;
}

/** The status byte of the last ReadyForQuery ('I' idle, 'T' in a transaction, 'E' failed one). */
function lastReadyStatus(messages: readonly Message[]): string | null {
  let status: string | null = null;
  for (const message of messages) if (message.type === 'Z') status = String.fromCharCode(message.body[0]!);
  return status;
}

function errorText(body: Buffer): string {
  // Fields: a type byte, then a C string; 'M' is the message.
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const type = String.fromCharCode(body[offset]!);
    const end = body.indexOf(0, offset + 1);
    if (type === 'M') return body.toString('utf8', offset + 1, end);
    offset = end + 1;
  }
  return 'unknown error';
}

function notificationChannel(body: Buffer): string {
  const end = body.indexOf(0, 4); // after the sender's process id
  return body.toString('utf8', 4, end);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The search_path a start-up message asks for, as a `search_path` parameter or in `options`. */
function startupSearchPath(message: Buffer): string | null {
  const parts = message.toString('utf8', 8, message.length).split('\0');
  const params = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i]) params.set(parts[i]!, parts[i + 1]!);
  const direct = params.get('search_path');
  if (direct) return direct;
  const match = /(?:^|\s)-c\s*search_path=("(?:[^"\\]|\\.)*"|\S+)/.exec(params.get('options') ?? '');
  if (!match) return null;
  const value = match[1]!.replace(/\\(.)/g, '$1');
  // `-c search_path="bullmq"` quotes an identifier: keep the quotes as SQL's.
  return /^[A-Za-z_][\w$]*(\s*,\s*[A-Za-z_][\w$]*)*$/.test(value) || /^"[^"]+"$/.test(value) ? value : null;
}

/** Records LISTEN / UNLISTEN sent as simple queries, so notifications can be routed. */
function trackListen(connection: Connection, message: Buffer): void {
  // Comments off first: BullMQ's LISTEN comes after two lines of them.
  const text = message
    .toString('utf8', 5, message.length - 1)
    .replace(/--[^\n]*/g, '')
    .replace(/\/\*[\s\S]*?\*\//g, '');
  for (const statement of text.split(';')) {
    const match = /^\s*(UN)?LISTEN\s+("(?:[^"]|"")+"|[A-Za-z_][\w$]*|\*)\s*$/i.exec(statement);
    if (!match) continue;
    const raw = match[2]!;
    const channel = raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw.toLowerCase();
    if (!match[1]) {
      connection.listening.add(channel);
      continue;
    }
    connection.lastUnlisten = true;
    if (channel === '*') connection.listening.clear();
    else connection.listening.delete(channel);
  }
}

/**
 * Gives the connection's prepared statement and portal names a prefix of its own: Parse,
 * Bind, Describe, Close and Execute carry them. The unnamed ones ("") stay as they are: a
 * unit runs from Parse to Sync without another connection in between.
 */
function renameForConnection(connection: Connection, type: string, message: Buffer): Buffer {
  const prefix = `c${connection.id}_`;
  const rename = (name: string) => (name === '' ? '' : prefix + name);
  const body = message.subarray(5);
  switch (type) {
    case 'P': {
      const [name, rest] = cString(body, 0);
      if (name !== '') connection.statements.add(rename(name));
      return build('P', [Buffer.from(`${rename(name)}\0`), body.subarray(rest)]);
    }
    case 'B': {
      const [portal, afterPortal] = cString(body, 0);
      const [statement, rest] = cString(body, afterPortal);
      return build('B', [Buffer.from(`${rename(portal)}\0${rename(statement)}\0`), body.subarray(rest)]);
    }
    case 'D':
    case 'C': {
      const kind = String.fromCharCode(body[0]!);
      const [name, rest] = cString(body, 1);
      if (type === 'C' && kind === 'S') connection.statements.delete(rename(name));
      return build(type, [Buffer.from(`${kind}${rename(name)}\0`), body.subarray(rest)]);
    }
    case 'E': {
      const [portal, rest] = cString(body, 0);
      return build('E', [Buffer.from(`${rename(portal)}\0`), body.subarray(rest)]);
    }
    default:
      return message;
  }
}

function cString(body: Buffer, offset: number): [string, number] {
  const end = body.indexOf(0, offset);
  return [body.toString('utf8', offset, end), end + 1];
}

function build(type: string, parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const message = Buffer.alloc(5 + body.length);
  message.write(type, 0, 'latin1');
  message.writeInt32BE(4 + body.length, 1);
  body.copy(message, 5);
  return message;
}
