// How a refusal reads in MySQL's own terms: an ERR packet whose code and SQLSTATE a client already knows how to report.
import { APPROVAL_PENDING, AUDIT_UNAVAILABLE, framed } from '../../pipeline/gate.ts';
import { encodeErr, type ErrPacket } from './codec/results.ts';

/** MySQL's access-denied codes, by what was missing; SQLSTATE 42000 (syntax error or access violation) for all. */
const codes: [RegExp, number][] = [
  [/^sql\.relation\./, 1142], // ER_TABLEACCESS_DENIED_ERROR
  [/^sql\.mask\./, 1143], // ER_COLUMNACCESS_DENIED_ERROR
  [/^sql\.function\./, 1370], // ER_PROCACCESS_DENIED_ERROR
];

export function refusalPacket(rule: string, message: string): Buffer {
  return encodeErr(refusal(rule, message));
}

export function refusal(rule: string, message: string): ErrPacket {
  const text = `${framed(message)} [rule: ${rule}]`;
  if (rule.startsWith('approval.') && rule !== APPROVAL_PENDING && rule.endsWith('withdrawn')) return { code: 1317, sqlState: '70100', message: text }; // ER_QUERY_INTERRUPTED
  if (rule === AUDIT_UNAVAILABLE) return { code: 1105, sqlState: 'HY000', message: text }; // ER_UNKNOWN_ERROR: not the agent's fault
  const code = codes.find(([pattern]) => pattern.test(rule))?.[1] ?? 1227; // ER_SPECIFIC_ACCESS_DENIED_ERROR
  return { code, sqlState: '42000', message: text };
}
