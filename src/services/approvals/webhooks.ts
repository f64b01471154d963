// Outgoing approval notifications: generic JSON or a Slack message, each signed so receivers can trust it.
import { createHmac } from 'node:crypto';
import type { ApprovalsConfig } from '../../config/schema.ts';
import type { ApprovalRecord } from '../store/store.ts';
import type { Logger } from '../telemetry/logger.ts';

/** `sha256=<hex>` of `<timestamp>.<body>`: the timestamp is signed too, so a captured message cannot be replayed later. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

export function webhookBody(format: 'json' | 'slack', record: ApprovalRecord, consoleUrl: string): string {
  const link = `${consoleUrl.replace(/\/$/, '')}/#/approvals/${record.id}`;
  if (format === 'json') return JSON.stringify({ type: 'approval.requested', approval: record, url: link });
  const text = `Gatehouse: ${record.label} (role ${record.role}) asks to run on ${record.connection}: ${record.reason}`;
  return JSON.stringify({
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*Approval needed* — ${record.label} (role \`${record.role}\`) on \`${record.connection}\`\n${record.reason}` } },
      { type: 'section', text: { type: 'mrkdwn', text: '```' + record.summary.slice(0, 2500) + '```' } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `Request ${record.id}, expires ${new Date(record.expiresAt).toISOString()}` }] },
      { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Review in Gatehouse' }, url: link }] },
    ],
  });
}

/** Sends a new request to every configured webhook; failures are reported, never block the request. */
export function notifyWebhooks(config: ApprovalsConfig, consoleUrl: string, record: ApprovalRecord, log: Logger): Promise<void[]> {
  return Promise.all(config.webhooks.map(async (hook) => {
    const body = webhookBody(hook.format, record, consoleUrl);
    const timestamp = String(Math.floor(Date.now() / 1000));
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-gatehouse-timestamp': timestamp, 'x-gatehouse-signature': signWebhook(hook.secret, timestamp, body) },
        body,
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) log.warn({ approval: record.id, host: new URL(hook.url).host, status: res.status }, 'approval webhook refused the notification');
    } catch (err) {
      log.warn({ approval: record.id, host: new URL(hook.url).host, err }, 'approval webhook unreachable');
    }
  }));
}
