/**
 * The storm's load generator: N StormClients in this process, set up at a bounded rate, then driven
 * by their own timers. Events (a node killed or drained, a client-side storm) are announced here so
 * that each client's trouble is attributed to an event or counted as unexpected.
 */
import { Agent } from 'node:http';
import { callBodyFactory, IDLE_MS, keepAliveAgent, parseTarget } from './mcp-client.js';
import { ensureSession, reinitNow, startCalling, stopClient, StormClient, type FleetContext } from './storm-client.js';
import { Recorder, type StormEvent } from './storm-record.js';

export interface Pools {
  /** POSTs and DELETEs of all clients when they share a pool (--post-sockets); null: each client has its own. */
  shared: Agent | null;
  /** Each SSE stream gets a socket of its own (no keep-alive: a stream holds it to the end). */
  stream: Agent;
}

function createPools(sharedSockets: number | null): Pools {
  return {
    shared:
      sharedSockets === null
        ? null
        : new Agent({ keepAlive: true, maxSockets: sharedSockets, maxFreeSockets: sharedSockets, timeout: IDLE_MS, scheduling: 'lifo' }),
    stream: new Agent({ keepAlive: false, maxSockets: Infinity }),
  };
}

function destroyPools(p: Pools): void {
  p.shared?.destroy();
  p.stream.destroy();
}

export interface FleetOptions {
  url: string;
  clients: number;
  cookieless: number;
  callIntervalMs: number;
  tool: string;
  /** Sockets of a POST pool shared by all clients; null: each client keeps its own connection. */
  postSockets: number | null;
}

export class Fleet {
  readonly rec = new Recorder();
  readonly clients: StormClient[] = [];
  private readonly pools: Pools;
  private readonly ctx: FleetContext;

  constructor(readonly o: FleetOptions) {
    this.pools = createPools(o.postSockets);
    this.ctx = {
      target: parseTarget(o.url),
      pools: this.pools,
      rec: this.rec,
      callBody: callBodyFactory(o.tool),
      intervalMs: o.callIntervalMs,
      stopping: false,
    };
    // Cookie-less clients are spread evenly through the fleet (every k-th client).
    const cookieless = Math.round(o.clients * o.cookieless);
    for (let i = 0; i < o.clients; i++) {
      const keepsCookie = cookieless === 0 || Math.floor(((i + 1) * cookieless) / o.clients) === Math.floor((i * cookieless) / o.clients);
      // A client's own keep-alive connection for its POSTs and DELETEs, like a real HTTP/1.1 client: it
      // stays open between the calls of one second, so a storm does not have to reconnect it.
      this.clients.push(new StormClient(i, keepsCookie, this.ctx, this.pools.shared ?? keepAliveAgent(1)));
    }
  }

  /** Opens every session (initialize, initialized, GET stream) at `rate` per second, then starts the calls. */
  async ramp(rate: number, timeoutMs: number): Promise<void> {
    const step = Math.max(1, Math.round(rate / 20));
    const started: Promise<unknown>[] = [];
    for (let i = 0; i < this.clients.length; i += step) {
      for (const c of this.clients.slice(i, i + step)) {
        started.push(
          ensureSession(c).then(() => {
            if (!this.ctx.stopping) startCalling(c);
          }),
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(started);
    // Failed set-ups are retried by the clients' calls; wait until every client holds a session and a stream.
    const deadline = Date.now() + timeoutMs;
    while (this.clients.some((c) => c.sid === '' || !c.streamOpen)) {
      if (Date.now() > deadline)
        throw new Error(
          `set-up: ${this.clients.filter((c) => c.sid === '' || !c.streamOpen).length} clients without a session or stream after ${timeoutMs} ms`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
    this.rec.setupDone = true;
  }

  get sessions(): number {
    let n = 0;
    for (const c of this.clients) if (c.sid !== '') n++;
    return n;
  }

  get streams(): number {
    let n = 0;
    for (const c of this.clients) if (c.streamOpen) n++;
    return n;
  }

  sessionIds(): Set<string> {
    const s = new Set<string>();
    for (const c of this.clients) if (c.sid !== '') s.add(c.sid);
    return s;
  }

  /** Announces that `nodes` lose their sessions now; every client on them gets an incident. */
  nodeEvent(label: string, nodes: string[]): StormEvent {
    const e = this.rec.addEvent(label, nodes);
    for (const n of nodes) this.rec.disrupt(e, n);
    for (const c of this.clients) {
      if (c.incident === null && c.sid !== '' && nodes.includes(c.owner)) c.incident = this.rec.openIncident(e, c.index, c.sid);
    }
    return e;
  }

  /** The node runs again: sessions it creates from now on are not affected by the earlier event. */
  nodeRestored(node: string): void {
    this.rec.restored(node);
  }

  /** Every client drops its session and re-initializes at the same moment. */
  stormAll(label: string): StormEvent {
    const e = this.rec.addEvent(label, []);
    for (const c of this.clients) reinitNow(c, e);
    return e;
  }

  /** Resolves true when no client is still recovering, false after `timeoutMs`. */
  async waitRecovered(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.rec.openIncidents > 0) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  async stop(): Promise<void> {
    if (this.ctx.stopping) return;
    this.ctx.stopping = true;
    for (const c of this.clients) {
      // A call in flight now ends without an outcome (neither ok nor lost): counted here, shown in the report.
      if (c.callInFlight) this.rec.totals.callsInFlightAtStop++;
      stopClient(c);
      if (c.incident) {
        this.rec.abandon(c.incident);
        c.incident = null;
      }
    }
    // Calls in flight end on their own (their outcome is no longer recorded).
    await new Promise((r) => setTimeout(r, 200));
    destroyPools(this.pools);
  }
}
