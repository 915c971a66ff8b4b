/** lib/exchange.ts: two answers are the same bytes but for the Date value and a session id of the same length. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exchangeDifferences, type Exchange, type RawAnswer } from '../lib/exchange.js';

function answer(sid: string | null, date: string, body: string, type = 'application/json'): RawAnswer {
  const headers: Array<[string, string]> = [['content-type', type]];
  if (sid !== null) headers.push(['mcp-session-id', sid]);
  headers.push(['Date', date], ['uWebSockets', '20'], ['Content-Length', String(body.length)]);
  return { statusLine: 'HTTP/1.1 200 OK', headers, body };
}

const INIT = '{"jsonrpc":"2.0","id":"p","result":{}}';
const TOOLS = '{"jsonrpc":"2.0","id":"p","result":{"content":[]}}';
const MODERN = '{"jsonrpc":"2.0","id":"p","result":{"content":[],"resultType":"complete"}}';
const ours: Exchange = {
  init: answer('abcdefgh', 'Sun, 29 Nov 2026 10:10:18 GMT', INIT),
  tools: answer(null, 'Sun, 29 Nov 2026 10:10:18 GMT', TOOLS),
  modern: answer(null, 'Sun, 29 Nov 2026 10:10:18 GMT', MODERN),
};

void test('another Date and another session id of the same length are the same answer', () => {
  const theirs: Exchange = {
    init: answer('zyxwvuts', 'Sun, 29 Nov 2026 11:00:00 GMT', INIT),
    tools: answer(null, 'Sun, 29 Nov 2026 11:00:00 GMT', TOOLS),
    modern: answer(null, 'Sun, 29 Nov 2026 11:00:00 GMT', MODERN),
  };
  assert.deepEqual(exchangeDifferences(ours, theirs), []);
});

void test('a different body, header value, header order, status or session id length is named', () => {
  const d = (theirs: Exchange): string => exchangeDifferences(ours, theirs).join('\n');
  assert.match(d({ ...ours, tools: answer(null, 'x', TOOLS.replace('"p"', '"q"')) }), /tools\/call: body/);
  assert.match(
    d({ ...ours, tools: answer(null, 'Sun, 29 Nov 2026 10:10:18 GMT', TOOLS, 'text/plain') }),
    /tools\/call: header content-type/,
  );
  assert.match(
    d({ ...ours, init: answer('short', 'Sun, 29 Nov 2026 10:10:18 GMT', INIT) }),
    /initialize: header mcp-session-id "short" instead of 8 characters/,
  );
  assert.match(d({ ...ours, init: { ...ours.init, headers: [...ours.init.headers].reverse() } }), /initialize: headers \[/);
  assert.match(d({ ...ours, init: { ...ours.init, statusLine: 'HTTP/1.1 202 Accepted' } }), /initialize: status line/);
  assert.match(d({ ...ours, modern: answer(null, 'x', MODERN.replace(',"resultType":"complete"', '')) }), /modern tools\/call: body/);
});
