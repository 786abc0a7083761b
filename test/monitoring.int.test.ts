import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
// @ts-expect-error: a plain .mjs script without types
import { dashboards, prometheusRule } from '../examples/monitoring/build.mjs';

// The alert rules and dashboards in examples/monitoring, checked the way Prometheus and Grafana
// will read them: promtool checks and unit-tests the rules, and every metric a rule or a dashboard
// queries must exist in a live scrape of the real sidecar (no dead query after a rename).
const root = new URL('..', import.meta.url).pathname;
const monitoring = join(root, 'examples/monitoring');
const sidecars = ['ambassador', 'log-shipper', 'metrics-adapter'] as const;
type SidecarName = (typeof sidecars)[number];
const prefixes: Record<SidecarName, string> = {
  ambassador: 'ambassador_',
  'log-shipper': 'log_shipper_',
  'metrics-adapter': 'metrics_adapter_',
};
const work = mkdtempSync(join(tmpdir(), 'sidecar-kit-monitoring-'));

function promtool(args: string[], input?: string) {
  const result = spawnSync('promtool', args, { encoding: 'utf8', input });
  if (result.error) throw new Error(`promtool could not be started: ${result.error.message}`);
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
function rulesOf(sidecar: SidecarName): Rule[] {
  const file = parse(readFileSync(join(monitoring, 'rules', `${sidecar}.rules.yaml`), 'utf8')) as {
    groups: Array<{ rules: Rule[] }>;
  };
  return file.groups.flatMap((group) => group.rules);
}
interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  templating: { list: Array<{ name: string; query?: string }> };
}
function dashboardOf(sidecar: SidecarName): Dashboard {
  return JSON.parse(readFileSync(join(monitoring, 'dashboards', `${sidecar}.json`), 'utf8')) as Dashboard;
}
function queriesOf(sidecar: SidecarName): string[] {
  const board = dashboardOf(sidecar);
  return [
    ...rulesOf(sidecar).map((rule) => rule.expr),
    ...board.panels.flatMap((panel) => panel.targets.map((target) => target.expr)),
    ...board.templating.list.flatMap((variable) =>
      variable.query?.startsWith('label_values(') ? [variable.query.slice(13, -1).split(',')[0] ?? ''] : [],
    ),
  ];
}

const children: ChildProcess[] = [];
const scrapes = new Map<SidecarName, string>();

/** Starts the real sidecar from its bin and returns its admin base URL once it logged it. */
function startSidecar(sidecar: SidecarName, yaml: string): Promise<string> {
  const file = join(work, `${sidecar}.yaml`);
  writeFileSync(file, `admin: { listen: 127.0.0.1:0 }\n${yaml}`);
  const child = spawn(
    process.execPath,
    [join(root, 'packages', sidecar, 'bin', `${sidecar}.js`), '--config', file],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"admin":"(127\.0\.0\.1:\d+)"/.exec(out);
      if (match) resolve(`http://${match[1]}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${sidecar} exited ${code}: ${out.slice(-2000)}`)));
  });
}

beforeAll(async () => {
  const logs = join(work, 'logs');
  const state = join(work, 'state');
  spawnSync('mkdir', ['-p', logs, state]);
  writeFileSync(join(logs, 'app.log'), 'hello\n');
  const admins: Record<SidecarName, string> = {
    ambassador: await startSidecar(
      'ambassador',
      'listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]\nclusters: [{ name: web, endpoints: ["127.0.0.1:1"] }]\n',
    ),
    'log-shipper': await startSidecar(
      'log-shipper',
      `inputs: [{ paths: ["${logs}/*.log"] }]\nstate: { dir: ${state} }\noutput: { type: stdout }\n`,
    ),
    'metrics-adapter': await startSidecar(
      'metrics-adapter',
      "listen: 127.0.0.1:0\nendpoints:\n  - path: /health\n    source: { url: http://127.0.0.1:1/metrics, format: prometheus }\n    checks: [{ name: up, expr: 'up == 1' }]\n",
    ),
  };
  // Give the log-shipper a moment to read its file, so its per-file series are there too.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (const sidecar of sidecars) {
    scrapes.set(sidecar, await (await fetch(`${admins[sidecar]}/metrics`)).text());
  }
}, 60_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

describe('examples/monitoring: rules, their unit tests and dashboards', () => {
  it.each(sidecars)('%s: promtool check rules accepts the rules file', (sidecar) => {
    const result = promtool(['check', 'rules', join(monitoring, 'rules', `${sidecar}.rules.yaml`)]);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it.each(sidecars)(
    '%s: promtool test rules: every alert fires on its series and not on the near miss',
    (sidecar) => {
      const tests = join(monitoring, 'tests', `${sidecar}.test.yaml`);
      const result = promtool(['test', 'rules', tests]);
      expect(result.output).toContain('SUCCESS');
      expect(result.code).toBe(0);
      const alerts = rulesOf(sidecar).flatMap((rule) => (rule.alert ? [rule.alert] : []));
      const tested = readFileSync(tests, 'utf8');
      for (const alert of alerts) {
        // Each alert has a case that fires (exp_alerts listed) and one that must stay silent (exp_alerts: []).
        expect(tested).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
        expect(tested).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts: \\[\\]`));
      }
    },
  );

  it('prometheusrule.yaml and the dashboards are what build.mjs makes of their sources', () => {
    expect(readFileSync(join(monitoring, 'prometheusrule.yaml'), 'utf8')).toBe(prometheusRule());
    for (const sidecar of sidecars) {
      const built = (dashboards as Record<string, () => unknown>)[sidecar]?.();
      expect(dashboardOf(sidecar)).toEqual(built);
    }
    expect(readdirSync(join(monitoring, 'dashboards')).sort()).toEqual(sidecars.map((s) => `${s}.json`));
  });

  it.each(sidecars)('%s: every dashboard query is valid PromQL (promtool parses it)', (sidecar) => {
    const file = join(work, `${sidecar}-dashboard-queries.rules.yaml`);
    const rules = dashboardOf(sidecar).panels.flatMap((panel, p) =>
      panel.targets.map((target, t) => ({ record: `dashboard:panel${p}_${t}`, expr: target.expr })),
    );
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
    const result = promtool(['check', 'rules', file]);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it.each(sidecars)('%s: promtool check metrics finds no lint problem in a live scrape', (sidecar) => {
    const result = promtool(['check', 'metrics'], scrapes.get(sidecar));
    expect(result.output.trim()).toBe('');
    expect(result.code).toBe(0);
  });

  it.each(sidecars)('%s: every metric a rule or dashboard queries exists in a live scrape', (sidecar) => {
    const scrape = scrapes.get(sidecar) ?? '';
    const families = new Map<string, string>();
    for (const match of scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm))
      families.set(match[1] ?? '', match[2] ?? '');
    const exists = (name: string) => {
      if (families.has(name)) return true;
      const base = name.replace(/_(bucket|count|sum)$/, '');
      return base !== name && ['histogram', 'summary'].includes(families.get(base) ?? '');
    };
    const prefix = prefixes[sidecar];
    const referenced = new Set<string>();
    for (const query of queriesOf(sidecar)) {
      for (const match of query.matchAll(new RegExp(`\\b${prefix}[a-zA-Z0-9_]+\\b`, 'g')))
        referenced.add(match[0]);
    }
    expect(referenced.size).toBeGreaterThan(3);
    expect([...referenced].filter((name) => !exists(name))).toEqual([]);
  });
});
