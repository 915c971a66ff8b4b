/**
 * A well-behaved raw-HTTP MCP client for cluster tests: keeps the sticky cookie (or not), re-initializes
 * on 404, and retries connection errors and 502/503 a bounded number of times.
 */
import { POST_HEADERS } from './server.js';

export interface CallOutcome {
  ok: boolean;
  reinitialized: number;
  retries: number;
  errors: string[];
}

export class WellBehavedClient {
  sid = '';
  cookie = '';
  /** Sessions started after the first one. */
  reinits = 0;
  private sessionsStarted = 0;
  /** Owner of the first session, for diagnostics. */
  firstOwner = '';
  /** Errors other than the expected 404 (and retried transport failures). */
  unexpected: string[] = [];
  private nextId = 1;

  constructor(readonly url: string, readonly keepCookies: boolean) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { ...POST_HEADERS, ...extra };
    if (this.keepCookies && this.cookie) h.cookie = this.cookie;
    if (this.sid) {
      h['mcp-session-id'] = this.sid;
      h['mcp-protocol-version'] = '2025-11-25';
    }
    return h;
  }

  private remember(res: Response): void {
    const set = res.headers.get('set-cookie');
    if (set && this.keepCookies) this.cookie = set.split(';')[0];
  }

  /** The node that owns the session, from the id's owner tag. */
  get owner(): string {
    const parts = this.sid.split('.');
    return parts.length === 3 ? Buffer.from(parts[1], 'base64url').toString('utf8') : '';
  }

  async initialize(): Promise<void> {
    this.sid = '';
    const res = await fetch(this.url, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'cluster-test', version: '1' } } }),
    });
    this.remember(res);
    if (res.status !== 200) throw new Error(`initialize answered ${res.status}: ${await res.text()}`);
    await res.json();
    this.sid = res.headers.get('mcp-session-id') ?? '';
    if (this.sessionsStarted++ > 0) this.reinits++;
    if (!this.firstOwner) this.firstOwner = this.owner;
    await fetch(this.url, { method: 'POST', headers: this.headers(), body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) }).then((r) => r.arrayBuffer());
  }

  /** One tool call that must succeed: re-initializes on 404, retries transport errors and 5xx. */
  async call(name = 'test_simple_text', args: Record<string, unknown> = {}, maxAttempts = 40): Promise<CallOutcome> {
    const out: CallOutcome = { ok: false, reinitialized: 0, retries: 0, errors: [] };
    const reinitsBefore = this.reinits;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      out.reinitialized = this.reinits - reinitsBefore;
      try {
        if (!this.sid) await this.initialize();
        const id = this.nextId++;
        const res = await fetch(this.url, { method: 'POST', headers: this.headers(), body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }) });
        this.remember(res);
        if (res.status === 404) {
          // The session is gone (its node died or drained): re-initialize, as the spec tells clients.
          await res.arrayBuffer();
          this.sid = '';
          continue;
        }
        if (res.status === 502 || res.status === 503) {
          await res.arrayBuffer();
          out.retries++;
          out.errors.push(`HTTP ${res.status}`);
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        const text = await res.text();
        const body = res.headers.get('content-type')?.includes('text/event-stream') ? JSON.parse(text.split('\n').filter((l) => l.startsWith('data: ') && l.length > 6).at(-1)!.slice(6)) : JSON.parse(text);
        if (res.status !== 200 || body.id !== id || !body.result) {
          out.errors.push(`HTTP ${res.status} ${text.slice(0, 200)}`);
          this.unexpected.push(`HTTP ${res.status} ${text.slice(0, 200)}`);
          return out;
        }
        out.ok = true;
        out.reinitialized = this.reinits - reinitsBefore;
        return out;
      } catch (err) {
        out.retries++;
        out.errors.push(String((err as Error).message));
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.unexpected.push(`gave up after ${maxAttempts} attempts: ${out.errors.slice(-3).join('; ')}`);
    return out;
  }
}
