import { describe, expect, it } from 'vitest';
import { BatchBuilder, BufferPool } from '../src/batch/batch-builder.js';
import { itemBytes, itemDocument, itemOrigin } from '../src/output/output.js';

describe('batch encoding', () => {
  it('puts each item as action line, document and newline, back to back, and finds each document again', () => {
    const builder = new BatchBuilder(new BufferPool(1));
    builder.append('{"create":{"_id":"a-0"}}\n', '{"message":"first"}');
    builder.append('{"create":{"_id":"a-1"}}\n', '{"message":"é 中文 😀"}');
    builder.append('', '{"message":"no action line"}');
    const { batch } = builder.seal();
    expect(batch.count).toBe(3);
    expect(batch.body.toString()).toBe(
      '{"create":{"_id":"a-0"}}\n{"message":"first"}\n{"create":{"_id":"a-1"}}\n{"message":"é 中文 😀"}\n{"message":"no action line"}\n',
    );
    expect([0, 1, 2].map((i) => JSON.parse(itemDocument(batch, i)).message)).toEqual([
      'first',
      'é 中文 😀',
      'no action line',
    ]);
    expect(itemBytes(batch, 1).toString()).toBe('{"create":{"_id":"a-1"}}\n{"message":"é 中文 😀"}\n');
  });

  it('grows past its initial space (64 KiB, 1,024 items) without losing what was encoded', () => {
    const builder = new BatchBuilder(new BufferPool(1));
    const doc = (n: number) => JSON.stringify({ n, pad: 'x'.repeat(100) });
    for (let n = 0; n < 5_000; n += 1) builder.append(`{"create":{"_id":"${n}"}}\n`, doc(n));
    const { batch } = builder.seal();
    expect(batch.count).toBe(5_000);
    expect(batch.body.length).toBeGreaterThan(64 * 1024);
    for (const n of [0, 1_023, 1_024, 4_999]) expect(itemDocument(batch, n)).toBe(doc(n));
    expect(batch.body.toString().split('\n').length).toBe(10_001);
  });

  it('reuses the space of a finished batch, and keeps at most `keep` spaces while idle', () => {
    const pool = new BufferPool(2);
    const first = new BatchBuilder(pool);
    first.append('', '{"n":1}');
    const { space } = first.seal();
    pool.give(space);
    expect(pool.size).toBe(1);
    const second = new BatchBuilder(pool);
    expect(pool.size).toBe(0);
    second.append('', '{"n":2}');
    expect(second.seal().space).toBe(space);
    expect(second.seal().batch.body.toString()).toBe('{"n":2}\n');
    for (let i = 0; i < 5; i += 1) pool.give(pool.take());
    pool.give(pool.take());
    const spaces = [pool.take(), pool.take(), pool.take(), pool.take()];
    for (const s of spaces) pool.give(s);
    expect(pool.size).toBe(2);
  });

  it('carries where each item goes and what identifies it, in runs of items alike', () => {
    const builder = new BatchBuilder(new BufferPool(1));
    builder.append('a\n', '{}', { idBase: 'fileA', offset: 0 }, 'logs-1');
    builder.append('a\n', '{}', { idBase: 'fileA', offset: 10 }, 'logs-1');
    builder.append('b\n', '{}', { idBase: 'fileB', offset: 5 }, 'logs-1');
    builder.append('c\n', '{}', { idBase: 'fileB', offset: 2 ** 40 }, 'logs-2');
    const { batch } = builder.seal();
    expect(batch.runs).toHaveLength(3);
    expect([0, 1, 2, 3].map((i) => itemOrigin(batch, i))).toEqual([
      { index: 'logs-1', idBase: 'fileA', offset: 0 },
      { index: 'logs-1', idBase: 'fileA', offset: 10 },
      { index: 'logs-1', idBase: 'fileB', offset: 5 },
      { index: 'logs-2', idBase: 'fileB', offset: 2 ** 40 },
    ]);
  });
});
