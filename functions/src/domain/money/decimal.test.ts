import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { listCurrencies } from './currency.js';
import { DECIMAL_TEXT_LENGTH_MAX, formatDecimal, parseDecimal } from './decimal.js';
import { AMOUNT_MINOR_MAX, money } from './money.js';
import { roundingModes } from './rounding.js';

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TallyError ? error.reason : `not a TallyError: ${String(error)}`;
  }
  return undefined;
}

const currencies = listCurrencies();
const digitArb = fc.constantFrom(...'0123456789');
const digitsArb = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: digitArb, minLength, maxLength });

/**
 * A canonical decimal text for a currency with `exponent` fraction digits, built by string
 * concatenation (not by formatDecimal): no leading zeros, no "-0", within the int64 range.
 */
function canonicalTextArb(exponent: number): fc.Arbitrary<string> {
  const integerMax = AMOUNT_MINOR_MAX / 10n ** BigInt(exponent) - 1n;
  return fc
    .tuple(fc.boolean(), fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: integerMax })), digitsArb(exponent, exponent))
    .map(([negative, integer, fraction]) => {
      const unsigned = exponent === 0 ? integer.toString() : `${integer}.${fraction}`;
      const isZero = integer === 0n && /^0*$/.test(fraction);
      return negative && !isZero ? `-${unsigned}` : unsigned;
    });
}

describe('formatDecimal', () => {
  it.each([
    [100n, 'USD', '1.00'],
    [-5n, 'USD', '-0.05'],
    [0n, 'USD', '0.00'],
    [123456n, 'USD', '1234.56'],
    [100n, 'JPY', '100'],
    [-7n, 'JPY', '-7'],
    [1000n, 'BHD', '1.000'],
    [-1n, 'BHD', '-0.001'],
    [10000n, 'CLF', '1.0000'],
    [1n, 'UYW', '0.0001'],
    [AMOUNT_MINOR_MAX, 'USD', '92233720368547758.07'],
    [-AMOUNT_MINOR_MAX, 'JPY', '-9223372036854775807'],
  ])('formats %s %s as %s', (amountMinor, currency, text) => {
    expect(formatDecimal(money(amountMinor, currency))).toBe(text);
  });
});

describe('parseDecimal', () => {
  it.each([
    ['12.34', 'USD', 1234n],
    ['-0.5', 'USD', -50n],
    ['1000', 'USD', 100000n],
    ['0', 'USD', 0n],
    ['-0', 'USD', 0n],
    ['-0.00', 'USD', 0n],
    ['007.10', 'USD', 710n],
    ['1.230', 'USD', 123n], // trailing zeros lose nothing
    ['100.0', 'JPY', 100n],
    ['100', 'JPY', 100n],
    ['1.5', 'BHD', 1500n],
    ['0.0001', 'CLF', 1n],
    ['92233720368547758.07', 'USD', AMOUNT_MINOR_MAX],
    ['-92233720368547758.07', 'USD', -AMOUNT_MINOR_MAX],
  ])('parses %j %s as %s minor units', (text, currency, amountMinor) => {
    expect(parseDecimal(text, currency)).toEqual(money(amountMinor, currency));
  });

  it.each([
    ['1.234', 'USD', 'AMOUNT_PRECISION_EXCEEDED'],
    ['0.5', 'JPY', 'AMOUNT_PRECISION_EXCEEDED'],
    ['1.00001', 'CLF', 'AMOUNT_PRECISION_EXCEEDED'],
    ['1e5', 'USD', 'FIELD_INVALID'],
    ['1E5', 'USD', 'FIELD_INVALID'],
    ['abc', 'USD', 'FIELD_INVALID'],
    ['', 'USD', 'FIELD_INVALID'],
    [' 1', 'USD', 'FIELD_INVALID'],
    ['1 ', 'USD', 'FIELD_INVALID'],
    ['+1', 'USD', 'FIELD_INVALID'],
    ['1,000.00', 'USD', 'FIELD_INVALID'],
    ['1_000', 'USD', 'FIELD_INVALID'],
    ['1,5', 'USD', 'FIELD_INVALID'],
    ['.5', 'USD', 'FIELD_INVALID'],
    ['5.', 'USD', 'FIELD_INVALID'],
    ['-', 'USD', 'FIELD_INVALID'],
    ['--1', 'USD', 'FIELD_INVALID'],
    ['0x10', 'USD', 'FIELD_INVALID'],
    ['Infinity', 'USD', 'FIELD_INVALID'],
    ['NaN', 'USD', 'FIELD_INVALID'],
    ['١٢', 'USD', 'FIELD_INVALID'], // Arabic-Indic digits
    ['1'.repeat(DECIMAL_TEXT_LENGTH_MAX + 1), 'USD', 'FIELD_INVALID'],
    ['92233720368547758.08', 'USD', 'AMOUNT_OUT_OF_RANGE'],
    ['-9223372036854775808', 'JPY', 'AMOUNT_OUT_OF_RANGE'],
    ['1.00', 'XXX', 'UNKNOWN_CURRENCY'],
    ['1.00', 'usd', 'UNKNOWN_CURRENCY'],
    ['1.00', 'ZZZ', 'UNKNOWN_CURRENCY'],
  ])('rejects %j %s with %s', (text, currency, reason) => {
    expect(reasonOf(() => parseDecimal(text, currency))).toBe(reason);
  });

  it('rejects non-strings from untyped callers as FIELD_INVALID', () => {
    expect(reasonOf(() => parseDecimal(12.34 as unknown as string, 'USD'))).toBe('FIELD_INVALID');
  });

  it('names the field in errors', () => {
    try {
      parseDecimal('1.234', 'USD', { field: 'refund.amount' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(TallyError);
      expect((error as TallyError).metadata).toMatchObject({ field: 'refund.amount' });
    }
  });

  it.each([
    ['2.345', 'half-up', 235n],
    ['2.345', 'half-even', 234n],
    ['2.355', 'half-even', 236n],
    ['2.345', 'down', 234n],
    ['-2.345', 'half-up', -235n],
    ['-2.345', 'half-even', -234n],
    ['-2.345', 'down', -234n],
    ['2.3451', 'half-even', 235n],
    ['2.344999', 'half-up', 234n], // no double rounding via 2.345
    ['-0.004', 'half-up', 0n],
  ] as const)('rounds %j %s to %s cents', (text, rounding, amountMinor) => {
    expect(parseDecimal(text, 'USD', { rounding })).toEqual(money(amountMinor, 'USD'));
  });

  it('rounds only when the extra digits are not all zero', () => {
    expect(parseDecimal('1.2300', 'USD', { rounding: 'half-up' })).toEqual(money(123n, 'USD'));
  });
});

describe('round trips', () => {
  it('format(parse(x)) === x for canonical text in every current currency', () => {
    for (const { code, exponent } of currencies) {
      fc.assert(
        fc.property(canonicalTextArb(exponent), (text) => {
          expect(formatDecimal(parseDecimal(text, code))).toBe(text);
        }),
        { numRuns: 30 },
      );
    }
  });

  it('parse(format(m)) equals m for any amount in any currency', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...currencies.map((c) => c.code)),
        fc.bigInt({ min: -AMOUNT_MINOR_MAX, max: AMOUNT_MINOR_MAX }),
        (currency, amountMinor) => {
          const m = money(amountMinor, currency);
          expect(parseDecimal(formatDecimal(m), currency)).toEqual(m);
        },
      ),
    );
  });

  it('rounding agrees with rounding by looking at the dropped digits', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        digitsArb(1, 12),
        digitsArb(2, 2),
        digitsArb(1, 6),
        fc.constantFrom(...roundingModes),
        (negative, integer, kept, dropped, rounding) => {
          const text = `${negative ? '-' : ''}${integer}.${kept}${dropped}`;
          // Reference by string inspection: truncate, then decide from the first dropped digit and
          // whether anything non-zero follows it.
          const truncated = BigInt(integer + kept);
          const first = Number(dropped[0]);
          const restNonZero = /[1-9]/.test(dropped.slice(1));
          let up: boolean;
          if (rounding === 'down') up = false;
          else if (first !== 5 || restNonZero) up = first >= 5;
          else up = rounding === 'half-up' || truncated % 2n === 1n;
          const magnitude = truncated + (up ? 1n : 0n);
          const expected = negative ? -magnitude : magnitude;
          expect(parseDecimal(text, 'USD', { rounding }).amountMinor).toBe(expected);
        },
      ),
    );
  });
});
