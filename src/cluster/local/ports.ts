/**
 * Free loopback ports for processes that cannot listen on port 0 and report back (HAProxy's bind,
 * redis-server, the cluster's node ports that HAProxy must know up front). A block of consecutive
 * ports is checked free by binding them all at once, then released just before use; the window is
 * small, and callers retry on a clash.
 */
import { createServer, type Server } from 'node:net';

function bind(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/** `count` consecutive free ports, starting at a random place in 20000..59999. */
export async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    const held: Server[] = [];
    let ok = true;
    for (let i = 0; i < count; i++) {
      const s = await bind(base + i);
      if (!s) {
        ok = false;
        break;
      }
      held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free ports found`);
}
