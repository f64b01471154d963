// Prints the test files whose gateways take their store from test/support/store.ts — directly or through the shared
// gateway helpers — so `npm test` runs them a second time with GATEHOUSE_TEST_STORE=postgres: the suite holds on both
// stores. A new test that starts its gateway through those helpers joins the second run by itself.
import { readdirSync, readFileSync } from 'node:fs';

const STARTS_A_GATEWAY = /\b(startPgGateway|mysqlGateway|testStore)\(|from '\.\/helpers\/gateway\.ts'/;
const files = readdirSync('test').filter((f) => f.endsWith('.test.ts')).sort();
console.log(files.filter((f) => STARTS_A_GATEWAY.test(readFileSync(`test/${f}`, 'utf8'))).map((f) => `test/${f}`).join(' '));
