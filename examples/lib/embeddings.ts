// A deterministic embedder for the demo's 3-dimensional chunks: no model to download, same vector for the same text.
import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';

/** The demo's three axes and the words that point along them (the seed's chunk vectors use the same axes). */
const AXES: RegExp[] = [
  /\b(refunds?|billing|invoices?|plans?|annual|purchase|charged?|money|pay(ment)?s?)\b/gi,
  /\b(passwords?|log ?in|login|sign ?in|reset|account|locked)\b/gi,
  /\b(export(s|ing)?|csv|data|download|workspace|backup)\b/gi,
];

/**
 * Counts topic words per axis and normalises: "how do refunds work?" ≈ [1, 0, 0]. Text with no topic word gets a small
 * vector derived from its characters, so it is never the zero vector (cosine distance to it is undefined).
 */
export class DemoEmbeddings extends Embeddings {
  constructor(params: EmbeddingsParams = {}) {
    super(params);
  }

  async embedDocuments(texts: string[]): Promise<number[][]> {
    return texts.map((t) => embed(t));
  }

  async embedQuery(text: string): Promise<number[]> {
    return embed(text);
  }
}

export function embed(text: string): number[] {
  const counts = AXES.map((re) => (text.match(re) ?? []).length);
  if (counts.every((c) => c === 0)) {
    let h = 2166136261;
    for (const ch of text) h = Math.imul(h ^ ch.codePointAt(0)!, 16777619) >>> 0;
    return [0, 1, 2].map((i) => 0.01 + ((h >>> (i * 8)) & 0xff) / 2550);
  }
  const norm = Math.hypot(...counts);
  return counts.map((c) => Math.round((c / norm) * 1000) / 1000);
}
