/** In-process: the size check on initialize params and the subscription caps (src/protocol/limits.ts). */
import { describe, expect, it } from 'vitest';
import {
  jsonLargerThan,
  jsonShapeTooLarge,
  MAX_JSON_DEPTH,
  MAX_JSON_NODES,
  MAX_SUBSCRIPTION_URI_CHARS,
  MAX_SUBSCRIPTIONS,
} from '../../src/protocol/limits.js';
import { subscriptionError } from '../../workers/limits.js';

/** The smallest limit `v` fits in. */
function measured(v: unknown): number {
  let lo = 0;
  let hi = 1 << 20;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (jsonLargerThan(v, mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

describe('jsonLargerThan', () => {
  it('measures about what JSON.stringify writes (never less, a comma per member more at most)', () => {
    for (const v of [
      {},
      [],
      'str',
      123,
      -1.5e300,
      true,
      null,
      { a: 'b' },
      [1, 2, 3],
      { x: [{ y: null }, { z: false }], w: 'hello' },
      { name: 'client', version: '1.0.0' },
    ]) {
      const exact = JSON.stringify(v).length;
      expect(measured(v)).toBeGreaterThanOrEqual(exact);
      expect(measured(v)).toBeLessThanOrEqual(exact + 8);
    }
  });

  it('stops at the limit: deep nesting does not overflow the stack, huge strings and arrays cost nothing', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);
    expect(jsonLargerThan(deep, 16 * 1024)).toBe(true);
    expect(jsonLargerThan({ name: 'x'.repeat(4_000_000) }, 16 * 1024)).toBe(true);
    expect(jsonLargerThan(new Array(1_000_000).fill(0), 16 * 1024)).toBe(true);
    expect(jsonLargerThan({ name: 'x'.repeat(1000) }, 16 * 1024)).toBe(false);
  });
});

describe('subscriptionError', () => {
  it('refuses long URIs and new URIs past the count, never a URI already held', () => {
    expect(subscriptionError(null, 'u'.repeat(MAX_SUBSCRIPTION_URI_CHARS))).toBeNull();
    expect(subscriptionError(null, 'u'.repeat(MAX_SUBSCRIPTION_URI_CHARS + 1))).toContain(String(MAX_SUBSCRIPTION_URI_CHARS));
    const full = new Set(Array.from({ length: MAX_SUBSCRIPTIONS }, (_, i) => `r://${i}`));
    expect(subscriptionError(full, 'r://new')).toContain(String(MAX_SUBSCRIPTIONS));
    expect(subscriptionError(full, 'r://7')).toBeNull();
  });
});

describe('jsonShapeTooLarge', () => {
  const scan = (text: string): boolean => jsonShapeTooLarge(Buffer.from(text));

  it('counts nesting, objects, arrays and members, not strings or numbers', () => {
    expect(scan('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH))).toBe(false);
    expect(scan('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(scan(`[${'[],'.repeat(MAX_JSON_NODES - 2)}[]]`)).toBe(false);
    expect(scan(`[${'[],'.repeat(MAX_JSON_NODES - 1)}[]]`)).toBe(true);
    expect(scan(`[${'1,'.repeat(500_000)}1]`)).toBe(false);
  });

  it('skips brackets and colons inside strings, escaped quotes included', () => {
    const deepString = JSON.stringify('['.repeat(10_000) + '\\"' + ':'.repeat(MAX_JSON_NODES + 1));
    expect(scan(`{"a":${deepString}}`)).toBe(false);
  });
});
