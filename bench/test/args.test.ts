/** lib/args.ts: one option table gives typed values, errors naming the flag, and the --help text. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineCommand, UsageError } from '../lib/args.js';

const command = defineCommand(
  'usage: x [flags]',
  {
    rounds: { type: 'int', min: 1, max: 9, help: 'rounds' },
    workers: { type: 'int', min: 1, nullWord: 'default', help: 'workers' },
    quietWait: { type: 'num', min: 0, help: 'seconds' },
    rates: { type: 'ints', min: 0, help: 'rates' },
    contenders: { type: 'list', of: ['ours', 'sdk-v1', 'sdk-v2'], renamed: { sdk: 'sdk-v1' }, help: 'who' },
    scenarios: { type: 'list', of: ['kill', 'rolling'], allWord: 'all', aliases: ['scenario'], help: 'what' },
    wrk: { type: 'bool', negatable: true, help: 'wrk' },
    jitter: { type: 'onOff', help: 'jitter' },
    nodeEnv: { type: 'pairs', namePattern: /^[A-Z_]+$/, help: 'env' },
  },
  { rounds: 3, contenders: ['ours', 'sdk-v1'] },
);

function usageError(argv: string[]): UsageError {
  try {
    command.parse(argv);
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  assert.fail(`no usage error for ${argv.join(' ')}`);
}

void test('only the flags given come back, typed, under their camelCase keys', () => {
  assert.deepEqual(command.parse([]), {});
  const v = command.parse([
    '--rounds',
    '2',
    '--workers',
    'default',
    '--quiet-wait',
    '0.5',
    '--rates',
    '0,10',
    '--contenders',
    'sdk-v2,sdk,ours',
    '--scenario',
    'all',
    '--no-wrk',
    '--jitter',
    'off',
    '--node-env',
    'A=1',
    '--node-env',
    'B_C=x=y',
  ]);
  assert.deepEqual(v, {
    rounds: 2,
    workers: null,
    quietWait: 0.5,
    rates: [0, 10],
    // Kept in the table's order; the old name maps to the new one.
    contenders: ['ours', 'sdk-v1', 'sdk-v2'],
    scenarios: ['kill', 'rolling'],
    wrk: false,
    jitter: false,
    nodeEnv: { A: '1', B_C: 'x=y' },
  });
  assert.equal(command.parse(['--wrk']).wrk, true);
});

void test('a bad value names its flag and what was expected', () => {
  assert.match(usageError(['--rounds', '10']).message, /^invalid --rounds "10": expected an integer in 1\.\.9/);
  assert.match(usageError(['--workers', 'x']).message, /^invalid --workers "x": expected an integer in 1\.\.\d+ or default/);
  assert.match(
    usageError(['--contenders', 'ours,nope']).message,
    /^invalid --contenders "ours,nope": expected a comma list of ours, sdk-v1, sdk-v2/,
  );
  assert.match(usageError(['--node-env', 'lower=1']).message, /^invalid --node-env "lower=1": expected NAME=value/);
  assert.match(usageError(['--wrk', '--no-wrk']).message, /^invalid --wrk .*one of --wrk and --no-wrk/);
  assert.match(usageError(['--scenario', 'kill', '--scenarios', 'kill']).message, /only one of --scenarios, --scenario/);
  assert.match(usageError(['--bogus']).message, /Unknown option '--bogus'/);
  assert.equal(usageError(['--rounds', '10']).help, false);
});

void test('--help is generated from the table, with the defaults given', () => {
  const err = usageError(['--help']);
  assert.equal(err.help, true);
  assert.match(err.message, /^usage: x \[flags\]\n/);
  assert.match(err.message, /--rounds N +rounds \(3\)\n/);
  assert.match(err.message, /--quiet-wait N +seconds\n/);
  assert.match(err.message, /--contenders a,b +who \(ours,sdk-v1\)\n/);
  assert.match(err.message, /--wrk \/ --no-wrk +wrk\n/);
  assert.match(err.message, /--scenarios \| --scenario a,b +what\n/);
  assert.equal(usageError(['-h']).help, true);
});

void test('fail() raises the error of a check across flags, named by its key', () => {
  assert.throws(() => command.fail('quietWait', '5', 'less than rounds'), {
    code: 'BENCH_ERR_USAGE',
    message: /^invalid --quiet-wait "5": expected less than rounds\n/,
  });
});
