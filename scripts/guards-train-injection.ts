// Trains the two prompt-injection models (user prompts, documents) and writes src/services/guards/injection-model.json.
// Usage: tsx scripts/guards-train-injection.ts <data dir> [--scores <file>]
//   <data dir> holds prompt_injection.jsonl and prompt_injection_extra.jsonl (the data never enters the repository).
//   --scores writes the leave-one-source-out scores, which `guards-eval.ts --scores` can read instead of retraining.
// Each channel's threshold comes from the frozen rule in guards-injection-model.ts applied to leave-one-source-out
// scores; the shipped models are then trained on every source. Deterministic: a re-run writes the same file.
import { writeFileSync } from 'node:fs';
import { CHANNELS, type ChannelFile, type ModelFile, type Source } from '../src/services/guards/injection/classifier.ts';
import { CONFIG, MAX_CELL_FPR, MIN_CELL, channelExamples, chooseThreshold, leaveOneSourceOut, shipped, sources, train } from './guards-injection-model.ts';
import { loadInjection } from './guards-dataset.ts';

const MODEL_PATH = new URL('../src/services/guards/injection-model.json', import.meta.url);

function main(): void {
  const dataDir = process.argv[2];
  if (!dataDir) {
    console.error('usage: tsx scripts/guards-train-injection.ts <data dir> [--scores <file>]');
    process.exit(2);
  }
  const scoresAt = process.argv.indexOf('--scores');
  const records = loadInjection(dataDir);
  console.log(`records: ${records.length} from ${sources(records).length} sources; leave-one-source-out:`);
  const scored = leaveOneSourceOut(records, console.log);
  if (scoresAt > 0) {
    writeFileSync(process.argv[scoresAt + 1], JSON.stringify(scored.map((s) => ({ id: s.record.id, channel: s.channel, score: s.score, byRules: s.byRules }))));
  }
  const thresholds = Object.fromEntries(CHANNELS.map((c) => [c, chooseThreshold(scored, c)])) as Record<Source, number>;
  console.log(`thresholds: user ${thresholds.user}, document ${thresholds.document}`);

  const channels = Object.fromEntries(CHANNELS.map((channel) => {
    const trained = train(channelExamples(records, channel));
    const { scale, weights } = shipped(trained, thresholds[channel]);
    return [channel, { bias: trained.bias, scale, weights, named: trained.named, threshold: thresholds[channel] } satisfies ChannelFile];
  })) as Record<Source, ChannelFile>;
  const file: ModelFile = {
    version: 2,
    hashBits: CONFIG.hashBits,
    channels,
    training: {
      data: 'prompt_injection.jsonl + prompt_injection_extra.jsonl (sources in src/services/guards/README.md)',
      records: records.length,
      epochs: CONFIG.epochs,
      l2: CONFIG.l2,
      thresholdRule: `lowest score keeping every benign cell (>= ${MIN_CELL} records) of the channel at <= ${MAX_CELL_FPR * 100}% flagged, on leave-one-source-out scores`,
    },
  };
  writeFileSync(MODEL_PATH, `${JSON.stringify(file)}\n`);
  console.log(`wrote ${MODEL_PATH.pathname} (${(JSON.stringify(file).length / 1024).toFixed(0)} KB)`);
}

main();
