// The guards' public API: detectors, masking, stream redaction, JSON masking, prompt-injection scanning. Findings only — never verdicts.
export { detect } from './detectors.ts';
export { maskValue, redact } from './mask.ts';
export { createStreamRedactor, type StreamRedactor } from './stream.ts';
export { maskJson, parseJsonPath } from './json.ts';
export { scanInjection, type InjectionScan } from './injection/scan.ts';
export {
  ALL_TYPES, DEFAULT_SCAN_BUDGET, overBudget, PII, PII_TYPES, SECRETS, SECRET_TYPES, UNSCANNED, type DetectorType, type Finding, type ScanBudget,
} from './types.ts';
export { explainInjection, type InjectionExplanation } from './injection/explain.ts';
