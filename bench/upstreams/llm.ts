// The demo OpenAI-compatible upstream (src/demo/upstreams/llm.ts) in its own process for the LLM bench.
// Usage: node --import tsx bench/upstreams/llm.ts <port> <key>
import { startLlmUpstream } from '../../src/demo/upstreams/llm.ts';

const upstream = await startLlmUpstream({ port: Number(process.argv[2]), key: process.argv[3] });
// The demo keeps every request it saw (tests inspect them); a bench would grow it without bound.
setInterval(() => { upstream.requests.length = 0; }, 1000).unref();
process.send?.('ready');
