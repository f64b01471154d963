// What an adapter supplies to join the conformance suite: its connection, a real client, and a count of what reached
// its upstream. The suite (test/conformance.test.ts) asserts the same behaviour of every adapter through these.

/** The agent's view of one answer: `ok`, or the refusal text the protocol carried (rule, message, status). */
export type Answer = { ok: true } | { ok: false; refusal: string };

export interface Agent {
  /** A request the grant allows outright; rejects if it is refused. */
  allowed(): Promise<void>;
  /** The request the grant's `approve:` lists (it waits for a human); resolves with what the client finally saw. */
  held(): Promise<Answer>;
  /**
   * Live traffic that only ends when the gateway cuts it (a long query, a slow response, a stream, a tunnel). `started`
   * resolves once it is in flight upstream; `ended` when the client sees it end, with what it saw.
   */
  live(): { started: Promise<void>; ended: Promise<Answer> };
  close(): Promise<void>;
}

export interface Driver {
  /** The adapter's name, as in src/adapters/. */
  name: string;
  /** Prepares the upstream (a database, a local API) and returns the YAML of `connections:` and `roles:`. */
  setup(): Promise<string>;
  teardown(): Promise<void>;
  /**
   * Connects as an agent: `label` and `token` as minted for role `agent` (or not minted at all), `run`/`step` as the
   * agent's LangChain correlation. Rejects with the protocol's refusal when the token is refused at connect; for
   * protocols that check a token per request, the first request carries the refusal.
   */
  connect(address: string, token: { token: string; label: string }, tags: { run: string; step: string }): Promise<Agent>;
  /** Asserts that `err` (or a refused answer) is this protocol's own way of refusing a bad token, and says what it said. */
  authRefusal(outcome: unknown): string;
  /** How many times the held request has reached the upstream so far. */
  forwardedHeld(): Promise<number>;
}
