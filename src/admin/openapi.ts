// The OpenAPI description of the admin API, served at /v1/openapi.json.

const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = { description: 'error', ...json(ref('Error')) };
const errors = { 400: error, 401: error, 403: error, 404: error };

export const openapi = {
  openapi: '3.1.0',
  info: { title: 'Gatehouse admin API', version: '1', description: 'Tokens, sessions and the audit trail of a Gatehouse gateway. Every endpoint except health and this document requires `Authorization: Bearer <admin key>`.' },
  components: {
    securitySchemes: { adminKey: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] },
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
  security: [{ adminKey: [] }],
  paths: {
    '/v1/health': { get: { summary: 'Liveness and listeners', security: [], responses: { 200: { description: 'ok' } } } },
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
        parameters: ['after', 'limit', 'session'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })),
        responses: { 200: { description: 'records', ...json({ type: 'object', properties: { records: { type: 'array', items: ref('AuditRecord') } } }) }, ...errors },
      },
    },
    '/v1/audit/verify': {
      get: { summary: 'Verify the hash chain from the first record', responses: { 200: { description: 'result', ...json({ type: 'object', properties: { ok: { type: 'boolean' }, records: { type: 'integer' }, broken: { type: 'object' } } }) }, ...errors } },
    },
  },
} as const;
