import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, interpolate } from '../src/index.js';

const where = () => 'cfg.yaml:1:1';
const settings = { seed: 20261202, numRuns: 1000 };
const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
// Braces in a default must balance (${A:-{x}} is "{x}"); a lone brace is covered by the last property.
const plain = fc.string({ maxLength: 40 }).filter((text) => !/[$}{]/.test(text));

describe('${VAR} interpolation, for any input', () => {
  it('leaves text without "${" unchanged', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }).filter((text) => !text.includes('${')),
        (text) => {
          expect(interpolate(text, {}, where)).toBe(text);
        },
      ),
      settings,
    );
  });

  it('replaces a set variable by its value and an unset one with a default by the default', () => {
    fc.assert(
      fc.property(name, plain, plain, plain, plain, (variable, before, value, fallback, after) => {
        const text = `${before}\${${variable}:-${fallback}}${after}`;
        expect(interpolate(text, { [variable]: value }, where)).toBe(`${before}${value || fallback}${after}`);
        expect(interpolate(text, {}, where)).toBe(`${before}${fallback}${after}`);
      }),
      settings,
    );
  });

  it('turns $${ into a literal ${', () => {
    fc.assert(
      fc.property(plain, plain, (before, after) => {
        expect(interpolate(`${before}$\${${after}`, {}, where)).toBe(`${before}\${${after}`);
      }),
      settings,
    );
  });

  it('never throws anything but a one-line ConfigError, whatever the text', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('$', '{', '}', ':-', '-', 'A', 'b', '_', '1', ' ', '$${'), {
          maxLength: 60,
        }),
        (parts) => {
          try {
            interpolate(parts.join(''), { A: 'x' }, where);
          } catch (error) {
            expect(error).toBeInstanceOf(ConfigError);
            expect((error as ConfigError).message).not.toContain('\n');
          }
        },
      ),
      settings,
    );
  });
});
