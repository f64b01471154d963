// The request side of an HTTP API call: the request as the upstream will run it (overrides honoured, path normalised),
// its body read when a rule, a guard or an approval needs it, and the facts, policy and detail the gate judges.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpConnection, HttpGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { GuardNote } from '../../pipeline/content-guards.ts';
import type { Ask } from '../../pipeline/gate.ts';
import { deny, type Verdict } from '../../services/policy/verdict.ts';
import type { Call } from '../kit/http/listener.ts';
import { effectiveRequest, type Effective } from '../kit/http/overrides.ts';
import { BodyCut, BodyTooLarge, readBody } from '../kit/http/reply.ts';
import { bodyTimeoutReason } from '../kit/http/deadline.ts';
import { normaliseTarget, type Target } from '../kit/http/target.ts';
import { decideHttp, httpFacts, judgedBody, needsBody, type HttpFacts } from './policy.ts';
import { parseRate, sharedRate } from '../../pipeline/rate.ts';
import type { RateTaken } from '../../services/store/store.ts';
import { compileGrant, type CompiledGrant } from './rules.ts';

/** One request, ready for the gate and, once it passes, for the upstream. */
export interface HttpRequest {
  ask: Ask<HttpFacts>;
  /** The request line as sent (what is forwarded), and the override headers to drop or rewrite. */
  wire: Target;
  effective: Effective;
  hasBody: boolean;
  /** The body, when it was read (it is then forwarded whole); otherwise it streams through. */
  body?: Buffer;
  /** Seconds until the token's rate limit lets a refused request through. */
  retryAfter?: number;
}

interface Role { compiled: CompiledGrant; takeRate?: (tokenId: string) => Promise<RateTaken> }

/**
 * Compiles every role's grant on this connection at start-up (a rule that cannot compile stops the gateway, not the
 * first request) and returns the function that reads one request. It resolves undefined when the request was cut
 * while its body was read (revocation, the agent leaving): it has been answered already.
 */
export function httpRequests(name: string, conn: HttpConnection, services: AdapterServices) {
  const roles = new Map<string, Role>();
  for (const [role, byConnection] of Object.entries(services.config.roles)) {
    const raw = byConnection[name] as HttpGrant | undefined;
    if (!raw) continue;
    try {
      const rate = raw.rate ? parseRate(raw.rate) : undefined;
      roles.set(role, { compiled: compileGrant(raw), takeRate: rate && sharedRate(services.store, `http:${name}:${role}`, rate.limit, rate.periodMs) });
    } catch (err) {
      throw new Error(`roles.${role}.${name}: ${(err as Error).message}`);
    }
  }
  const deadline = bodyTimeoutReason(conn.body_timeout_ms);
  const timedOut = (err: unknown) => err instanceof BodyCut && err.message === deadline;

  return async function readRequest(req: IncomingMessage, res: ServerResponse, c: Call<HttpGrant>): Promise<HttpRequest | undefined> {
    const { grant } = c;
    const role = roles.get(c.token.role)!;
    // What is forwarded is the request line; what is judged is what the upstream will run (see overrides.ts).
    const wire = normaliseTarget(req.url ?? '');
    const effective = effectiveRequest(req.method!, req.url ?? '', req.headers, conn.override_headers);
    const method = effective.ok ? effective.method : req.method!;
    const target = effective.ok && effective.url !== req.url ? normaliseTarget(effective.url) : wire;
    const path = target.ok ? target.path : (req.url ?? '').split('?')[0];
    const query = target.ok ? target.query : null;
    const unknown = !target.ok ? target.reason : !wire.ok ? wire.reason : undefined;
    const facts = httpFacts({ connection: name, role: c.token.role, method, path, query, ...(unknown ? { unknown } : {}) });
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;

    const scanned = grant.guards.secrets === 'block' || grant.guards.secrets === 'flag' || grant.guards.pii === 'block' || grant.guards.pii === 'flag';
    const judging = hasBody && (scanned || needsBody(facts, role.compiled));
    // An approval binds to the exact request, body included, so a request that may be held has its body read first.
    const approval = role.compiled.approve(method, path);
    let early: Verdict | undefined = c.crowded ?? (effective.ok ? undefined : deny('request.override', effective.reason));
    /** Why the body could not be read when only an approval needed it: it refuses the request only if it is held. */
    let unread: Verdict | undefined;
    let body: Buffer | undefined;
    const notes: GuardNote[] = [];
    if (!early && target.ok && hasBody && (judging || approval)) {
      try {
        body = await readBody(req, conn.max_inspect_bytes, c.cutoff);
        facts.body = judgedBody(String(req.headers['content-type'] ?? ''), body);
        if (scanned) {
          const scan = services.guards.scan(body.toString('utf8'), { ...grant.guards, injection: 'off' }, 'user');
          notes.push(...scan.notes);
          if (scan.block) early = deny(scan.block.rule, scan.block.message);
        }
      } catch (err) {
        if (!timedOut(err)) {
          if (err instanceof BodyCut) return undefined; // revoked or gone: already answered
          if (!(err instanceof BodyTooLarge)) throw err;
        }
        const refusal = err instanceof BodyTooLarge ? deny('max_inspect_bytes', err.message) : deny('request.timeout', (err as Error).message);
        if (judging) early = refusal;
        else unread = refusal;
        res.shouldKeepAlive = false;
      }
    }

    // The rate limit is taken before the gate judges (the store counts it for every node), and only from a request the
    // grant allows: a refused one costs nothing.
    const taken = role.takeRate && !early && !facts.unknown && decideHttp(facts, role.compiled, grant).kind === 'allow'
      ? await role.takeRate(c.token.id) : undefined;
    const request: HttpRequest = {
      wire, effective, hasBody, body,
      ask: {
        facts,
        policy: (f) => {
          if (early) return early;
          const verdict = decideHttp(f, role.compiled, grant);
          if (verdict.kind === 'hold' && unread) return unread;
          if (verdict.kind !== 'allow' || !taken || taken.ok) return verdict;
          request.retryAfter = taken.retryAfter;
          return deny('http.rate', `rate limit ${grant.rate} reached for this token; retry in ${taken.retryAfter}s`);
        },
        ...(approval ? { exact: `${facts.summary}\n${createHash('sha256').update(body ?? '').digest('hex')}` } : {}),
        detail: { method, path, ...(query !== null ? { query } : {}), client: c.client, ...(notes.length ? { guards: notes } : {}) },
      },
    };
    return request;
  };
}
