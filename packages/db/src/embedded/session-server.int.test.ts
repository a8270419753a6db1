import { connect } from 'node:net';
import { Client, Pool } from 'pg';
import Cursor from 'pg-cursor';
import { startEmbeddedDatabaseProcess, type EmbeddedDatabaseProcess } from '@herald/testing';

/**
 * One in-memory PGlite behind the session server (in a process of its own, as jest cannot load
 * PGlite), used by many real `pg` connections at once: what the embedded backend's services
 * and BullMQ do to it together must give each connection its own answers.
 */
describe('the embedded session server', () => {
  let database: EmbeddedDatabaseProcess;
  let pool: Pool;
  const url = () => database.url;

  beforeAll(async () => {
    database = await startEmbeddedDatabaseProcess();
    pool = new Pool({ connectionString: url(), max: 10 });
    await pool.query('CREATE TABLE items (id serial PRIMARY KEY, owner int NOT NULL, n int NOT NULL)');
  }, 60_000);
  afterAll(async () => {
    await pool.end();
    await database.stop();
  });

  it('gives every connection its own rows while others run transactions and parameterised queries', async () => {
    const transactions = Array.from({ length: 20 }, async (_, owner) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        for (let n = 0; n < 3; n++) await client.query('INSERT INTO items (owner, n) VALUES ($1, $2)', [owner, n]);
        const { rows } = await client.query<{ n: number }>('SELECT n FROM items WHERE owner = $1 ORDER BY n', [owner]);
        await client.query('COMMIT');
        return rows.map((r) => r.n);
      } finally {
        client.release();
      }
    });
    const echoes = Array.from({ length: 500 }, async (_, i) => (await pool.query<{ v: number }>('SELECT $1::int AS v', [i])).rows[0]!.v);
    const [seen, echoed] = await Promise.all([Promise.all(transactions), Promise.all(echoes)]);
    expect(seen).toEqual(Array(20).fill([0, 1, 2]));
    expect(echoed).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it('keeps each connection’s named prepared statements apart', async () => {
    const [a, b] = [await pool.connect(), await pool.connect()];
    try {
      const named = (client: typeof a, v: number) => client.query<{ v: number }>({ name: 'echo', text: 'SELECT $1::int + 0 AS v', values: [v] });
      expect((await named(a, 1)).rows[0]!.v).toBe(1);
      expect((await named(b, 2)).rows[0]!.v).toBe(2);
      expect((await named(a, 3)).rows[0]!.v).toBe(3);
    } finally {
      a.release();
      b.release();
    }
  });

  it('routes a notification to the connection that listens, from any other', async () => {
    const listener = new Client({ connectionString: url() });
    const sender = new Client({ connectionString: url() });
    await Promise.all([listener.connect(), sender.connect()]);
    try {
      const heard: string[] = [];
      const senderHeard: string[] = [];
      listener.on('notification', (n) => heard.push(`${n.channel}:${n.payload}`));
      sender.on('notification', (n) => senderHeard.push(`${n.channel}:${n.payload}`));
      await listener.query('-- as BullMQ sends it: comments first\nLISTEN jobs;\n');
      await sender.query("SELECT pg_notify('jobs', 'q1')");
      await sender.query("NOTIFY jobs, 'q2'");
      await sender.query("NOTIFY elsewhere, 'nobody'");
      for (let i = 0; i < 50 && heard.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(heard).toEqual(['jobs:q1', 'jobs:q2']);
      expect(senderHeard).toEqual([]);
    } finally {
      await Promise.all([listener.end(), sender.end()]);
    }
  });

  it('rolls back the transaction of a connection that leaves in the middle of it', async () => {
    const leaver = new Client({ connectionString: url() });
    leaver.on('error', () => undefined); // its own connection is cut below, on purpose
    await leaver.connect();
    await leaver.query('BEGIN');
    await leaver.query('INSERT INTO items (owner, n) VALUES (999, 0)');
    const waiting = pool.query<{ n: number }>('SELECT count(*)::int AS n FROM items WHERE owner = 999');
    await new Promise((resolve) => setTimeout(resolve, 50));
    leaver.connection.stream.destroy(); // gone without a word, as a killed process would be
    expect((await waiting).rows[0]!.n).toBe(0);
  });

  it('keeps an error inside one connection’s transaction to that connection', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await expect(client.query('SELECT 1/0')).rejects.toThrow('division by zero');
      // Another connection waits while the failed transaction is open, then runs normally.
      const other = pool.query<{ v: number }>('SELECT 7 AS v');
      await client.query('ROLLBACK');
      expect((await other).rows[0]!.v).toBe(7);
    } finally {
      client.release();
    }
  });

  it('streams a cursor to the end while other connections wait their turn', async () => {
    const client = await pool.connect();
    try {
      const cursor = client.query(new Cursor<{ g: number }>('SELECT g FROM generate_series(1, 250) AS g'));
      const other = pool.query<{ v: number }>('SELECT 1 AS v');
      let total = 0;
      for (;;) {
        const rows = await cursor.read(100);
        if (rows.length === 0) break;
        total += rows.length;
      }
      await cursor.close();
      expect(total).toBe(250);
      expect((await other).rows[0]!.v).toBe(1);
    } finally {
      client.release();
    }
  });

  it('sets the search_path a connection asks for at start-up, and only for it', async () => {
    await pool.query('CREATE SCHEMA IF NOT EXISTS other; CREATE TABLE IF NOT EXISTS other.items (x int); INSERT INTO other.items VALUES (42)');
    const scoped = new Pool({ connectionString: url(), max: 2, options: '-c search_path="other"' });
    try {
      const [mine, theirs] = await Promise.all([
        scoped.query<{ x: number }>('SELECT x FROM items'),
        pool.query<{ n: number }>('SELECT count(*)::int AS n FROM items WHERE owner >= 0'),
      ]);
      expect(mine.rows).toEqual([{ x: 42 }]);
      expect(theirs.rows[0]!.n).toBeGreaterThan(0);
    } finally {
      await scoped.end();
    }
  });
  it('drops a connection that sends garbage, and serves the others on', async () => {
    const port = Number(new URL(url()).port);
    for (const garbage of [Buffer.from([0, 0, 0, 0, 0x04, 0xd2, 0x16, 0x2f]), Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.alloc(64, 0xff)]) {
      const closed = await new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(garbage));
        socket.on('close', () => resolve(true));
        socket.on('error', () => undefined);
        setTimeout(() => resolve(false), 2_000);
      });
      expect(closed).toBe(true);
    }
    expect((await pool.query<{ v: number }>('SELECT 1 AS v')).rows[0]!.v).toBe(1);
  });

  it('keeps the other listeners listening when one connection unlistens', async () => {
    const [stays, leaves, sender] = [new Client({ connectionString: url() }), new Client({ connectionString: url() }), new Client({ connectionString: url() })];
    await Promise.all([stays.connect(), leaves.connect(), sender.connect()]);
    try {
      const heard: string[] = [];
      stays.on('notification', (n) => heard.push(n.payload ?? ''));
      await stays.query('LISTEN shared');
      await leaves.query('LISTEN shared');
      await leaves.query('UNLISTEN *');
      await sender.query("NOTIFY shared, 'still here'");
      for (let i = 0; i < 50 && heard.length < 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(heard).toEqual(['still here']);
    } finally {
      await Promise.all([stays.end(), leaves.end(), sender.end()]);
    }
  });
  it('says so when an open transaction keeps the others waiting', async () => {
    const slow = await startEmbeddedDatabaseProcess({ longWaitMs: 300 });
    const holder = new Client({ connectionString: slow.url });
    const other = new Client({ connectionString: slow.url });
    await Promise.all([holder.connect(), other.connect()]);
    try {
      await holder.query('BEGIN');
      const waiting = other.query('SELECT 1');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(slow.errors()).toMatch(/a transaction has kept others waiting \d+ ms/);
      await holder.query('COMMIT');
      await waiting;
    } finally {
      await Promise.all([holder.end(), other.end()]);
      await slow.stop();
    }
  });
});
