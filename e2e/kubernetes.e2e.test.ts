import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
// @herald/config is no dependency of the root package: its sources, where jest's moduleNameMapper
// would find them.
import { adminConfigSchema, chooseBackend, ingressConfigSchema, loadConfig, migrateConfigSchema, workerConfigSchema } from '../packages/config/src';
import { QUEUE_NAMES } from '@herald/queue';
import {
  freePort,
  PORT_VARIABLE,
  startProcess,
  TEST_REDIS_URL,
  testQueuePrefix,
  useTestDatabase,
  useTestRedis,
  waitForHttp,
  type HeraldService,
} from '@herald/testing';

/**
 * deploy/kubernetes (the kustomize base) and deploy/kubernetes-example (an overlay of it),
 * rendered by `kubectl kustomize` and checked against the code, with no cluster: every variable
 * a container sets is one its process reads and passes that process's validation; ports, probes
 * and grace periods agree with the configuration they run with; the autoscalers target the
 * right Deployments and KEDA reads the lists BullMQ really keeps. Then the base's env, on the
 * built processes: each serves its probes and the migration Job's command migrates.
 */

const ROOT = join(__dirname, '..');
const BASE = 'deploy/kubernetes';
const OVERLAY = 'deploy/kubernetes-example';
const SECRETS_EXAMPLE = 'deploy/kubernetes/secrets.example.yaml';

/** The four processes a container may run (`node apps/<app>/dist/main.js`), each with its schema. */
const SCHEMAS = { ingress: ingressConfigSchema, admin: adminConfigSchema, worker: workerConfigSchema, migrate: migrateConfigSchema } as const;
type App = keyof typeof SCHEMAS;
const isApp = (name: string): name is App => name in SCHEMAS;

/** Valid stand-ins for the Secrets' values, for the configuration checks that need no service. */
const SECRET_STAND_INS: Record<string, string> = {
  DATABASE_URL: 'postgres://herald@postgres:5432/herald',
  REDIS_URL: 'redis://redis:6379',
  ADMIN_API_KEY: 'kubernetes-test-admin-key-0123456789',
  HERALD_SECRET_KEY: '0123456789abcdef'.repeat(4),
  HERALD_PREVIOUS_SECRET_KEYS: '',
};

// ---------------------------------------------------------------------------------------------
// The objects, as far as this test reads them.

interface Metadata {
  name: string;
  labels?: Record<string, string>;
}
interface KeyRef {
  name: string;
  key: string;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  timeoutSeconds?: number;
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[] };
}
interface Container {
  name: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { cpu?: string; memory?: string } };
  securityContext?: SecurityContext;
}
interface PodSpec {
  containers: Container[];
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  enableServiceLinks?: boolean;
  automountServiceAccountToken?: boolean;
  securityContext?: SecurityContext;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: PodSpec;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface Workload extends K8sObject {
  kind: 'Deployment' | 'Job';
  spec: { replicas?: number; selector?: { matchLabels: Record<string, string> }; template: PodTemplate };
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], input?: string): Run {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000, ...(input === undefined ? {} : { input }) });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * YAML manifests as objects. No YAML parser is a dependency of the workspace, and kubectl has
 * no JSON output for kustomize; `kubectl label --local` reads manifests and prints them as JSON
 * without a cluster (removing a label no object has, so nothing else changes).
 */
function asObjects(yaml: string): K8sObject[] {
  const printed = run('kubectl', ['label', '--local', '-f', '-', '-o', 'json', 'herald-test-none-'], yaml);
  if (printed.status !== 0) throw new Error(`kubectl label --local: ${printed.stderr}`);
  // One pretty-printed document after another: only a document's own braces start a line.
  return printed.stdout
    .split(/^(?=\{)/m)
    .filter((text) => text.trim() !== '')
    .flatMap((text) => {
      const parsed = JSON.parse(text) as K8sObject & { items?: K8sObject[] };
      return parsed.kind === 'List' ? (parsed.items ?? []) : [parsed];
    });
}

function kustomize(dir: string): K8sObject[] {
  const built = run('kubectl', ['kustomize', dir]);
  if (built.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${built.stderr}`);
  return asObjects(built.stdout);
}

// ---------------------------------------------------------------------------------------------
// What a container runs and with which environment.

/** The app a container runs, from its command: `node apps/<app>/dist/main.js [args]`. */
function appOf(container: Container): App {
  const [node, script] = [...(container.command ?? []), ...(container.args ?? [])];
  const app = /^apps\/([a-z-]+)\/dist\/main\.js$/.exec(script ?? '')?.[1] ?? '';
  if (node !== 'node' || !isApp(app)) throw new Error(`container ${container.name} runs ${JSON.stringify(container.command)}: not a Herald process`);
  return app;
}

interface ContainerEnv {
  /** Every variable name the container gets, from env and envFrom alike. */
  names: string[];
  /** The values, the Secrets' replaced by SECRET_STAND_INS. */
  env: Record<string, string>;
  secretRefs: KeyRef[];
  configMapRefs: string[];
}

function environmentOf(container: Container, objects: K8sObject[]): ContainerEnv {
  const configMap = (name: string) => {
    const found = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name);
    if (!found) throw new Error(`container ${container.name} reads ConfigMap ${name}, which is not rendered`);
    return found.data ?? {};
  };
  const secretValue = (ref: KeyRef) => SECRET_STAND_INS[ref.key] ?? `stand-in for ${ref.name}/${ref.key}`;
  const result: ContainerEnv = { names: [], env: {}, secretRefs: [], configMapRefs: [] };
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) {
      result.configMapRefs.push(source.configMapRef.name);
      for (const [name, value] of Object.entries(configMap(source.configMapRef.name))) {
        result.names.push(name);
        result.env[name] = value;
      }
    }
    if (source.secretRef) throw new Error(`container ${container.name}: envFrom a whole Secret; name its keys in env instead`);
  }
  for (const variable of container.env ?? []) {
    result.names.push(variable.name);
    const { secretKeyRef, configMapKeyRef } = variable.valueFrom ?? {};
    if (secretKeyRef) {
      result.secretRefs.push(secretKeyRef);
      result.env[variable.name] = secretValue(secretKeyRef);
    } else if (configMapKeyRef) {
      result.configMapRefs.push(configMapKeyRef.name);
      result.env[variable.name] = configMap(configMapKeyRef.name)[configMapKeyRef.key] ?? '';
    } else {
      result.env[variable.name] = variable.value ?? '';
    }
  }
  return result;
}

/** The names a process reads: its schema's keys. */
const schemaKeys = (app: App) => Object.keys(SCHEMAS[app].describe().keys ?? {});

/** The configuration the process would run with (throws, naming every problem, when it would refuse to start). */
function configOf(app: App, env: Record<string, string>): Record<string, unknown> {
  // Four schemas of four config types meet loadConfig's one type parameter only by a cast; the
  // test reads the result by variable name.
  return loadConfig<Record<string, unknown>>(SCHEMAS[app] as never, env);
}

function workloads(objects: K8sObject[]): Workload[] {
  return objects.filter((o): o is Workload => o.kind === 'Deployment' || o.kind === 'Job');
}

/** The one container, of any Deployment or Job, that runs `app`. */
function containerRunning(objects: K8sObject[], app: App): { workload: Workload; container: Container } {
  const found = workloads(objects).flatMap((workload) =>
    workload.spec.template.spec.containers.filter((c) => appOf(c) === app).map((container) => ({ workload, container })),
  );
  if (found.length !== 1) throw new Error(`${found.length} containers run ${app}`);
  return found[0]!;
}

/** A probe's or Service's port, as a number: by name among the container's ports, or as given. */
function portNumber(container: Container, port: string | number): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
}

/** How long preStop holds the container before SIGTERM: `exec sleep N` or the `sleep` action. */
function preStopMs(container: Container): number {
  const preStop = container.lifecycle?.preStop;
  if (!preStop) return 0;
  if (preStop.sleep) return preStop.sleep.seconds * 1000;
  const [command, seconds, ...rest] = preStop.exec?.command ?? [];
  if (command !== 'sleep' || rest.length || !/^\d+$/.test(seconds ?? '')) throw new Error(`container ${container.name}: a preStop this test cannot time`);
  return Number(seconds) * 1000;
}

// ---------------------------------------------------------------------------------------------

const kubectl = !spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).error;
const describeKubectl = kubectl ? describe : describe.skip;

describeKubectl(`Kubernetes manifests${kubectl ? '' : ' (skipped: kubectl is not installed)'}`, () => {
  const secretsExample = kubectl ? asObjects(readFileSync(join(ROOT, SECRETS_EXAMPLE), 'utf8')) : [];

  describe.each([BASE, OVERLAY])('%s', (dir) => {
    const objects = kubectl ? kustomize(dir) : [];
    const containers = workloads(objects).flatMap((workload) => workload.spec.template.spec.containers.map((container) => ({ workload, container })));
    const where = (workload: Workload, container: Container) => `${workload.kind} ${workload.metadata.name}, container ${container.name}`;

    it('has the three Deployments, their Services, the migration Job and both autoscalers', () => {
      const names = objects.filter((o) => o.kind !== 'ConfigMap' && o.kind !== 'Namespace').map((o) => `${o.kind}/${o.metadata.name}`);
      expect(names.sort()).toEqual(
        [
          'Deployment/herald-admin',
          'Deployment/herald-ingress',
          'Deployment/herald-worker',
          'HorizontalPodAutoscaler/herald-ingress',
          'Job/herald-migrate',
          'ScaledObject/herald-worker',
          'Service/herald-admin',
          'Service/herald-ingress',
          'Service/herald-worker',
          'TriggerAuthentication/herald-keda-redis',
        ].sort(),
      );
      expect(containers.map(({ container }) => appOf(container)).sort()).toEqual(['admin', 'ingress', 'migrate', 'worker']);
    });

    it('sets in each container only variables its process reads, and values it accepts', () => {
      const problems: string[] = [];
      for (const { workload, container } of containers) {
        const app = appOf(container);
        const { names, env } = environmentOf(container, objects);
        const known = new Set(schemaKeys(app));
        for (const name of names) if (!known.has(name)) problems.push(`${where(workload, container)}: ${name} is not read by ${app}`);
        try {
          configOf(app, env);
          // What boot-config checks before the schema: production never picks a backend by itself.
          if (app !== 'migrate' && chooseBackend(env) !== 'services') problems.push(`${where(workload, container)}: not on the services backend`);
        } catch (error) {
          problems.push(`${where(workload, container)}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it('takes every secret from a key secrets.example.yaml documents, and documents no other', () => {
      const documented = secretsExample
        .filter((o) => o.kind === 'Secret')
        .flatMap((s) => Object.keys(s.stringData ?? {}).map((key) => `${s.metadata.name}/${key}`));
      const used = new Set(containers.flatMap(({ container }) => environmentOf(container, objects).secretRefs.map((ref) => `${ref.name}/${ref.key}`)));
      for (const auth of objects.filter((o) => o.kind === 'TriggerAuthentication')) {
        for (const ref of (auth.spec?.secretTargetRef ?? []) as KeyRef[]) used.add(`${ref.name}/${ref.key}`);
      }
      expect([...used].sort()).toEqual(documented.sort());
      // The example is no part of what `kubectl apply -k` applies: it would overwrite the real ones.
      expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    });

    it('serves on the port the process listens on, probes /healthz for liveness and /readyz for readiness', () => {
      const problems: string[] = [];
      for (const { workload, container } of containers.filter(({ workload }) => workload.kind === 'Deployment')) {
        const app = appOf(container) as HeraldService;
        const port = configOf(app, environmentOf(container, objects).env)[PORT_VARIABLE[app]];
        const declared = (container.ports ?? []).map((p) => p.containerPort);
        if (declared.length !== 1 || declared[0] !== port)
          problems.push(`${where(workload, container)}: containerPort ${declared.join(',')}, the process listens on ${String(port)}`);
        const probes = { startupProbe: '/healthz', livenessProbe: '/healthz', readinessProbe: '/readyz' } as const;
        for (const [kind, path] of Object.entries(probes) as [keyof typeof probes, string][]) {
          const probe = container[kind]?.httpGet;
          if (!probe) {
            problems.push(`${where(workload, container)}: no ${kind}`);
            continue;
          }
          if (probe.path !== path) problems.push(`${where(workload, container)}: ${kind} on ${probe.path}, not ${path}`);
          if (portNumber(container, probe.port) !== port) problems.push(`${where(workload, container)}: ${kind} on port ${probe.port}, not ${String(port)}`);
        }
        // /readyz gives each dependency 2 s (health.router.ts): a shorter timeout fails a slow but healthy check.
        if ((container.readinessProbe?.timeoutSeconds ?? 1) <= 2)
          problems.push(`${where(workload, container)}: readinessProbe timeout within /readyz's own 2 s`);
      }
      expect(problems).toEqual([]);
    });

    it('gives every process longer than SHUTDOWN_TIMEOUT_MS (set explicitly) after preStop before SIGKILL', () => {
      const problems: string[] = [];
      for (const { workload, container } of containers.filter(({ workload }) => workload.kind === 'Deployment')) {
        const { names, env } = environmentOf(container, objects);
        if (!names.includes('SHUTDOWN_TIMEOUT_MS')) problems.push(`${where(workload, container)}: SHUTDOWN_TIMEOUT_MS not set`);
        const config = configOf(appOf(container), env);
        const shutdownMs = config['SHUTDOWN_TIMEOUT_MS'] as number;
        const graceMs = (workload.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
        if (graceMs <= preStopMs(container) + shutdownMs) {
          problems.push(`${where(workload, container)}: ${graceMs} ms of grace for ${preStopMs(container)} ms of preStop and ${shutdownMs} ms of shutdown`);
        }
        // A worker's drain waits for its provider requests in flight; a request lasts up to both timeouts.
        if (appOf(container) === 'worker') {
          const requestMs = (config['PROVIDER_CONNECT_TIMEOUT_MS'] as number) + (config['PROVIDER_TIMEOUT_MS'] as number);
          if (shutdownMs <= requestMs)
            problems.push(`${where(workload, container)}: SHUTDOWN_TIMEOUT_MS ${shutdownMs} cuts provider requests of up to ${requestMs} ms short`);
        }
      }
      expect(problems).toEqual([]);
    });

    it('runs every container as a non-root uid, read-only, without privileges, service links or an API token', () => {
      const problems: string[] = [];
      for (const { workload, container } of containers) {
        const pod = workload.spec.template.spec;
        const context = { ...pod.securityContext, ...container.securityContext };
        const name = where(workload, container);
        if (context.runAsNonRoot !== true) problems.push(`${name}: runAsNonRoot`);
        if (!context.runAsUser) problems.push(`${name}: no numeric non-root runAsUser`);
        if (context.readOnlyRootFilesystem !== true) problems.push(`${name}: readOnlyRootFilesystem`);
        if (context.allowPrivilegeEscalation !== false) problems.push(`${name}: allowPrivilegeEscalation`);
        if (!context.capabilities?.drop?.includes('ALL')) problems.push(`${name}: capabilities not dropped`);
        if (pod.enableServiceLinks !== false) problems.push(`${name}: service links`);
        if (pod.automountServiceAccountToken !== false) problems.push(`${name}: service account token`);
        if (!container.resources?.requests?.cpu || !container.resources.requests.memory || !container.resources.limits?.memory)
          problems.push(`${name}: resources`);
      }
      expect(problems).toEqual([]);
    });

    it('puts each Service in front of one Deployment, on a port its container declares', () => {
      const problems: string[] = [];
      for (const service of objects.filter((o) => o.kind === 'Service')) {
        const selector = service.spec.selector as Record<string, string>;
        const selected = workloads(objects).filter(
          (w) => w.kind === 'Deployment' && Object.entries(selector).every(([key, value]) => w.spec.template.metadata?.labels?.[key] === value),
        );
        if (selected.length !== 1) {
          problems.push(`Service ${service.metadata.name} selects ${selected.length} Deployments`);
          continue;
        }
        const container = selected[0]!.spec.template.spec.containers[0]!;
        for (const { targetPort } of service.spec.ports as { targetPort: string | number }[]) {
          if (portNumber(container, targetPort) === undefined)
            problems.push(`Service ${service.metadata.name}: targetPort ${targetPort} is no port of ${container.name}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it('gives both processes that read PUBLIC_URL the same one', () => {
      const url = (app: App) => {
        const { container } = containerRunning(objects, app);
        return configOf(app, environmentOf(container, objects).env)['PUBLIC_URL'];
      };
      expect(url('ingress')).toMatch(/^https?:\/\//);
      expect(url('ingress')).toBe(url('admin'));
    });

    it('has a migration Job that runs `migrate up` with nothing but its own settings and the Secret', () => {
      const jobs = workloads(objects).filter((w) => w.kind === 'Job');
      expect(jobs.map((job) => job.spec.template.spec.containers.map((c) => [...(c.command ?? []), ...(c.args ?? [])]))).toEqual([
        [['node', 'apps/migrate/dist/main.js', 'up']],
      ]);
      const [job] = jobs;
      expect(['Never', 'OnFailure']).toContain(job!.spec.template.spec.restartPolicy);
      // `kubectl apply -k … -l app.kubernetes.io/component=migrate` applies the Job alone, before
      // the generated ConfigMaps exist: it must not need them.
      expect(job!.metadata.labels?.['app.kubernetes.io/component']).toBe('migrate');
      expect(environmentOf(job!.spec.template.spec.containers[0]!, objects).configMapRefs).toEqual([]);
    });

    it('scales the ingress on CPU, one process per pod', () => {
      const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler');
      expect(hpa?.apiVersion).toBe('autoscaling/v2');
      expect(hpa?.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'herald-ingress' });
      expect(hpa?.spec.metrics).toEqual([expect.objectContaining({ type: 'Resource', resource: expect.objectContaining({ name: 'cpu' }) })]);
      expect(hpa?.spec.minReplicas).toBeLessThanOrEqual(hpa?.spec.maxReplicas as number);
      const { workload, container } = containerRunning(objects, 'ingress');
      expect(workload.metadata.name).toBe('herald-ingress');
      // Replicas belong to the autoscaler; a CPU utilisation needs a CPU request.
      expect(workload.spec.replicas).toBeUndefined();
      expect(container.resources?.requests?.cpu).toBeDefined();
      expect(configOf('ingress', environmentOf(container, objects).env)['INGRESS_PROCESSES']).toBe(1);
    });

    it('scales the worker with KEDA on the wait lists of dispatch and every delivery queue, under the configured prefix', () => {
      const scaled = objects.filter((o) => o.kind === 'ScaledObject');
      expect(scaled.map((o) => o.apiVersion)).toEqual(['keda.sh/v1alpha1']);
      const spec = scaled[0]!.spec;
      const { workload, container } = containerRunning(objects, 'worker');
      expect(spec.scaleTargetRef).toMatchObject({ name: workload.metadata.name });
      expect(spec.scaleTargetRef.kind ?? 'Deployment').toBe('Deployment');
      expect(workload.spec.replicas).toBeUndefined();
      // A worker moves due delayed jobs into the wait lists, and runs the reconciler: never none.
      expect(spec.minReplicaCount).toBeGreaterThanOrEqual(1);

      const config = configOf('worker', environmentOf(container, objects).env);
      expect(config['QUEUE_BACKEND']).toBe('redis');
      const triggers = spec.triggers as { type: string; metadata: { listName: string; listLength: string }; authenticationRef: { name: string } }[];
      expect(triggers.every((t) => t.type === 'redis' && /^[1-9]\d*$/.test(t.metadata.listLength))).toBe(true);
      // maintenance holds one reconcile job at a time: no backlog more workers would clear.
      const scaledQueues = QUEUE_NAMES.filter((queue) => queue !== 'maintenance');
      expect(triggers.map((t) => t.metadata.listName).sort()).toEqual(scaledQueues.map((queue) => `${String(config['QUEUE_PREFIX'])}:${queue}:wait`).sort());
      expect(config['WORKER_QUEUES']).toEqual(expect.arrayContaining([...scaledQueues, 'maintenance']));
      const auths = objects.filter((o) => o.kind === 'TriggerAuthentication').map((o) => o.metadata.name);
      expect(triggers.filter((t) => !auths.includes(t.authenticationRef.name))).toEqual([]);
    });
  });

  describe('on the built processes and the real BullMQ', () => {
    const database = useTestDatabase();
    const redis = useTestRedis();
    const objects = kubectl ? kustomize(BASE) : [];

    it("keeps a queue's waiting jobs, and only those, in the list <prefix>:<queue>:wait that KEDA reads", async () => {
      const { redis: connection, prefix } = redis.current;
      const queue = new Queue('deliver-sms', { connection, prefix });
      try {
        await queue.add('delivery.chunk', {});
        await queue.add('delivery.chunk', {}, { delay: 60_000 });
        const key = `${prefix}:deliver-sms:wait`;
        expect(await connection.type(key)).toBe('list');
        expect(await connection.llen(key)).toBe(1);
      } finally {
        await queue.close();
      }
    });

    it.each(['ingress', 'admin', 'worker'] as const)(
      '%s, with the env of its Deployment, answers 200 on the path of each of its probes',
      async (app) => {
        const { container } = containerRunning(objects, app);
        const { env } = environmentOf(container, objects);
        const paths = [...new Set([container.startupProbe, container.livenessProbe, container.readinessProbe].map((probe) => probe?.httpGet?.path ?? ''))];
        const port = await freePort();
        // The manifest's settings; this file's database, Redis and prefix; a free loopback port.
        const process = startProcess(app, {
          ...env,
          DATABASE_URL: database.current.url,
          REDIS_URL: TEST_REDIS_URL,
          QUEUE_PREFIX: testQueuePrefix(),
          HOST: '127.0.0.1',
          [PORT_VARIABLE[app]]: String(port),
        });
        try {
          // Ready by the process's own account first (a startup wait, generous for a busy machine),
          // then the manifest's paths: each must answer 200 at once.
          await waitForHttp(process, port, { path: '/readyz', timeoutMs: 45_000 });
          const statuses = await Promise.all(paths.map(async (path) => [path, (await fetch(`http://127.0.0.1:${port}${path}`)).status]));
          expect(statuses).toEqual(paths.map((path) => [path, 200]));
        } finally {
          expect((await process.stop('SIGTERM')).code).toBe(0);
        }
      },
      60_000,
    );

    it("runs the migration Job's command to success", async () => {
      const { container } = containerRunning(objects, 'migrate');
      const { env } = environmentOf(container, objects);
      const [, , ...args] = [...(container.command ?? []), ...(container.args ?? [])];
      const migrate = startProcess('migrate', { ...env, DATABASE_URL: database.current.url }, args);
      const { code } = await migrate.exited;
      expect({ code, output: code === 0 ? '' : migrate.output() }).toEqual({ code: 0, output: '' });
    }, 60_000);
  });
});
