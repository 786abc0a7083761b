import { describe, expect, it } from 'vitest';
import { newRequestId } from '../src/listener/headers.js';

describe('generated request ids', () => {
  it('are UUID-shaped (version 4 and variant bits set) and never repeat within a process', () => {
    const ids = Array.from({ length: 10_000 }, () => newRequestId());
    for (const id of ids.slice(0, 50))
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
