// The OpenAPI description of the admin API, served at /v1/openapi.json.

const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = { description: 'error', ...json(ref('Error')) };
const errors = { 400: error, 401: error, 403: error, 404: error };

export const openapi = {
  openapi: '3.1.0',
  info: {
    title: 'Gatehouse admin API', version: '1',
    description: 'Tokens, sessions, approvals and the audit trail of a Gatehouse gateway. Every endpoint except health, the probes (/healthz, /readyz), console sign-in and this document requires `Authorization: Bearer <admin key>`, '
      + 'or the web console\'s session cookie (from `POST /v1/console/login`); with the cookie, every state change must also carry the session\'s CSRF token in `X-CSRF-Token` and come from the console\'s own origin.',
  },
  components: {
    securitySchemes: {
      adminKey: { type: 'http', scheme: 'bearer' },
      consoleSession: { type: 'apiKey', in: 'cookie', name: 'gatehouse_session', description: '`__Host-gatehouse_session` when the console is served over https. State changes also need `X-CSRF-Token`.' },
    },
    schemas: {
      Error: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] },
      Readiness: {
        type: 'object',
        properties: {
          ready: { type: 'boolean' },
          checks: {
            type: 'object',
            properties: {
              listeners: { type: 'object', properties: { ok: { type: 'boolean' }, draining: { type: 'boolean' } } },
              store: { type: 'object', properties: { ok: { type: 'boolean' } } },
              revocations: { type: 'object', properties: { ok: { type: 'boolean' }, lagSeconds: { type: 'number' } } },
            },
          },
        },
      },
      Me: {
        type: 'object',
        properties: { name: { type: 'string' }, roles: { type: 'array', items: { enum: ['admin', 'approver'] } }, csrf: { type: 'string', description: 'send as X-CSRF-Token with state changes' }, expiresAt: { type: 'integer' }, secure: { type: 'boolean' } },
      },
      Decision: {
        type: 'object',
        properties: {
          seq: { type: 'integer' }, ts: { type: 'integer' }, source: { enum: ['request', 'auth'] }, verdict: { enum: ['allowed', 'refused', 'masked', 'held'] },
          summary: { type: 'string' }, detail: { type: ['string', 'null'] }, maskedColumns: { type: 'array', items: { type: 'string' } }, rule: { type: ['string', 'null'] }, label: { type: ['string', 'null'] }, role: { type: ['string', 'null'] },
          runId: { type: ['string', 'null'] }, sessionId: { type: ['string', 'null'] }, tokenId: { type: ['string', 'null'] }, connection: { type: ['string', 'null'] },
          approval: { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, by: { type: 'string' } } },
          outcome: { type: 'object', properties: { ms: { type: 'number' }, rows: { type: 'integer' }, error: { type: 'string' }, masked: { type: 'integer' } } },
        },
      },
      Token: {
        type: 'object',
        properties: {
          id: { type: 'string' }, label: { type: 'string' }, role: { type: 'string' }, status: { enum: ['active', 'expired', 'revoked'] },
          createdAt: { type: 'integer' }, expiresAt: { type: 'integer' }, revokedAt: { type: ['integer', 'null'] }, lastUsedAt: { type: ['integer', 'null'] }, createdBy: { type: 'string' },
        },
      },
      Session: {
        type: 'object',
        properties: {
          id: { type: 'string' }, tokenId: { type: 'string' }, label: { type: 'string' }, role: { type: 'string' }, connection: { type: 'string' }, protocol: { type: 'string' },
          client: { type: 'string' }, runId: { type: ['string', 'null'] }, step: { type: ['string', 'null'] }, startedAt: { type: 'integer' }, endedAt: { type: ['integer', 'null'] }, endReason: { type: ['string', 'null'] },
        },
      },
      AuditRecord: {
        type: 'object',
        properties: {
          seq: { type: 'integer' }, ts: { type: 'integer' }, kind: { type: 'string' }, sessionId: { type: ['string', 'null'] }, tokenId: { type: ['string', 'null'] },
          connection: { type: ['string', 'null'] }, verdict: { type: ['string', 'null'] }, data: { type: 'object' }, prevHash: { type: 'string' }, hash: { type: 'string' },
        },
      },
    },
  },
  security: [{ adminKey: [] }, { consoleSession: [] }],
  paths: {
    '/v1/health': { get: { summary: 'Liveness; listeners (name, kind, address) only with an admin key', security: [], responses: { 200: { description: 'ok' } } } },
    '/healthz': { get: { summary: 'Liveness probe: the process answers', security: [], responses: { 200: { description: 'alive', ...json({ type: 'object', properties: { ok: { const: true } } }) } } } },
    '/readyz': {
      get: {
        summary: 'Readiness probe: listeners up and not draining, store reachable, revocations caught up (nothing secret: no names, addresses or errors)',
        security: [],
        responses: {
          200: { description: 'ready', ...json(ref('Readiness')) },
          503: { description: 'not ready (see which check failed)', ...json(ref('Readiness')) },
        },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics (any admin key; no key when admin.metrics is public)',
        responses: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }, 401: error, 403: error },
      },
    },
    '/v1/tokens': {
      get: { summary: 'List tokens', responses: { 200: { description: 'tokens', ...json({ type: 'object', properties: { tokens: { type: 'array', items: ref('Token') } } }) }, ...errors } },
      post: {
        summary: 'Create a token (the secret is returned once)',
        requestBody: json({ type: 'object', required: ['role'], properties: { role: { type: 'string' }, label: { type: 'string' }, ttl: { type: 'string', examples: ['15m'] } } }),
        responses: { 201: { description: 'created', ...json({ allOf: [ref('Token'), { type: 'object', properties: { token: { type: 'string' } } }] }) }, ...errors },
      },
    },
    '/v1/tokens/{id}/revoke': {
      post: { summary: 'Revoke a token; its live sessions are closed at once', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'revoked', ...json(ref('Token')) }, ...errors } },
    },
    '/v1/sessions': {
      get: {
        summary: 'List sessions, newest first',
        parameters: ['token', 'connection', 'run', 'live', 'limit'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })),
        responses: { 200: { description: 'sessions', ...json({ type: 'object', properties: { sessions: { type: 'array', items: ref('Session') } } }) }, ...errors },
      },
    },
    '/v1/sessions/{id}': {
      get: { summary: 'A session and its audit events, for replay', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'session', ...json({ type: 'object', properties: { session: ref('Session'), events: { type: 'array', items: ref('AuditRecord') } } }) }, ...errors } },
    },
    '/v1/audit': {
      get: {
        summary: 'Audit records after a sequence number',
        parameters: ['after', 'limit', 'session', 'node'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })),
        responses: { 200: { description: 'records', ...json({ type: 'object', properties: { records: { type: 'array', items: ref('AuditRecord') } } }) }, ...errors },
      },
    },
    '/v1/console/login': {
      post: {
        summary: 'Sign the web console in with an admin key; sets the session cookie (HttpOnly, SameSite=Strict, Path=/, Secure over https)',
        security: [],
        requestBody: json({ type: 'object', required: ['key'], properties: { key: { type: 'string' } } }),
        responses: { 200: { description: 'signed in', ...json(ref('Me')) }, 401: error, 403: error, 429: error },
      },
    },
    '/v1/console/logout': {
      post: { summary: 'End the console session (needs X-CSRF-Token)', security: [{ consoleSession: [] }], responses: { 200: { description: 'signed out' }, ...errors } },
    },
    '/v1/console/session': {
      get: { summary: 'Who is signed in, and the session\'s CSRF token', responses: { 200: { description: 'the session', ...json(ref('Me')) }, ...errors } },
    },
    '/v1/events': {
      get: {
        summary: 'Live server-sent events: `approval` (an ApprovalRecord changed), and for admins `audit` (a committed AuditRecord) and `decision` (a Decision created or updated). A comment line is sent as a heartbeat.',
        responses: { 200: { description: 'an event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...errors },
      },
    },
    '/v1/decisions': {
      get: {
        summary: 'Recent decisions (allowed, refused, masked, held), newest first',
        parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer' } }],
        responses: { 200: { description: 'decisions', ...json({ type: 'object', properties: { decisions: { type: 'array', items: ref('Decision') } } }) }, ...errors },
      },
    },
    '/v1/sessions/{id}/decisions': {
      get: {
        summary: 'The decisions of one session, oldest first (the replay\'s verdicts, including which columns were masked)',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: { description: 'decisions', ...json({ type: 'object', properties: { decisions: { type: 'array', items: ref('Decision') } } }) }, ...errors },
      },
    },
    '/v1/roles': {
      get: {
        summary: 'Configured roles and the connections each can reach (with the addresses agents connect to)',
        responses: { 200: { description: 'roles', ...json({ type: 'object', properties: { roles: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, connections: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, kind: { type: 'string' }, address: { type: 'string' }, flavor: { type: 'string' } } } } } } } } }) }, ...errors },
      },
    },
    '/v1/audit/verify': {
      get: { summary: 'Verify the hash chain from the first record; with audit.checkpoints, whether it reaches the last signed checkpoint', responses: { 200: { description: 'result', ...json({ type: 'object', properties: {
        ok: { type: 'boolean' }, records: { type: 'integer' }, broken: { type: 'object' },
        head: { type: 'object', nullable: true, properties: { seq: { type: 'integer' }, hash: { type: 'string' } } },
        checkpoint: { type: 'object', nullable: true, properties: { node: { type: 'string' }, seq: { type: 'integer' }, ts: { type: 'integer' }, reaches: { type: 'boolean' }, detail: { type: 'string' } } },
      } }) }, ...errors } },
    },
  },
} as const;
