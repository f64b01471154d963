// The egress proxy (`kind: egress`): token → target → host grant → one lookup → every address checked → audit → dial the
// address that was checked → tunnel or plain request, metered against the token's budgets.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { EgressConnection, EgressGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { Facts } from '../../services/policy/facts.ts';
import type { Forward, GateSession } from '../../pipeline/gate.ts';
import { auditHeaderTimeout } from '../kit/http/deadline.ts';
import { sendJson } from '../kit/http/reply.ts';
import { TokenSessions } from '../kit/http/token-sessions.ts';
import { Cutoff } from '../kit/http/upstream.ts';
import { parseByteRate, parseRate } from '../../pipeline/rate.ts';
import { deny } from '../../services/policy/verdict.ts';
import { guardsActive } from '../../pipeline/content-guards.ts';
import type { Listener } from '../../services/services.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import { proxyCredentials } from './credentials.ts';
import { dial, resolveEndpoint } from './dial.ts';
import { startProxyServer } from './door.ts';
import { egressFacts, unreadableFacts, type EgressFacts } from './facts.ts';
import { forwardPlain, hostHeaderProblem, parseAbsoluteTarget } from './forward.ts';
import { loadCa } from './ca.ts';
import { compileEgressGrant, compileHostRule, nameMatches } from './grant.ts';
import { compileInspection, type Inspection } from './inspection.ts';
import { interceptor } from './intercept.ts';
import { formatEndpoint, parseAuthority, type Endpoint, type Ip } from './host.ts';
import { decideEgress, decideHost, type EgressRules, type EgressVerdict } from './policy.ts';
import { parseCidrs, selfMatcher, type AddressRules } from './ranges.ts';
import { answerRaw, errorBody, refusalHeaders, statusFor } from './reply.ts';
import { spliceTunnel, type TunnelHandler } from './tunnel.ts';
import { upstreamRoots } from './upstream-tls.ts';

/** A refusal, already as the proxy answers it. */
interface Answer {
  status: number;
  code: string;
  message: string;
  headers: Record<string, string>;
}

type Admitted = { ok: true; token: TokenRecord; secret: string; rules: EgressRules } | ({ ok: false } & Answer);

/** What a judged tunnel or request needs to go ahead: where to, and the addresses that were checked. */
interface Go {
  forward: Forward;
  target: Endpoint;
  addresses: readonly Ip[];
}

export async function startEgressListener(name: string, conn: EgressConnection, services: AdapterServices): Promise<Listener> {
  const rules = compileRules(name, conn, services);
  const inspections = conn.intercept ? compileInspections(name, rules) : undefined;
  // What happens inside an allowed tunnel: spliced, or (intercept: true, and not a pass_through host) each request judged.
  const intercepting = conn.intercept
    ? interceptor(await loadCa(conn.ca, `connections.${name}.ca`), upstreamRoots(conn.upstream_ca, `connections.${name}.upstream_ca`), {
      connection: name, conn, guards: services.guards, log: services.log, connectTimeoutMs: conn.connect_timeout_ms,
    })
    : undefined;
  const passThrough = conn.pass_through.map((h) => compileHostRule(h, undefined));
  // One gate session per token, run and step (as for HTTP): opened at the first tunnel or request, closed when idle.
  const sessions = new TokenSessions(services.gate, name, 'egress');

  async function admit(req: IncomingMessage, address: string): Promise<Admitted> {
    const presented = proxyCredentials(req.headers['proxy-authorization']);
    const admission = await services.gate.admit<EgressGrant>(name, { address, ...(presented.ok ? { secret: presented.secret, user: presented.user } : {}) });
    if (admission.ok) return { ok: true, token: admission.token, secret: presented.ok ? presented.secret : '', rules: rules.get(admission.token.role)! };
    const refuse = (status: number, code: string, message: string): Admitted => ({ ok: false, status, code, message, headers: refusalHeaders(status) });
    if (admission.reason === 'no-grant') return refuse(403, 'grant.none', admission.message);
    if (admission.reason === 'throttled') return refuse(429, 'token.throttled', admission.message);
    if (admission.reason === 'store-unreachable') return refuse(503, 'store.unavailable', admission.message);
    return refuse(407, `token.${admission.reason}`, presented.ok ? admission.message : presented.message);
  }

  /** Host grant first (no lookup for a host nobody granted), then one lookup, then the whole decision, audited. */
  async function judge(session: GateSession, token: TokenRecord, r: EgressRules, facts: EgressFacts | Facts, client: string, whenGone: (withdraw: () => void) => void): Promise<Go | Answer> {
    const f = 'target' in facts ? (facts as EgressFacts) : undefined;
    if (f && decideHost(f, r).kind === 'allow') {
      const resolved = await resolveEndpoint(services.network, f.target, conn.connect_timeout_ms);
      if (resolved.ok) f.addresses = resolved.addresses;
      else f.unresolved = resolved.reason;
    }
    let retryAfter: number | undefined;
    const outcome = await session.pass({
      facts,
      // Unreadable facts never reach a policy (the gate refuses them as unknown).
      policy: () => {
        const inspected = inspections?.get(r.role);
        // Plain HTTP is not inspected: where a grant judges requests, they must come through an (intercepted) tunnel.
        if (f && f.method !== 'CONNECT' && inspected && (inspected.allow || guardsActive(inspected.guards))) {
          return deny('egress.plain', `plain http:// requests are not inspected, and roles.${r.role}.${name} judges requests (allow, guards): use https://`);
        }
        const verdict: EgressVerdict = f ? decideEgress(f, r, token.id) : deny('unknown', String(facts.unknown));
        retryAfter = verdict.retryAfter;
        return verdict;
      },
      detail: f ? {
        method: f.method, host: f.target.host.name, port: f.target.port, client,
        ...(f.addresses ? { addresses: f.addresses.map(String) } : {}), ...(f.unresolved ? { unresolved: f.unresolved } : {}),
      } : { client },
    });
    // Held for a human (`approve:`): the agent's connection waits; if it goes away meanwhile, the request is withdrawn.
    if (outcome.kind === 'held') whenGone(() => outcome.withdraw('the client went away'));
    const settled = outcome.kind === 'held' ? await outcome.settled : outcome;
    if (settled.kind === 'refuse') {
      const status = statusFor(settled.rule);
      return { status, code: settled.rule, message: settled.message, headers: refusalHeaders(status, retryAfter) };
    }
    return { forward: settled, target: f!.target, addresses: f!.addresses! };
  }

  /** The budget meter for one tunnel or request: charging past `max_bytes` cuts it. */
  function meterFor(token: TokenRecord, r: EgressRules, cutoff: Cutoff, cut: { rule?: string }) {
    const bytes = r.bytes;
    if (!bytes) return () => {};
    return (n: number) => {
      if (bytes.spend(token.id, n) >= 0 || cutoff.reason !== undefined) return;
      cut.rule = 'egress.max_bytes';
      cutoff.cut(`max_bytes ${r.raw.max_bytes} used up for this token`);
    };
  }

  /** A connection to the checked addresses: the one way out, and where the audit learns which address was reached. */
  function dialer(go: Go, reached: { address?: Ip }) {
    return async () => {
      const d = await dial(services.network, go.addresses, go.target.port, conn.connect_timeout_ms);
      reached.address = d.address;
      return d.socket;
    };
  }

  /**
   * What every tunnel and plain request starts with: the token, then its step's session (opened if needed). Answers the
   * refusal itself (`refuse`) and returns undefined when either fails.
   */
  async function enter(req: IncomingMessage, refuse: (a: Answer) => void) {
    const address = req.socket.remoteAddress ?? 'unknown';
    const client = `${address}:${req.socket.remotePort}`;
    const admitted = await admit(req, address);
    if (!admitted.ok) return void refuse(admitted);
    const cutoff = new Cutoff();
    try {
      const step = await sessions.begin(admitted.token, req, client, (reason) => cutoff.cut(reason));
      return { ...admitted, client, cutoff, step };
    } catch (err) {
      refuse({ status: 503, code: 'session.unavailable', message: (err as Error).message, headers: {} });
    }
  }

  /** The result record of a forwarded tunnel or request: where it went, bytes each way, time, and why it ended early. */
  function record(go: Go, started: number, reached: { address?: Ip }, cut: { rule?: string }, r: { up: number; down: number; error?: string; refused?: { rule: string; message: string } }, extra: Record<string, unknown>) {
    const refused = r.refused ?? (cut.rule ? { rule: cut.rule, message: r.error ?? 'cut' } : undefined);
    go.forward.done({
      protocol: 'egress', ...reachedAt(reached.address, go.target), ...extra, up: r.up, down: r.down, bytes: r.up + r.down,
      ms: Math.round(performance.now() - started), ...(refused ? { rule: refused.rule, error: refused.message } : r.error ? { error: r.error } : {}),
    });
  }

  async function tunnel(req: IncomingMessage, socket: Socket, head: Buffer) {
    const started = performance.now();
    const entered = await enter(req, (a) => answerRaw(socket, a.status, a.code, a.message, a.headers));
    if (!entered) return;
    const { token, rules: r, client, cutoff, step } = entered;
    socket.once('close', () => cutoff.cut('the client went away'));
    try {
      const raw = req.url ?? '';
      const target = parseAuthority(raw);
      const facts = target.ok ? egressFacts(name, 'CONNECT', target.value) : unreadableFacts(name, 'CONNECT', raw, target.reason);
      const go = await judge(step.session, token, r, facts, client, (withdraw) => (socket.destroyed ? withdraw() : socket.once('close', withdraw)));
      if (!('forward' in go)) return answerRaw(socket, go.status, go.code, go.message, go.headers);
      if (cutoff.reason !== undefined) return void socket.destroy();
      const reached: { address?: Ip } = {};
      const cut: { rule?: string } = {};
      const uninspected = passThrough.find((p) => nameMatches(p, go.target));
      const openTunnel: TunnelHandler = intercepting && !uninspected
        ? intercepting.handler({ session: step.session, token, secret: entered.secret, rules: r, inspection: inspections!.get(token.role)!, client })
        : spliceTunnel;
      const result = await openTunnel({
        client: socket, head, target: go.target, dial: dialer(go, reached), meter: meterFor(token, r, cutoff, cut), cutoff,
        helloMs: conn.header_timeout_ms, idleMs: conn.idle_timeout_ms,
      });
      // On an intercepting connection the audit says which tunnels went uninspected, and why.
      const how = intercepting && uninspected ? { inspected: false, pass_through: uninspected.text } : {};
      record(go, started, reached, cut, result, { ...(result.sni !== undefined ? { sni: result.sni } : {}), ...how, ...result.detail });
    } finally {
      step.done();
    }
  }

  async function request(req: IncomingMessage, res: ServerResponse) {
    const started = performance.now();
    const send = (a: Answer) => sendJson(res, a.status, errorBody(a.code, a.message), a.headers);
    const entered = await enter(req, send);
    if (!entered) return;
    const { token, secret, rules: r, client, cutoff, step } = entered;
    try {
      const method = req.method!;
      const raw = req.url ?? '';
      const parsed = parseAbsoluteTarget(raw);
      const problem = parsed.ok ? hostHeaderProblem(req.headers.host, parsed.value.target) : parsed.reason;
      const to = parsed.ok && !problem ? parsed.value : undefined;
      const facts = to ? egressFacts(name, method, to.target, to.path) : unreadableFacts(name, method, raw, problem!);
      const go = await judge(step.session, token, r, facts, client, (withdraw) => (res.destroyed ? withdraw() : res.once('close', withdraw)));
      if (!('forward' in go)) return send(go);
      if (cutoff.reason !== undefined) return send({ status: 407, code: 'token.revoked', message: `request cut: ${cutoff.reason}`, headers: {} });
      const reached: { address?: Ip } = {};
      const cut: { rule?: string } = {};
      const result = await forwardPlain({
        req, res, to: to!, secret, dial: dialer(go, reached), meter: meterFor(token, r, cutoff, cut), cutoff, idleMs: conn.idle_timeout_ms, bodyMs: conn.body_timeout_ms,
      });
      record(go, started, reached, cut, result, result.status !== undefined ? { status: result.status } : {});
    } finally {
      step.done();
    }
  }

  const server = await startProxyServer(conn.listen, {
    headerMs: conn.header_timeout_ms, idleMs: conn.idle_timeout_ms, onHeaderTimeout: auditHeaderTimeout(services.gate, name, conn.header_timeout_ms),
  }, { tunnel, request }, (err) => services.log.error({ err, connection: name }, 'egress request failed'));
  return {
    name,
    kind: 'egress',
    address: server.address,
    drain: server.drain,
    async close() {
      await sessions.closeAll('gateway shutting down');
      await server.close();
      intercepting?.close();
    },
  };
}

/** Where the agent's bytes went, for the result record; `tag` is the one line the console and replay show. */
function reachedAt(address: Ip | undefined, target: Endpoint) {
  const where = address ? formatEndpoint({ host: { kind: 'ip', ip: address, name: address.toString() }, port: target.port }) : 'not connected';
  return { address: address?.toString() ?? null, tag: `via ${where}` };
}

/** Every role's grant on this connection, compiled at start-up: a grant that cannot mean anything stops the gateway. */
function compileRules(name: string, conn: EgressConnection, services: AdapterServices): Map<string, EgressRules> {
  let allowPrivate;
  try {
    allowPrivate = parseCidrs(conn.allow_private);
  } catch (err) {
    throw new Error(`connections.${name}.${(err as Error).message}`);
  }
  const addresses: AddressRules = { allowPrivate, isSelf: selfMatcher(services.listening) };
  const rules = new Map<string, EgressRules>();
  for (const [role, byConnection] of Object.entries(services.config.roles)) {
    const raw = byConnection[name] as EgressGrant | undefined;
    if (!raw) continue;
    try {
      const rate = raw.rate ? parseRate(raw.rate) : undefined;
      const bytes = raw.max_bytes ? parseByteRate(raw.max_bytes) : undefined;
      rules.set(role, {
        role, connection: name, raw, grant: compileEgressGrant(raw), addresses,
        rate: rate && services.rates.limiter(`${name}/${role}/rate`, rate.limit, rate.periodMs),
        bytes: bytes && services.rates.limiter(`${name}/${role}/bytes`, bytes.limit, bytes.periodMs),
      });
    } catch (err) {
      throw new Error(`roles.${role}.${name}: ${(err as Error).message}`);
    }
  }
  return rules;
}

/** Each role's `allow`, `headers` and `guards`, compiled at start-up for an intercepting connection. */
function compileInspections(name: string, rules: Map<string, EgressRules>): Map<string, Inspection> {
  const inspections = new Map<string, Inspection>();
  for (const [role, r] of rules) {
    try {
      inspections.set(role, compileInspection(r.raw, r.grant));
    } catch (err) {
      throw new Error(`roles.${role}.${name}: ${(err as Error).message}`);
    }
  }
  return inspections;
}
