import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './wait';

const run = promisify(execFile);

/** One master of a test cluster: its client port, and the bus port the nodes gossip on. */
export interface ClusterNode {
  port: number;
  busPort: number;
}

export interface TestRedisCluster {
  nodes: readonly ClusterNode[];
  /** `host:port` of every master, as REDIS_CLUSTER_NODES takes them. */
  seeds: string[];
  /** The client port of the master serving `key`'s hash slot. */
  portServing(key: string): Promise<number>;
  /** SIGKILLs a master's process: its slots are served by nobody until `restart`. */
  kill(port: number): Promise<void>;
  /**
   * Starts a killed master again on the same ports with the same nodes.conf, so it takes its
   * slots back (empty: the nodes run without persistence); resolves once the cluster is ok.
   */
  restart(port: number): Promise<void>;
  /** `cluster_state` as one master reports it (`ok`, `fail`). */
  state(port?: number): Promise<string>;
  /** Kills every master and removes the folder of their files. */
  stop(): Promise<void>;
}

/**
 * A three-master Redis Cluster of a test's own (no replicas, no persistence), made with
 * `redis-server --cluster-enabled yes` and `redis-cli --cluster create` on free loopback
 * ports, in a temporary folder that `stop` removes. The bus ports are chosen too
 * (`--cluster-port`), since the default (client port + 10000) may be taken or past 65535.
 */
export async function startRedisCluster({ nodeTimeoutMs = 2_000 } = {}): Promise<TestRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-redis-cluster-'));
  const processes = new Map<number, ChildProcess>();
  const nodes: ClusterNode[] = [];
  for (let i = 0; i < 3; i++) nodes.push({ port: await freePort(), busPort: await freePort() });

  const startNode = async ({ port, busPort }: ClusterNode) => {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(busPort),
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        String(nodeTimeoutMs),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
      ],
      { stdio: 'ignore' },
    );
    processes.set(port, child);
    await waitFor(async () => (await command(port, 'PING')) === 'PONG', { timeoutMs: 10_000, what: `redis-server on ${port}` });
  };
  const stateOf = async (port: number) => /cluster_state:(\w+)/.exec(String(await command(port, 'CLUSTER', 'INFO')))?.[1] ?? 'unknown';
  const allOk = () =>
    waitFor(async () => (await Promise.all(nodes.map((n) => stateOf(n.port)))).every((s) => s === 'ok'), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: 'cluster_state:ok on every master',
    });

  const cluster: TestRedisCluster = {
    nodes,
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`),
    async portServing(key) {
      const slot = Number(await command(nodes[0]!.port, 'CLUSTER', 'KEYSLOT', key));
      const ranges = (await command(nodes[0]!.port, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`no master serves slot ${slot}`);
      return range[2][1];
    },
    async kill(port) {
      const child = processes.get(port);
      if (!child) throw new Error(`no master on ${port}`);
      processes.delete(port);
      await stopChild(child);
    },
    async restart(port) {
      const node = nodes.find((n) => n.port === port);
      if (!node || processes.has(port)) throw new Error(`no killed master on ${port}`);
      await startNode(node);
      await allOk();
    },
    state: (port = nodes[0]!.port) => stateOf(port),
    async stop() {
      await Promise.all([...processes.values()].map(stopChild));
      processes.clear();
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    for (const node of nodes) await startNode(node);
    await run('redis-cli', ['--cluster', 'create', ...cluster.seeds, '--cluster-replicas', '0', '--cluster-yes']);
    await allOk();
    return cluster;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** One command to one node, on a connection that neither retries nor queues. */
async function command(port: number, name: string, ...args: string[]): Promise<unknown> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined); // a node still starting refuses; the caller polls
  try {
    await redis.connect();
    return await redis.call(name, ...args);
  } finally {
    redis.disconnect();
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
