// The container image, the compose quick start and the Helm chart, checked without a container engine (none runs here):
// the image runs the same `gatehouse serve` the tests run; every file they name exists; the compose file, the chart's
// rendered templates and the configs inside them parse; probes, replicas, drain and secrets are wired as documented.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { parseConfig } from '../src/config/load.ts';
import { parseDuration } from '../src/config/duration.ts';
import { SERVE } from './support/serve.ts';

const read = (file: string) => readFileSync(file, 'utf8');
/** Dockerfile instructions, continuation lines joined. */
const instructions = read('Dockerfile').replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((l) => {
  const [, op, rest] = /^(\w+)\s+(.*)$/.exec(l.trim())!;
  return { op: op.toUpperCase(), rest };
});
/** Every config the deployment files carry is loaded as the gateway would load it, with its ${VARIABLES} set. */
const env = new Proxy({}, { get: (_t, name) => (typeof name === 'string' ? `${name.toLowerCase()}-value-0123456789` : undefined) }) as NodeJS.ProcessEnv;

test('the image: multi-stage, production dependencies only, non-root, a health check on /healthz, and `gatehouse serve` as its entrypoint', () => {
  const stages = instructions.filter((i) => i.op === 'FROM');
  assert.ok(stages.length >= 2, 'multi-stage');
  assert.ok(instructions.some((i) => i.op === 'RUN' && /\bnpm ci --omit=dev\b/.test(i.rest)));
  const last = instructions.slice(instructions.lastIndexOf(stages.at(-1)!));
  const user = last.find((i) => i.op === 'USER');
  assert.ok(user && !/^(root|0)(:|$)/.test(user.rest), 'the final stage runs as an unprivileged user');
  assert.match(last.find((i) => i.op === 'HEALTHCHECK')?.rest ?? '', /\/healthz/);
  assert.deepEqual(JSON.parse(last.find((i) => i.op === 'ENTRYPOINT')!.rest), ['node', ...SERVE], 'the entrypoint is the command the tests spawn');
  assert.deepEqual(JSON.parse(last.find((i) => i.op === 'CMD')!.rest), ['--config', '/etc/gatehouse/gatehouse.yaml']);
  for (const copy of instructions.filter((i) => i.op === 'COPY' && !i.rest.startsWith('--from'))) {
    for (const source of copy.rest.split(/\s+/).slice(0, -1)) assert.ok(existsSync(source), `COPY ${source}: no such file`);
  }
});

test('compose.yaml: two gateway nodes from the image, PostgreSQL, the demo upstreams; every file it names exists; the gateways\' config loads', () => {
  const compose = parse(read('compose.yaml'), { merge: true }) as { services: Record<string, Record<string, any>> };
  const { services } = compose;
  assert.deepEqual(Object.keys(services).sort(), ['gateway-1', 'gateway-2', 'postgres', 'upstreams']);
  for (const name of ['gateway-1', 'gateway-2']) {
    const g = services[name];
    assert.equal(g.build, '.', `${name} is built from the Dockerfile`);
    assert.equal(g.entrypoint, undefined, `${name} keeps the image's entrypoint (gatehouse serve)`);
    assert.deepEqual(g.command, ['--config', '/etc/gatehouse/gatehouse.yaml']);
    assert.equal(g.depends_on.postgres.condition, 'service_healthy');
  }
  assert.notDeepEqual(services['gateway-1'].ports, services['gateway-2'].ports);
  assert.ok(existsSync(join(services.upstreams.build, 'Dockerfile')));
  assert.ok(existsSync(services.upstreams.entrypoint.at(-1)), 'the upstreams script exists');
  for (const service of Object.values(services)) {
    for (const volume of service.volumes ?? []) assert.ok(existsSync(volume.split(':')[0]), `${volume}: no such file`);
  }
  const mounted = services['gateway-1'].volumes.find((v: string) => v.includes(':/etc/gatehouse/gatehouse.yaml'));
  const config = parseConfig(read(mounted.split(':')[0]), 'compose', env);
  assert.match(config.store, /^postgres:\/\/gatehouse:\S+@postgres:5432\/gatehouse$/, 'the nodes share the PostgreSQL store');
  assert.equal(config.admin.listen, '0.0.0.0:7070', 'the image\'s health check reaches the admin listener');
  assert.ok(Object.values(config.connections).every((c) => c.listen.startsWith('0.0.0.0:')));
  assert.ok(parseDuration(config.drain_timeout) < parseDuration(services['gateway-1'].stop_grace_period), 'compose waits longer than the drain');
});

/** Renders the Go-template subset the chart uses: `.Values.*`, `.Release.Name`, `.Chart.*`, `toYaml X | nindent N`. */
function render(template: string, scope: Record<string, unknown>): string {
  const lookup = (path: string) => path.split('.').filter(Boolean).reduce<any>((v, k) => v?.[k], scope);
  return template.replace(/(\n?[ \t]*)\{\{(-?)\s*(.*?)\s*-?\}\}/g, (_m, lead: string, trim: string, expr: string) => {
    const yaml = /^toYaml (\S+) \| nindent (\d+)$/.exec(expr);
    if (yaml) {
      const pad = ' '.repeat(Number(yaml[2]));
      return (trim ? '' : lead) + '\n' + stringify(lookup(yaml[1])).trimEnd().split('\n').map((l) => pad + l).join('\n');
    }
    assert.match(expr, /^\.[\w.]+$/, `unsupported template expression {{ ${expr} }}`);
    const value = lookup(expr);
    assert.notEqual(value, undefined, `{{ ${expr} }} has no value`);
    return lead + String(value);
  });
}

test('the Helm chart: two replicas, /healthz and /readyz probes, a PodDisruptionBudget over the same pods, secrets from the environment, a config that loads', () => {
  const dir = 'deploy/helm/gatehouse';
  const chart = parse(read(join(dir, 'Chart.yaml'))) as { apiVersion: string; name: string; appVersion: string };
  assert.equal(chart.apiVersion, 'v2');
  const values = parse(read(join(dir, 'values.yaml'))) as Record<string, any>;
  const scope = { Values: values, Release: { Name: 'gh' }, Chart: { Name: chart.name, AppVersion: chart.appVersion } };
  const docs = readdirSync(join(dir, 'templates')).flatMap((file) => parseAllDocuments(render(read(join(dir, 'templates', file)), scope)).map((d) => {
    assert.deepEqual(d.errors, [], file);
    return d.toJS() as Record<string, any>;
  }));
  const of = (kind: string) => docs.filter((d) => d.kind === kind);
  const [deployment] = of('Deployment');
  assert.equal(deployment.spec.replicas, 2);
  const pod = deployment.spec.template.spec;
  const [container] = pod.containers;
  assert.deepEqual(container.args, ['--config', '/etc/gatehouse/gatehouse.yaml'], 'the image\'s entrypoint runs gatehouse serve with them');
  assert.deepEqual([container.livenessProbe.httpGet.path, container.readinessProbe.httpGet.path], ['/healthz', '/readyz']);
  const admin = container.ports.find((p: { name: string }) => p.name === container.readinessProbe.httpGet.port);
  assert.equal(admin.containerPort, 7070);
  assert.deepEqual(container.envFrom, [{ secretRef: { name: values.secretName } }], 'secrets reach the config as environment variables');
  assert.ok(!JSON.stringify(docs).match(/key: "?[A-Za-z0-9]{16,}/), 'no secret in the chart');

  const [pdb] = of('PodDisruptionBudget');
  assert.equal(pdb.spec.minAvailable, 1);
  assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
  assert.deepEqual(of('Service')[0].spec.selector, deployment.spec.selector.matchLabels);
  assert.ok(Object.entries(deployment.spec.selector.matchLabels).every(([k, v]) => deployment.spec.template.metadata.labels[k] === v));

  const [configMap] = of('ConfigMap');
  assert.equal(pod.volumes[0].configMap.name, configMap.metadata.name);
  const config = parseConfig(configMap.data['gatehouse.yaml'], 'chart', env);
  assert.equal(config.admin.listen, `0.0.0.0:${values.ports.admin}`);
  assert.match(config.store, /^postgres:\/\//);
  assert.ok(pod.terminationGracePeriodSeconds > parseDuration(config.drain_timeout) + 5, 'Kubernetes waits for the drain and the preStop pause');
});

test('the README says what was and was not run here', () => {
  const readme = read('README.md');
  assert.match(readme, /no container engine/i);
  for (const file of ['Dockerfile', 'compose.yaml', 'deploy/helm/gatehouse']) assert.ok(readme.includes(file) && existsSync(file), file);
});
