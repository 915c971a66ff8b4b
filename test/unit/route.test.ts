/** In-process: the session route packs worker slot and protocol revision into one number. */
import { describe, expect, it } from 'vitest';
import { encodeRoute, REVISION_SLOTS, routeRevision, routeSlot } from '../../src/front/route.js';
import { SUPPORTED_VERSIONS } from '../../src/protocol/versions.js';

describe('route encoding', () => {
  it('round-trips every slot and supported revision', () => {
    expect(SUPPORTED_VERSIONS.length).toBeLessThanOrEqual(REVISION_SLOTS);
    for (let slot = 0; slot < 64; slot++) {
      for (let v = 0; v < SUPPORTED_VERSIONS.length; v++) {
        const route = encodeRoute(slot, v);
        expect([routeSlot(route), routeRevision(route)]).toEqual([slot, v]);
      }
    }
  });

  it('refuses a revision index the encoding cannot hold', () => {
    expect(() => encodeRoute(0, REVISION_SLOTS)).toThrow(RangeError);
    expect(() => encodeRoute(0, -1)).toThrow(RangeError);
  });
});
