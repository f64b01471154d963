// Facts: the protocol-neutral description of one request. Every adapter emits these, extended with what its own policy
// reads (an HTTP method and path, an LLM model and tools); its policy judges them, and the audit records their common part.

/** Who is asking: resolved from the token before any request is judged. */
export interface Who {
  tokenId: string;
  label: string;
  role: string;
  /** LangChain run id / chain step, when the agent tags its requests. */
  runId?: string;
  step?: string;
}

/** The most consequential thing a request does, ordered roughly by risk. */
export type Effect =
  | 'read'      // reads data
  | 'write'     // changes rows / resources
  | 'ddl'       // changes schema or server state
  | 'call'      // runs code (procedures, DO, volatile functions)
  | 'session'   // transaction control, harmless session settings
  | 'complete'  // an LLM completion / embedding
  | 'unknown';  // could not be classified: always denied

/** Access to one named thing. `relation` names are `schema.table`, lower-cased as PostgreSQL folds them. */
export interface Target {
  kind: 'relation' | 'function' | 'statement' | 'path' | 'model' | 'tool' | 'key' | 'channel' | 'host';
  name: string;
  access: 'read' | 'insert' | 'update' | 'delete' | 'execute' | 'call' | string;
}

export interface Facts {
  protocol: 'postgres' | 'mysql' | 'redis' | 'http' | 'llm' | 'mcp' | 'egress';
  connection: string;
  effect: Effect;
  /** What was asked, for humans and the audit: the statement text, `GET /path`, `chat gpt-4o-mini`. */
  summary: string;
  targets: Target[];
  /** Set when the request could not be understood; the reason is shown to the client. Means deny. */
  unknown?: string;
}
