// A gateway's audit with checkpoints, killed (SIGKILL) after committing records its checkpoint does not cover yet and in
// the middle of appending a checkpoint line: what a power cut or OOM kill leaves behind.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCheckpoints } from '../../src/services/audit/checkpoints.ts';
import { AuditLog } from '../../src/services/audit/log.ts';
import { openSqliteStore } from '../../src/services/store/sqlite.ts';
import { silent } from './log.ts';

const dir = process.argv[2];
const store = openSqliteStore(join(dir, 'g.db'));
const audit = (await AuditLog.open(store));
const { checkpointer } = await startCheckpoints({ key: 'signing.key', file: 'checkpoints.log', every: 10, interval: '1h', stdout: false }, { store, feed: audit, log: silent, baseDir: dir });
for (let i = 1; i <= 10; i++) await audit.append({ kind: 'request', verdict: 'allow', data: { i } });
await new Promise((r) => setImmediate(r));
await checkpointer.idle();
for (let i = 11; i <= 13; i++) await audit.append({ kind: 'request', verdict: 'allow', data: { i } });
appendFileSync(join(dir, 'checkpoints.log'), '{"checkpoint":1,"node":"x","seq":13,"ha');
process.kill(process.pid, 'SIGKILL');
