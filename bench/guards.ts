// Micro-benchmark of the guards on realistic mixed text: µs per KB for detection, masking, stream redaction and
// injection scanning, and detection throughput in MB/s. Run standalone with `tsx bench/guards.ts`.
import { pathToFileURL } from 'node:url';
import { createStreamRedactor, detect, maskJson, redact, scanInjection } from '../src/services/guards/index.ts';
import { ADVERSARIAL } from './adversarial.ts';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
}

const KEY = Buffer.from('bench-key-bench-key-bench-key-32');

/** Mostly ordinary text, as responses are: prose, log lines, a JSON row, code — with a few sensitive values in it. */
const SAMPLES = [
  `Hi Maria, thanks for the update on ticket #48213. I checked the order from 2024-03-08 and the customer confirmed the
delivery address. She asked us to call her back at +44 20 7123 4567 or to write to maria.lopez@example.org, preferably
before Friday. The refund of $1,076.40 was approved by the billing team; the card on file ends in 4242 and the payment
reference is PAY-2024-000981. Please note that version 10.0.19045.3086 of the agent is required for the new VPN client.
Our office network (10.20.30.0/24) will be down for maintenance between 22:00 and 23:30 UTC on Sunday. If anything is
unclear, reply to this e-mail or open a new ticket in the portal. Kind regards, the support team.`,
  `2024-05-02T11:32:07.441Z INFO  api request_id=3f2504e0-4f89-11d3-9a0c-0305e82c3301 method=GET path=/v1/invoices/981
status=200 duration_ms=41 client_ip=203.0.113.77 user_agent="Mozilla/5.0 (X11; Linux x86_64)" bytes=5120
2024-05-02T11:32:07.913Z WARN  auth token refresh for user 1842 took 812 ms (threshold 500 ms), retrying once
2024-05-02T11:32:08.120Z INFO  db query=select id, email, status from customers where id = $1 rows=1 duration_ms=3
2024-05-02T11:32:08.377Z INFO  webhook delivered to https://hooks.example.com/billing attempt=1 status=204 commit=9fceb02d`,
  `{"id": 981, "customer": {"name": "Ann Smith", "email": "ann.smith@example.com", "phone": "(415) 555-0132",
"ssn": "078-05-1123"}, "items": [{"sku": "A-1001", "qty": 2, "price": 19.99}, {"sku": "B-2002", "qty": 1, "price": 5.5}],
"payment": {"card": "4111 1111 1111 1111", "iban": "GB82 WEST 1234 5698 7654 32"},
"notes": "Leave the parcel with the neighbour if nobody answers. Gate code changes monthly; ask the concierge.", "created_at": "2024-05-02T11:32:07Z",
"tags": ["priority", "gift", "fragile"], "status": "shipped", "carrier": "UPS", "tracking": "1Z999AA10123456784"}`,
  `import os
from service import Client

# Configuration is read from the environment; never commit real keys.
API_URL = os.environ.get("API_URL", "https://api.example.com")
password = os.environ["DB_PASSWORD"]
client = Client(API_URL, token="ghp_m89l3kx14i6hbznttuklgcuhyzr5ohn126q3", timeout=30)

def fetch_invoices(customer_id: int, limit: int = 50) -> list[dict]:
    """Returns the newest invoices of a customer, newest first."""
    response = client.get(f"/customers/{customer_id}/invoices", params={"limit": limit})
    response.raise_for_status()
    return sorted(response.json()["items"], key=lambda item: item["created_at"], reverse=True)`,
];

const PROMPT_1KB = `I'm preparing a workshop for new support agents and would like your help structuring it. The audience has no
technical background. Please propose an agenda for a three-hour session covering how our ticketing system works, how to
write a clear first reply, how to escalate to engineering, and how to handle an angry customer without promising
refunds we cannot give. For each part, suggest one short exercise and the time it needs. Keep the tone friendly and
practical, and avoid jargon; where a technical term is unavoidable, explain it in one sentence. At the end, list three
common mistakes new agents make in their first week and how a mentor can spot them early. The workshop happens on a
Monday morning, so include a ten-minute break and a short warm-up activity to get people talking.`;

/** A tool result of 4 KB: the samples above, repeated, cut at a line end. */
const DOCUMENT_4KB = (() => {
  const text = [...SAMPLES, ...SAMPLES].join('\n\n');
  return text.slice(0, text.lastIndexOf('\n', 4096));
})();
const PROMPT_4KB = Array(4).fill(PROMPT_1KB).join('\n\n').slice(0, 4096);

/** 4 KB in several scripts and with accents: the non-ASCII path of normalisation (NFKC, accents, confusables). */
const PROMPT_4KB_MULTILINGUAL = [
  'Pouvez-vous résumer ce rapport trimestriel et préparer une réponse polie au client ? Merci beaucoup pour votre aide précieuse.',
  '¿Puedes ayudarme a planificar un viaje de tres días a Sevilla, con museos, tapas y un paseo por el río Guadalquivir?',
  'Bitte fasse die wichtigsten Punkte des Protokolls zusammen und schlage drei nächste Schritte für das Team vor.',
  'Пожалуйста, составь список из пяти книг по истории науки и коротко опиши каждую из них.',
  '请帮我把这封邮件翻译成英文，并保持语气礼貌、简洁。',
  'कृपया इस लेख का सारांश तीन वाक्यों में लिखिए और मुख्य तर्क बताइए।',
].join(' ').repeat(8).slice(0, 4096);

/** 4 KB that every view fires on: encoded runs, letter spacing, HTML comments; the most a prompt can make us do. */
const PROMPT_4KB_VIEWS = [
  PROMPT_1KB.slice(0, 600),
  `Reference: ${Buffer.from('the meeting notes are attached to this message for the team').toString('base64')}`,
  'Please read the note: i m p o r t a n t  n o t i c e for the team.',
  '<p>Agenda</p><!-- draft, do not publish --><img alt="team photo" src="a.png">',
  'Vg vf n frperg zrffntr sbe gur grnz.',
].join('\n').repeat(4).slice(0, 4096);

const kb = (text: string) => Buffer.byteLength(text) / 1024;

/**
 * The best of many short timed rounds, in µs per call, after a warm-up that lets the JIT settle. On a shared machine a
 * round the scheduler interrupted measures the neighbours; short rounds (about 10 ms) make an undisturbed one likely,
 * and the least disturbed one measures the code.
 */
function time(fn: () => void, calls: number): number {
  for (let i = 0; i < Math.min(calls, 200); i++) fn();
  const perRound = Math.max(1, Math.round(calls / 8));
  let best = Infinity;
  for (let r = 0; r < 40; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000 / perRound);
  }
  return best;
}

const round = (x: number) => Number(x.toPrecision(3));

export async function benchGuards(): Promise<BenchResult[]> {
  const totalKb = SAMPLES.reduce((n, s) => n + kb(s), 0);
  const perKb = (fn: (text: string) => unknown) => time(() => SAMPLES.forEach(fn), 2000) / totalKb;
  const json = JSON.parse(SAMPLES[2]) as unknown;
  const jsonKb = kb(SAMPLES[2]);
  const rules = { '$.customer.email': 'partial', '$..ssn': 'hash', '$.payment.card': 'partial' } as const;

  const detectUs = perKb((t) => detect(t));
  return [
    { name: 'guards detect (mixed text)', value: round(detectUs), unit: 'µs/KB' },
    { name: 'guards detect throughput', value: round(1024 / detectUs / 1.048576), unit: 'MB/s' },
    { name: 'guards redact (redact)', value: round(perKb((t) => redact(t, { strategy: 'redact', key: KEY }))), unit: 'µs/KB' },
    { name: 'guards redact (hash)', value: round(perKb((t) => redact(t, { strategy: 'hash', key: KEY }))), unit: 'µs/KB' },
    {
      name: 'guards stream redactor (16-char chunks)',
      value: round(perKb((t) => {
        const r = createStreamRedactor({ strategy: 'redact', key: KEY });
        for (let i = 0; i < t.length; i += 16) r.push(t.slice(i, i + 16));
        r.flush();
      })),
      unit: 'µs/KB',
    },
    { name: 'guards maskJson (paths + detect)', value: round(time(() => maskJson(json, rules, { key: KEY, detect: true }), 2000) / jsonKb), unit: 'µs/KB' },
    { name: 'guards scanInjection user 1 KB', value: round(time(() => scanInjection(PROMPT_1KB), 500)), unit: 'µs' },
    { name: 'guards scanInjection user 4 KB', value: round(time(() => scanInjection(PROMPT_4KB), 200)), unit: 'µs' },
    { name: 'guards scanInjection user 4 KB, several scripts', value: round(time(() => scanInjection(PROMPT_4KB_MULTILINGUAL), 200)), unit: 'µs' },
    { name: 'guards scanInjection user 4 KB, every view', value: round(time(() => scanInjection(PROMPT_4KB_VIEWS), 200)), unit: 'µs' },
    { name: 'guards scanInjection document 4 KB', value: round(time(() => scanInjection(DOCUMENT_4KB, { source: 'document' }), 200)), unit: 'µs' },
    { name: 'guards scanInjection document', value: round(time(() => scanInjection(DOCUMENT_4KB, { source: 'document' }), 200) / kb(DOCUMENT_4KB)), unit: 'µs/KB' },
    ...adversarial(),
  ];
}

/** Each detector's worst case (bench/adversarial.ts), 64 KB of it: the cost per KB a hostile cell or prompt can buy. */
function adversarial(): BenchResult[] {
  return ADVERSARIAL.map((input) => {
    const text = input.make(64 * 1024);
    return { name: `guards adversarial ${input.detector}: ${input.shape}`, value: round(time(() => detect(text), 3) / kb(text)), unit: 'µs/KB' };
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchGuards()) console.log(`${r.name.padEnd(44)} ${String(r.value).padStart(9)} ${r.unit}`);
}
