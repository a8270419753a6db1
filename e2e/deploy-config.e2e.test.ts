import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * deploy/ (Prometheus, its alerts, Grafana) checked against the code, with no server running:
 * promtool checks the config, the rules and the alerts' unit tests; every PromQL expression of
 * the dashboard and the alerts must parse (promtool, as recording rules) and name only series
 * and labels Herald serves, read from the sources that define them, so renaming a series or a
 * label in code breaks this test rather than a panel; the compose file must resolve with and
 * without the observability profile. promtool is Debian's prometheus package (`.ci/run`).
 */

const ROOT = join(__dirname, '..');
const PROMETHEUS_CONFIG = 'deploy/prometheus/prometheus.yml';
const ALERTS = 'deploy/prometheus/alerts.yml';
const ALERT_TESTS = 'deploy/prometheus/alerts.test.yml';
const DASHBOARD = 'deploy/grafana/dashboards/herald.json';
const DATASOURCES = 'deploy/grafana/provisioning/datasources/prometheus.yml';
const DASHBOARD_PROVIDERS = 'deploy/grafana/provisioning/dashboards/herald.yml';

/**
 * Where Herald's own series are defined (`new Counter|Gauge|Histogram({ name, labelNames })`):
 * every source file (tests aside) of apps/ and packages/ that makes one, found rather than
 * listed, so a series added in a new file needs a panel too.
 */
const METRIC_SOURCES = ['apps', 'packages'].flatMap((top) =>
  readdirSync(join(ROOT, top), { recursive: true, encoding: 'utf8' })
    .filter((path) => /(^|\/)src\/.*\.ts$/.test(path) && !path.endsWith('.test.ts') && !path.includes('node_modules'))
    .map((path) => `${top}/${path}`)
    .filter((path) => /new (Counter|Gauge|Histogram)\(\{/.test(readFileSync(join(ROOT, path), 'utf8'))),
);
/** Where the registry gets its `service` label and the default series their prefix. */
const REGISTRY_SOURCE = 'packages/service/src/metrics.ts';
/** Labels every series has once scraped: the registry's `service`, Prometheus's `job` and `instance`. */
const TARGET_LABELS = ['service', 'job', 'instance'];
/** Prometheus's own series an expression may use beside Herald's. */
const PROMETHEUS_SERIES: Record<string, string[]> = { up: [] };
/** Grafana's variables, with a value of their kind for promtool; any other `$…` is a finding. */
const GRAFANA_VARIABLES: Record<string, string> = { $__rate_interval: '1m', $__interval: '15s', $__range: '1h' };

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Run {
  status: number | null;
  output: string;
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const result = spawnSync(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** promtool, or a clear error: `.ci/run` installs it (Debian package prometheus). */
function promtool(...args: string[]): Run {
  const result = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (result.error) throw new Error(`promtool is needed (Debian package prometheus): ${result.error.message}`);
  return run('promtool', args);
}

/** Passes as '' so that a failure prints the tool's own output. */
const failureOf = (result: Run) => (result.status === 0 ? '' : result.output);

// ---------------------------------------------------------------------------------------------
// The series Herald serves, each with the labels it may be selected or grouped by.

type Catalog = Map<string, Set<string>>;

/** Herald's own series, from their definitions: name → type and label names. */
function heraldSeries(): Map<string, { type: string; labels: string[] }> {
  const series = new Map<string, { type: string; labels: string[] }>();
  for (const path of METRIC_SOURCES) {
    const source = read(path);
    const before = series.size;
    for (const [, type, body] of source.matchAll(/new (Counter|Gauge|Histogram)\(\{([\s\S]*?)registers:/g)) {
      const name = /\bname: '([a-zA-Z_:][\w:]*)'/.exec(body!)?.[1];
      if (!name) throw new Error(`${path}: a ${type} without a literal name`);
      const labelList = /\blabelNames: \[([^\]]*)\]/.exec(body!)?.[1] ?? '';
      series.set(name, { type: type!.toLowerCase(), labels: [...labelList.matchAll(/'([^']+)'/g)].map((m) => m[1]!) });
    }
    if (series.size === before) throw new Error(`${path} makes a series this test cannot read: its definition changed shape`);
  }
  return series;
}

/** prom-client's default series as Herald registers them (its prefix), from prom-client itself. */
function defaultSeries(): Map<string, { type: string; labels: string[] }> {
  const prefix = /prefix: '([^']+)'/.exec(read(REGISTRY_SOURCE))?.[1];
  if (!prefix) throw new Error(`${REGISTRY_SOURCE}: no default-metrics prefix found`);
  // A child process: the default collectors start timers and observers jest should not inherit.
  const script = `
    const client = require('prom-client');
    const registry = new client.Registry();
    client.collectDefaultMetrics({ register: registry, prefix: ${JSON.stringify(prefix)} });
    process.stdout.write(JSON.stringify(registry.getMetricsAsArray().map((m) => [m.name, m.type, m.labelNames])));
    process.exit(0);`;
  const listed = run(process.execPath, ['-e', script], { cwd: join(ROOT, 'packages/service') });
  if (listed.status !== 0) throw new Error(`listing prom-client's default series: ${listed.output}`);
  const entries = JSON.parse(listed.output) as [string, string, string[]][];
  return new Map<string, { type: string; labels: string[] }>(entries.map(([name, type, labels]) => [name, { type, labels }]));
}

/** Every name a query may select (a histogram as its _bucket, _count and _sum) → its labels. */
function catalog(...sources: Map<string, { type: string; labels: string[] }>[]): Catalog {
  const names: Catalog = new Map(Object.entries(PROMETHEUS_SERIES).map(([name, labels]) => [name, new Set([...labels, 'job', 'instance'])]));
  for (const source of sources) {
    for (const [name, { type, labels }] of source) {
      const all = [...labels, ...TARGET_LABELS];
      if (type === 'histogram') {
        names.set(`${name}_bucket`, new Set([...all, 'le']));
        names.set(`${name}_count`, new Set(all));
        names.set(`${name}_sum`, new Set(all));
      } else {
        names.set(name, new Set(all));
      }
    }
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// What a PromQL expression refers to. Not a parser (promtool is the parser): enough of the
// lexical structure to find series names, matchers and grouping labels in expressions that
// promtool accepts.

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'atan2', 'inf', 'nan']);

interface References {
  series: { name: string; labels: string[] }[];
  groupingLabels: string[];
  /** The labels of `by (…)` clauses: with no `without`, the only labels an aggregated result keeps. */
  byLabels: string[] | null;
  variables: string[];
}

function references(expr: string): References {
  const series: References['series'] = [];
  const groupingLabels: string[] = [];
  let byLabels: string[] | null = null;
  let without = false;
  const variables = [...expr.matchAll(/\$\w+/g)].map((m) => m[0]).filter((v) => !(v in GRAFANA_VARIABLES));
  let rest = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings: a label value may say anything
    .replace(/\[[^\]]*\]/g, ''); // ranges and subqueries
  rest = rest.replace(/([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g, (_match, name: string | undefined, matchers: string) => {
    series.push({ name: name ?? '', labels: [...matchers.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!) });
    return ' ';
  });
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/gi, (_match, keyword: string, list: string) => {
    const labels = list
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean);
    groupingLabels.push(...labels);
    if (keyword.toLowerCase() === 'by') byLabels = [...(byLabels ?? []), ...labels];
    if (keyword.toLowerCase() === 'without') without = true;
    return ' ';
  });
  // What is left: functions (followed by a parenthesis), keywords, numbers, and bare series names.
  for (const [name] of rest.matchAll(/(?<![\w.:$])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()/g)) {
    if (!KEYWORDS.has(name.toLowerCase())) series.push({ name, labels: [] });
  }
  return { series, groupingLabels, byLabels: without ? null : byLabels, variables };
}

/** What is wrong with an expression against the catalog, as readable findings (none: fine). */
function findings(where: string, expr: string, known: Catalog, legendFormat?: string): string[] {
  const found: string[] = [];
  const { series, groupingLabels, byLabels, variables } = references(expr);
  for (const variable of variables) found.push(`${where}: unknown Grafana variable ${variable}`);
  const labelsInScope = new Set<string>();
  for (const { name, labels } of series) {
    const labelsOfSeries = known.get(name);
    if (name === '') found.push(`${where}: a selector without a series name`);
    else if (!labelsOfSeries) found.push(`${where}: unknown series ${name}`);
    for (const label of labelsOfSeries ?? []) labelsInScope.add(label);
    for (const label of labels) if (labelsOfSeries && !labelsOfSeries.has(label)) found.push(`${where}: ${name} has no label ${label}`);
  }
  for (const label of groupingLabels) if (!labelsInScope.has(label)) found.push(`${where}: no series here has a label ${label} to group by`);
  const legendLabels = byLabels ? new Set(byLabels) : labelsInScope;
  for (const [, label] of (legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
    if (!legendLabels.has(label!)) found.push(`${where}: the legend names a label ${label} the result does not have`);
  }
  return found;
}

/** The expressions promtool cannot parse, as its findings (checked as recording rules). */
function unparsable(exprs: { where: string; expr: string }[]): string {
  const directory = mkdtempSync(join(tmpdir(), 'herald-promql-'));
  try {
    const file = join(directory, 'expressions.yml');
    // JSON strings are YAML double-quoted scalars: no escaping of our own.
    const groups = exprs.map(({ where, expr }, i) => {
      const concrete = expr.replace(/\$\w+/g, (variable) => GRAFANA_VARIABLES[variable] ?? variable);
      return `  - name: ${JSON.stringify(where)}\n    rules:\n      - record: expression:${i + 1}\n        expr: ${JSON.stringify(concrete)}\n`;
    });
    writeFileSync(file, `groups:\n${groups.join('')}`);
    return failureOf(promtool('check', 'rules', file));
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The files' expressions.

interface Target {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  gridPos?: { h?: number; w?: number; x?: number; y?: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
}

/** Every panel, those inside collapsed rows too. */
function allPanels(panels: Panel[] = []): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels)]);
}

interface Expression {
  where: string;
  expr: string;
  legendFormat?: string;
}

function dashboardExpressions(dashboard: Dashboard): Expression[] {
  return allPanels(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      where: `${DASHBOARD} panel ${panel.id} "${panel.title}" target ${target.refId}`,
      expr: target.expr ?? '',
      ...(target.legendFormat === undefined ? {} : { legendFormat: target.legendFormat }),
    })),
  );
}

/**
 * The `expr:` values of a rules file, inline or block scalars (`|`, `>`), and how many rules
 * it has: no YAML library in the workspace, and the count proves none was missed.
 */
function ruleExpressions(path: string): { exprs: Expression[]; rules: number } {
  const lines = read(path).split('\n');
  const exprs: Expression[] = [];
  let rule = '';
  lines.forEach((line, i) => {
    const named = /^\s*- (?:alert|record):\s*(\S+)/.exec(line);
    if (named) rule = named[1]!;
    const key = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (!key) return;
    const [, indent, value] = key;
    let expr: string;
    if (/^[|>][-+]?$/.test(value!)) {
      const block: string[] = [];
      for (const next of lines.slice(i + 1)) {
        if (next.trim() !== '' && next.search(/\S/) <= indent!.length) break;
        block.push(next.trim());
      }
      expr = block.join('\n').trim();
    } else if (value!.startsWith('"')) {
      expr = JSON.parse(value!) as string;
    } else if (value!.startsWith("'")) {
      expr = value!.slice(1, -1).replace(/''/g, "'");
    } else {
      expr = value!;
    }
    exprs.push({ where: `${path} rule ${rule}`, expr });
  });
  return { exprs, rules: lines.filter((line) => /^\s*- (?:alert|record):/.test(line)).length };
}

// ---------------------------------------------------------------------------------------------

describe('deploy/: Prometheus, alerts and the Grafana dashboard', () => {
  let known: Catalog;
  let ownSeries: string[];
  beforeAll(() => {
    const own = heraldSeries();
    ownSeries = [...own.keys()];
    known = catalog(own, defaultSeries());
  });

  it('the checks themselves catch a misspelled series, a wrong label and an unparsable expression', () => {
    expect(findings('t', 'sum(rate(herald_delivery_total[5m]))', known)).toEqual(['t: unknown series herald_delivery_total']);
    expect(findings('t', 'heral_runs', known)).toEqual(['t: unknown series heral_runs']);
    expect(findings('t', 'max(herald_runs_in_progress{stauts="dispatching"})', known)).toEqual(['t: herald_runs_in_progress has no label stauts']);
    expect(findings('t', 'sum by (chanel) (rate(herald_deliveries_total[$__rate_interval]))', known)).toEqual([
      't: no series here has a label chanel to group by',
    ]);
    expect(findings('t', 'sum(rate(herald_hook_calls_total[$interval]))', known)).toEqual(['t: unknown Grafana variable $interval']);
    expect(findings('t', 'max by (queue) (herald_queue_jobs)', known, '{{queue}} {{state}}')).toEqual([
      't: the legend names a label state the result does not have',
    ]);
    // What must pass does: histograms by suffix, le on buckets, default series, functions, numbers.
    expect(
      findings('t', 'histogram_quantile(0.95, sum by (le, channel) (rate(herald_provider_request_duration_seconds_bucket{result!="sent"}[5m]))) > 1e3', known),
    ).toEqual([]);
    expect(findings('t', 'rate(herald_process_cpu_seconds_total{service="worker"}[5m]) * on (instance) group_left up', known)).toEqual([]);
    expect(unparsable([{ where: 'bad grouping', expr: 'sum by (status (rate(herald_runs_in_progress[5m]))' }])).toMatch(/group "bad grouping".*parse error/);
  });

  it('prometheus.yml passes promtool check config (its rule files included)', () => {
    expect(failureOf(promtool('check', 'config', PROMETHEUS_CONFIG))).toBe('');
  });

  it('the alerts pass promtool check rules and their unit tests, and name only series Herald serves', () => {
    expect(failureOf(promtool('check', 'rules', ALERTS))).toBe('');
    expect(failureOf(promtool('test', 'rules', ALERT_TESTS))).toBe('');
    const { exprs, rules } = ruleExpressions(ALERTS);
    expect(exprs).toHaveLength(rules);
    expect(exprs.flatMap(({ where, expr }) => findings(where, expr, known))).toEqual([]);
  });

  describe('the dashboard', () => {
    const dashboard = JSON.parse(read(DASHBOARD)) as Dashboard;
    const datasourceUid = /^\s*uid:\s*(\S+)/m.exec(read(DATASOURCES))?.[1];

    it('is a Grafana dashboard over the provisioned Prometheus, every panel placed on the grid', () => {
      expect(dashboard).toMatchObject({ uid: 'herald', title: 'Herald', schemaVersion: expect.any(Number) });
      expect(read(DATASOURCES)).toMatch(/^\s*url:\s*http:\/\/prometheus:9090\s*$/m);
      expect(datasourceUid).toBeDefined();
      const panels = allPanels(dashboard.panels);
      const problems: string[] = [];
      const ids = new Set<number>();
      for (const panel of panels) {
        const name = `panel ${panel.id} "${panel.title}"`;
        if (typeof panel.id !== 'number' || ids.has(panel.id)) problems.push(`${name}: id missing or repeated`);
        ids.add(panel.id ?? -1);
        if (!['row', 'timeseries', 'stat'].includes(panel.type ?? '')) problems.push(`${name}: type ${panel.type}`);
        const { h, w, x, y } = panel.gridPos ?? {};
        if (![h, w, x, y].every((n) => typeof n === 'number') || x! + w! > 24) problems.push(`${name}: gridPos ${JSON.stringify(panel.gridPos)}`);
        if (panel.type === 'row') continue;
        if (panel.datasource?.uid !== datasourceUid) problems.push(`${name}: datasource ${JSON.stringify(panel.datasource)}`);
        if (!panel.targets?.length) problems.push(`${name}: no targets`);
        for (const target of panel.targets ?? []) {
          if (target.datasource && target.datasource.uid !== datasourceUid)
            problems.push(`${name} ${target.refId}: datasource ${JSON.stringify(target.datasource)}`);
          if (!target.expr) problems.push(`${name} ${target.refId}: no expr`);
        }
      }
      expect(problems).toEqual([]);
    });

    it('is where Grafana looks for it: the provider reads the folder compose mounts it in', () => {
      const mountedAt = /\.\/deploy\/grafana\/dashboards:([^:\s]+)/.exec(read('docker-compose.yml'))?.[1];
      expect(mountedAt).toBeDefined();
      expect(read(DASHBOARD_PROVIDERS)).toMatch(new RegExp(`^\\s*path:\\s*${mountedAt}\\s*$`, 'm'));
    });

    it('has expressions that parse and name only series and labels Herald serves', () => {
      const exprs = dashboardExpressions(dashboard);
      expect(exprs.length).toBeGreaterThan(0);
      expect(unparsable(exprs)).toBe('');
      expect(exprs.flatMap(({ where, expr, legendFormat }) => findings(where, expr, known, legendFormat))).toEqual([]);
    });

    it('shows every series Herald defines', () => {
      const used = new Set(dashboardExpressions(dashboard).flatMap(({ expr }) => references(expr).series.map((s) => s.name)));
      const missing = ownSeries.filter((name) => ![name, `${name}_bucket`, `${name}_count`, `${name}_sum`].some((n) => used.has(n)));
      expect(missing).toEqual([]);
    });
  });
});

// ---------------------------------------------------------------------------------------------

/** docker-compose (v1) or `docker compose` (v2), whichever is installed; neither: null. */
function composeCommand(): string[] | null {
  for (const command of [['docker-compose'], ['docker', 'compose']]) {
    const probe = spawnSync(command[0]!, [...command.slice(1), 'version'], { encoding: 'utf8' });
    if (!probe.error && probe.status === 0) return command;
  }
  return null;
}

const compose = composeCommand();
const describeCompose = compose ? describe : describe.skip;

describeCompose(`docker-compose.yml${compose ? '' : ' (skipped: neither docker-compose nor docker compose is installed)'}`, () => {
  // The variables compose requires, and none of the caller's COMPOSE_* that would change what it reads.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('COMPOSE_')));
  Object.assign(env, { ADMIN_API_KEY: '0123456789abcdef0123', HERALD_SECRET_KEY: '0123456789abcdef'.repeat(4), PUBLIC_URL: 'http://localhost:3000' });
  const composeRun = (...args: string[]) => run(compose![0]!, [...compose!.slice(1), ...args], { env });

  it('resolves without the profile and with it', () => {
    expect(failureOf(composeRun('config', '-q'))).toBe('');
    expect(failureOf(composeRun('--profile', 'observability', 'config', '-q'))).toBe('');
  });

  it('puts Prometheus and Grafana, and only them, in the observability profile', () => {
    const resolved = composeRun('--profile', 'observability', 'config');
    expect(failureOf(resolved)).toBe('');
    const services = resolved.output.split(/^services:\n/m)[1]?.split(/^\S/m)[0] ?? '';
    const profiles = Object.fromEntries(
      services
        .split(/^(?= {2}[\w-]+:$)/m)
        .map((block) => [/^ {2}([\w-]+):$/m.exec(block)?.[1] ?? '', /\n\s+profiles:\s*\n\s+- (\S+)/.exec(block)?.[1] ?? null] as const)
        .filter(([name]) => name !== ''),
    );
    expect(profiles).toEqual({
      postgres: null,
      redis: null,
      migrate: null,
      ingress: null,
      admin: null,
      worker: null,
      prometheus: 'observability',
      grafana: 'observability',
    });
  });
});
