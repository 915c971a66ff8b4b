/**
 * What the storm clients saw, kept per one-second bucket (time series) and per incident (recovery
 * times). An incident is one client's session being taken away by an event: it opens at the event,
 * is noticed at the first sign (stream ended, 404, transport error), and closes at the first
 * successful tool call on a new session.
 */

export interface Second {
  callsOk: number;
  callAttempts: number;
  inits: number;
  streamOpens: number;
  /** 404 answers seen by clients (expected for affected clients). */
  notFound: number;
  /** Errors other than an affected client's 404. */
  errors: number;
  callsLost: number;
  /** Latency of successful tools/call requests (one HTTP exchange), ms. */
  requestMs: number[];
  /** Latency of successful tool calls including retries and re-initialization, ms. */
  callMs: number[];
  /** Latency of successful initialize requests, ms. */
  initMs: number[];
}

function newSecond(): Second {
  return {
    callsOk: 0,
    callAttempts: 0,
    inits: 0,
    streamOpens: 0,
    notFound: 0,
    errors: 0,
    callsLost: 0,
    requestMs: [],
    callMs: [],
    initMs: [],
  };
}

export interface StormEvent {
  index: number;
  label: string;
  /** Nodes whose sessions the event takes away (all nodes for a client-side storm). */
  nodes: string[];
  /** ms since the run's start. */
  at: number;
  /** Clients whose session was on those nodes when the event fired. */
  affected: number;
}

export interface Incident {
  event: number;
  client: number;
  /** The session the event took away ('' if the client had none yet). */
  sid: string;
  openedAt: number;
  /** First sign seen by the client (stream end, 404, transport error); 0 until then. */
  noticedAt: number;
  noticedBy: string;
  /** First answer saying the session is gone (404), or the client-side decision to drop it. */
  lostAt: number;
  lostBy: string;
  /** New session obtained. */
  reinitAt: number;
  /** First successful tool call on the new session. */
  recoveredAt: number;
}

/** A node whose sessions, obtained before `until`, are expected to disappear. */
interface Disruption {
  node: string;
  event: number;
  until: number;
}

export type Op = 'init' | 'notify' | 'call' | 'get' | 'delete';

export class Recorder {
  readonly t0 = performance.now();
  readonly seconds: Second[] = [];
  readonly events: StormEvent[] = [];
  readonly incidents: Incident[] = [];
  /** "scope op what" → count; scope is affected or unaffected. */
  readonly errorKinds = new Map<string, number>();
  /** "scope op what" → when it was first seen (ms since start) and the answer's body then. */
  readonly errorFirst = new Map<string, { at: number; detail: string }>();
  /** Until the fleet is set up, errors are counted apart (scope "set-up"): they are not the storm's. */
  setupDone = false;
  readonly totals = {
    callsStarted: 0,
    callsOk: 0,
    callsLost: 0,
    callsRetried: 0,
    inits: 0,
    notFoundAffected: 0,
    notFoundUnaffected: 0,
    errorsAffected: 0,
    errorsUnaffected: 0,
    errorsSetup: 0,
    streamDropsUnaffected: 0,
    deletes: 0,
    /** Calls started but neither ok nor lost when the fleet stopped (their outcome is never seen). */
    callsInFlightAtStop: 0,
  };
  /**
   * Bystanders disturbed: clients (by index) whose session no event took away that still saw an
   * error, an unexpected 404 or a dropped stream after the set-up.
   */
  readonly disturbed = new Set<number>();
  private readonly disruptions: Disruption[] = [];
  private open = 0;

  /** ms since the run's start. */
  now(): number {
    return performance.now() - this.t0;
  }

  second(at = this.now()): Second {
    const i = Math.floor(at / 1000);
    while (this.seconds.length <= i) this.seconds.push(newSecond());
    return this.seconds[i];
  }

  get openIncidents(): number {
    return this.open;
  }

  addEvent(label: string, nodes: string[]): StormEvent {
    const e: StormEvent = { index: this.events.length, label, nodes, at: this.now(), affected: 0 };
    this.events.push(e);
    return e;
  }

  /** Sessions of `node` obtained from now until `restored` is called are affected by event `e`. */
  disrupt(e: StormEvent, node: string): void {
    this.disruptions.push({ node, event: e.index, until: Infinity });
  }

  restored(node: string): void {
    const now = this.now();
    for (const d of this.disruptions) if (d.node === node && d.until === Infinity) d.until = now;
  }

  /** The event that takes away a session of `owner` obtained at `obtainedAt`, or -1. */
  disruptedBy(owner: string, obtainedAt: number): number {
    for (let i = this.disruptions.length - 1; i >= 0; i--) {
      const d = this.disruptions[i];
      if (d.node === owner && obtainedAt <= d.until) return d.event;
    }
    return -1;
  }

  openIncident(e: StormEvent | number, client: number, sid: string): Incident {
    const ev = typeof e === 'number' ? this.events[e] : e;
    const inc: Incident = {
      event: ev.index,
      client,
      sid,
      openedAt: this.now(),
      noticedAt: 0,
      noticedBy: '',
      lostAt: 0,
      lostBy: '',
      reinitAt: 0,
      recoveredAt: 0,
    };
    ev.affected++;
    this.open++;
    return inc;
  }

  closeIncident(inc: Incident): void {
    inc.recoveredAt = this.now();
    this.incidents.push(inc);
    this.open--;
  }

  /** Incidents still open at the end (clients that never recovered) are kept too. */
  abandon(inc: Incident): void {
    this.incidents.push(inc);
    this.open--;
  }

  /** `client`: the client's index, or -1 when the error is not one client's. */
  error(affected: boolean, op: Op, what: string, detail: string, client: number): void {
    if (this.setupDone && !affected && client >= 0) this.disturbed.add(client);
    const key = `${!this.setupDone ? 'set-up' : affected ? 'affected' : 'unaffected'} ${op} ${what}`;
    this.errorKinds.set(key, (this.errorKinds.get(key) ?? 0) + 1);
    if (!this.errorFirst.has(key)) this.errorFirst.set(key, { at: this.now(), detail: detail.slice(0, 200) });
    if (!this.setupDone) this.totals.errorsSetup++;
    else if (affected) this.totals.errorsAffected++;
    else this.totals.errorsUnaffected++;
    this.second().errors++;
  }

  notFound(affected: boolean, op: Op, client: number): void {
    this.second().notFound++;
    if (affected) this.totals.notFoundAffected++;
    else if (!this.setupDone) this.error(false, op, 'HTTP 404', '', client);
    else {
      this.totals.notFoundUnaffected++;
      this.error(false, op, 'HTTP 404', '', client);
    }
  }
}
