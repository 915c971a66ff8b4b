/**
 * The thread side of 2026-07-28 requests: turns a `modern` message into a ModernDispatcher call and
 * its answer into `json` (a whole reply) or `event`s (notifications first, the response last, no
 * event ids: streams are not resumable in this revision). A `cancel` aborts the request; nothing is
 * sent for it afterwards.
 */
import type { BatchChannel } from '../src/pool/channel.js';
import type { CancelMsg, ModernMsg, ToFront } from '../src/pool/messages.js';
import { Bodies, classify, MsgKind } from '../src/protocol/jsonrpc.js';
import type { ModernDispatcher, ModernFlight, ModernSink } from './modern.js';
import { authInfoOf } from './auth-info.js';
import type { AuthInfo } from './api.js';
import { CallersHeld } from '../src/pool/callers.js';
import { ERA_MODERN, M_NOTIFICATION, M_OTHER } from '../src/metrics/metrics.js';

/**
 * 2026-07-28 requests one worker runs at once at most; beyond it the front gets 503 at once. Each
 * costs a handler closure and a timer, so a flood of calls that never finish stays bounded.
 */
export const MAX_MODERN_IN_FLIGHT = 10_000;

/** One request's way back to its exchange. */
class ExchangeSink implements ModernSink {
  streamed = false;
  done = false;
  constructor(
    private readonly host: ModernHost,
    readonly exchange: number,
  ) {}

  notify(body: string): void {
    if (this.done) return;
    this.streamed = true;
    this.host.out.push({ type: 'event', exchange: this.exchange, eventId: '', body, end: false });
  }

  reply(status: number, body: string): void {
    if (this.done) return;
    this.done = true;
    this.host.settled(this.exchange);
    if (this.streamed) this.host.out.push({ type: 'event', exchange: this.exchange, eventId: '', body, end: true });
    else this.host.out.push({ type: 'json', exchange: this.exchange, status, body });
  }
}

export class ModernHost {
  /** Requests of this worker still running, by exchange: what a `cancel` finds. */
  private readonly flights = new Map<number, ModernFlight>();
  /** Callers' auth info by principal key, as the front sent it (the front bounds it and says when to forget). */
  private readonly callers = new CallersHeld<AuthInfo>();

  constructor(
    readonly out: BatchChannel<ToFront>,
    private readonly dispatcher: ModernDispatcher,
  ) {}

  get inFlight(): number {
    return this.flights.size;
  }

  handle(m: ModernMsg | CancelMsg): void {
    if (m.type === 'cancel') {
      const f = this.flights.get(m.exchange);
      if (f) {
        this.flights.delete(m.exchange);
        f.cancel();
      }
      return;
    }
    let authInfo: AuthInfo | undefined;
    if (m.principal !== undefined) {
      authInfo = this.callers.take(m.principal, m.auth === undefined ? undefined : authInfoOf(m.auth), m.authReset === true);
      // Never run a handler without the caller authorization on vouched for.
      if (authInfo === undefined) {
        this.out.push({ type: 'json', exchange: m.exchange, status: 500, body: Bodies.internalError });
        return;
      }
    }
    // The front sends most requests unparsed (src/front/mcp.ts, unparsedModernMethod): this is the
    // body's one parse, and its answers are the ones the front gives a body it reads itself.
    let msg: { id: string | number; method: string; params?: unknown };
    try {
      msg = JSON.parse(m.body) as typeof msg;
    } catch {
      this.answerAs(m.exchange, M_OTHER, 400, Bodies.parseError);
      return;
    }
    const kind = classify(msg);
    if (kind !== MsgKind.Request) {
      // "If the server accepts [a notification], the server MUST return HTTP status code 202 Accepted
      // with no body"; this revision defines none over HTTP, so nothing is done with it.
      if (kind === MsgKind.Notification) this.answerAs(m.exchange, M_NOTIFICATION, 202, '');
      // A batch, a response, or no JSON-RPC message.
      else this.answerAs(m.exchange, M_OTHER, 400, Bodies.invalidRequest);
      return;
    }
    if (this.flights.size >= MAX_MODERN_IN_FLIGHT) {
      this.out.push({ type: 'json', exchange: m.exchange, status: 503, body: Bodies.overloaded });
      return;
    }
    const sink = new ExchangeSink(this, m.exchange);
    const flight = this.dispatcher.dispatch(
      {
        id: msg.id,
        method: msg.method,
        params: msg.params,
        headers: { protocolVersion: m.protocolVersion, method: m.mcpMethod, name: m.mcpName },
        paramHeaders: m.paramHeaders ?? undefined,
        authInfo,
        principal: m.principal,
      },
      sink,
    );
    if (flight && !sink.done) this.flights.set(m.exchange, flight);
  }

  /**
   * An answer to a body that is no request, counted as the front counts one it reads itself (not
   * under the method its header named).
   */
  private answerAs(exchange: number, method: number, status: number, body: string): void {
    this.out.push({ type: 'method', exchange, method: ERA_MODERN + method });
    this.out.push({ type: 'json', exchange, status, body });
  }

  settled(exchange: number): void {
    this.flights.delete(exchange);
  }

  /** The worker stops: every request still running is cancelled (the front ends their exchanges). */
  stop(): void {
    for (const f of this.flights.values()) f.cancel();
    this.flights.clear();
  }
}
