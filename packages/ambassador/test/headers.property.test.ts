import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forwardHeaders } from '../src/index.js';

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
];
const INTERESTING = [
  ...HOP_BY_HOP,
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
];
const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
/** A header name in any letter case: often one the ambassador treats specially. */
const headerName = fc
  .tuple(fc.oneof(fc.constantFrom(...INTERESTING), token), fc.array(fc.boolean(), { maxLength: 24 }))
  .map(([name, upper]) => [...name].map((char, i) => (upper[i] ? char.toUpperCase() : char)).join(''));
const headerValue = fc.oneof(
  fc.stringMatching(/^[\t\x20-\x7e]{0,20}$/),
  fc
    .array(fc.oneof(fc.constantFrom(...INTERESTING, 'close', 'keep-alive', 'Upgrade'), token), {
      maxLength: 4,
    })
    .map((names) => names.join(', ')),
);
const rawHeaders = fc.array(fc.tuple(headerName, headerValue), { maxLength: 30 });

/** What node:http makes of raw header lines: `headers` with repeated values joined (Connection with ", "). */
function incoming(pairs: Array<[string, string]>, remoteAddress: string | undefined): IncomingMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of pairs) {
    const lower = name.toLowerCase();
    if (headers[lower] === undefined) headers[lower] = value;
    else if (lower !== 'host') headers[lower] = `${headers[lower]}, ${value}`;
  }
  return { rawHeaders: pairs.flat(), headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

function connectionListed(pairs: Array<[string, string]>): Set<string> {
  const listed = new Set<string>();
  for (const [name, value] of pairs)
    if (name.toLowerCase() === 'connection')
      for (const item of value.split(',')) listed.add(item.trim().toLowerCase());
  return listed;
}

const settings = { seed: 20261202, numRuns: 400 };

describe('forwardHeaders (property-based)', () => {
  it('never throws and never forwards a hop-by-hop header, whatever the client sends', () => {
    fc.assert(
      fc.property(rawHeaders, fc.option(fc.ipV4(), { nil: undefined }), (pairs, client) => {
        const { headers } = forwardHeaders(incoming(pairs, client));
        for (let i = 0; i < headers.length; i += 2)
          expect(HOP_BY_HOP).not.toContain((headers[i] as string).toLowerCase());
      }),
      settings,
    );
  });

  it('drops every header the client lists in Connection (except the connection options close/keep-alive)', () => {
    fc.assert(
      fc.property(rawHeaders, (pairs) => {
        const listed = connectionListed(pairs);
        const { headers } = forwardHeaders(incoming(pairs, '10.0.0.1'));
        for (let i = 0; i < headers.length; i += 2) {
          const name = (headers[i] as string).toLowerCase();
          if (name.startsWith('x-forwarded-') || name === 'x-request-id') continue;
          expect(listed.has(name)).toBe(false);
        }
      }),
      settings,
    );
  });

  it('sends exactly one X-Forwarded-For, ending with the client address, and keeps a client x-request-id', () => {
    fc.assert(
      fc.property(rawHeaders, fc.ipV4(), (pairs, client) => {
        const { headers, requestId } = forwardHeaders(incoming(pairs, client));
        const values = (name: string) =>
          headers
            .filter((_, i) => i % 2 === 0 && (headers[i] as string).toLowerCase() === name)
            .map((_, j) => j);
        const forwardedFor: string[] = [];
        const requestIds: string[] = [];
        for (let i = 0; i < headers.length; i += 2) {
          const name = (headers[i] as string).toLowerCase();
          if (name === 'x-forwarded-for') forwardedFor.push(headers[i + 1] as string);
          if (name === 'x-request-id') requestIds.push(headers[i + 1] as string);
        }
        expect(values('x-forwarded-for')).toHaveLength(1);
        expect(forwardedFor[0]?.endsWith(client)).toBe(true);
        const listed = connectionListed(pairs);
        const sent = pairs.find(([name]) => name.toLowerCase() === 'x-request-id');
        if (sent && !listed.has('x-request-id')) expect(requestId).toBe(sent[1]);
        expect(requestIds).toContain(requestId);
      }),
      settings,
    );
  });

  it('with an absolute-form authority, sends exactly that one Host and counts the Host headers the client sent', () => {
    fc.assert(
      fc.property(rawHeaders, fc.domain(), (pairs, authority) => {
        const { headers, hostHeaders } = forwardHeaders(incoming(pairs, '10.0.0.1'), undefined, authority);
        const hosts = headers.filter(
          (_, i) => i % 2 === 1 && (headers[i - 1] as string).toLowerCase() === 'host',
        );
        expect(hosts).toEqual([authority]);
        expect(hostHeaders).toBe(pairs.filter(([name]) => name.toLowerCase() === 'host').length);
      }),
      settings,
    );
  });
});
