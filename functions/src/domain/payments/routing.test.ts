import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TallyError } from '../errors.js';
import { type PspAmountLimits, pspAmountRefusal } from './psp-limits.js';
import { type PspName, pspNames } from './psp-vocabulary.js';
import {
  ROUTING_RULES_MAX,
  type RoutablePayment,
  type RoutingRuleInput,
  cardBrands,
  choosePsps,
  matchRule,
  routePayment,
  validateRoutingRules,
} from './routing.js';

const allUp = { stripe: true, adyen: true } as const;
const payment = (over: Partial<RoutablePayment> = {}): RoutablePayment => ({
  amountMinor: 5_000n,
  currency: 'USD',
  cardBrand: 'visa',
  country: 'US',
  ...over,
});

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof TallyError)) throw error;
    return `${error.reason} ${error.metadata.field ?? ''}`;
  }
  return undefined;
}

const rules = validateRoutingRules([
  { name: 'big-eur', currencies: ['EUR'], amountMinorMin: 100_000n, choices: [{ psp: 'adyen', weight: 1 }] },
  { name: 'amex', cardBrands: ['amex'], choices: [{ psp: 'stripe', weight: 1 }], fallbacks: ['adyen'] },
  { name: 'fr', countries: ['FR'], amountMinorMax: 99_999n, choices: [{ psp: 'adyen', weight: 1 }] },
  { name: 'split', choices: [{ psp: 'stripe', weight: 3 }, { psp: 'adyen', weight: 1 }] },
]);

describe('routing rules', () => {
  it('the first matching rule decides', () => {
    expect(matchRule(rules, payment({ currency: 'EUR', amountMinor: 100_000n }))?.name).toBe('big-eur');
    expect(matchRule(rules, payment({ currency: 'EUR', amountMinor: 99_999n, country: 'FR' }))?.name).toBe('fr');
    expect(matchRule(rules, payment({ currency: 'EUR', amountMinor: 100_000n, cardBrand: 'amex' }))?.name).toBe('big-eur');
    expect(matchRule(rules, payment({ cardBrand: 'amex' }))?.name).toBe('amex');
    expect(matchRule(rules, payment({ cardBrand: null }))?.name).toBe('split');
    expect(matchRule(rules, payment({ country: null }))?.name).toBe('split');
    expect(matchRule(rules.slice(0, 1), payment())).toBeNull();
  });

  it('weighted pick first, then the other choices heaviest first, then fallbacks', () => {
    expect(choosePsps(rules, payment(), allUp, 0)).toEqual(['stripe', 'adyen']);
    expect(choosePsps(rules, payment(), allUp, 0.74)).toEqual(['stripe', 'adyen']);
    expect(choosePsps(rules, payment(), allUp, 0.75)).toEqual(['adyen', 'stripe']);
    expect(choosePsps(rules, payment(), allUp, 0.9999)).toEqual(['adyen', 'stripe']);
    expect(choosePsps(rules, payment({ cardBrand: 'amex' }), allUp, 0.5)).toEqual(['stripe', 'adyen']);
  });

  it('leaves out PSPs whose breaker is open; empty when none is left', () => {
    expect(choosePsps(rules, payment(), { stripe: false, adyen: true }, 0)).toEqual(['adyen']);
    expect(choosePsps(rules, payment({ cardBrand: 'amex' }), { stripe: false, adyen: true }, 0)).toEqual(['adyen']);
    expect(choosePsps(rules, payment({ currency: 'EUR', amountMinor: 200_000n }), { stripe: true, adyen: false }, 0)).toEqual([]);
    expect(choosePsps([], payment(), allUp, 0)).toEqual([]);
  });

  it('validation names the offending field', () => {
    const base: RoutingRuleInput = { choices: [{ psp: 'stripe', weight: 1 }] };
    expect(validateRoutingRules([base])[0]).toEqual({
      name: 'rule-0',
      currencies: [],
      amountMinorMin: null,
      amountMinorMax: null,
      cardBrands: [],
      countries: [],
      choices: [{ psp: 'stripe', weight: 1 }],
      fallbacks: [],
    });
    const cases: [RoutingRuleInput, string][] = [
      [{ choices: [] }, 'FIELD_REQUIRED rules[0].choices'],
      [{ choices: [{ psp: 'paypal', weight: 1 }] }, 'FIELD_INVALID rules[0].choices[0].psp'],
      [{ choices: [{ psp: 'stripe', weight: 0 }] }, 'FIELD_INVALID rules[0].choices[0].weight'],
      [{ choices: [{ psp: 'stripe', weight: 1.5 }] }, 'FIELD_INVALID rules[0].choices[0].weight'],
      [{ choices: [{ psp: 'stripe', weight: 1 }, { psp: 'stripe', weight: 2 }] }, 'FIELD_INVALID rules[0].choices[1].psp'],
      [{ ...base, fallbacks: ['stripe'] }, 'FIELD_INVALID rules[0].fallbacks[0]'],
      [{ ...base, currencies: ['usd'] }, 'UNKNOWN_CURRENCY rules[0].currencies[0]'],
      [{ ...base, cardBrands: ['Visa'] }, 'FIELD_INVALID rules[0].card_brands[0]'],
      [{ ...base, countries: ['USA'] }, 'FIELD_INVALID rules[0].countries[0]'],
      [{ ...base, countries: ['UK'] }, 'FIELD_INVALID rules[0].countries[0]'],
      [{ ...base, countries: ['ZZ'] }, 'FIELD_INVALID rules[0].countries[0]'],
      [{ ...base, amountMinorMin: -1n }, 'FIELD_INVALID rules[0].amount_minor_min'],
      [{ ...base, amountMinorMin: 10n, amountMinorMax: 9n }, 'FIELD_INVALID rules[0].amount_minor_max'],
      [{ ...base, name: 'x'.repeat(65) }, 'FIELD_INVALID rules[0].name'],
    ];
    for (const [rule, expected] of cases) expect(fieldOf(() => validateRoutingRules([rule]))).toBe(expected);
    expect(fieldOf(() => validateRoutingRules(new Array<RoutingRuleInput>(ROUTING_RULES_MAX + 1).fill(base)))).toBe('FIELD_INVALID rules');
  });
});

const pspArb = fc.constantFrom<PspName>(...pspNames);
const ruleArb: fc.Arbitrary<RoutingRuleInput> = fc.record({
  currencies: fc.option(fc.subarray(['USD', 'EUR', 'JPY']), { nil: undefined }),
  cardBrands: fc.option(fc.subarray([...cardBrands], { maxLength: 3 }), { nil: undefined }),
  choices: fc
    .uniqueArray(pspArb, { minLength: 1, maxLength: pspNames.length })
    .chain((psps) => fc.tuple(...psps.map((psp) => fc.integer({ min: 1, max: 100 }).map((weight) => ({ psp, weight }))))),
});

describe('routing (properties)', () => {
  it('deterministic; every available choice exactly once; never a PSP that is down; pick follows the weights', () => {
    fc.assert(
      fc.property(
        fc.array(ruleArb, { minLength: 1, maxLength: 5 }),
        fc.record({ stripe: fc.boolean(), adyen: fc.boolean() }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.constantFrom('USD', 'EUR', 'JPY'),
        fc.constantFrom(...cardBrands),
        (input, availability, random, currency, cardBrand) => {
          const valid = validateRoutingRules(input);
          const p = payment({ currency, cardBrand });
          const route = choosePsps(valid, p, availability, random);
          expect(choosePsps(valid, p, availability, random)).toEqual(route);
          const rule = matchRule(valid, p);
          const expected = rule === null ? [] : rule.choices.map((c) => c.psp).filter((psp) => availability[psp]);
          expect([...route].sort()).toEqual([...expected].sort());
          if (rule !== null && route.length > 0) {
            // The first PSP owns the slice of [0, total) that `random` falls in.
            const up = rule.choices.filter((c) => availability[c.psp]);
            const total = up.reduce((acc, c) => acc + c.weight, 0);
            const index = up.findIndex((c) => c.psp === route[0]);
            const start = up.slice(0, index).reduce((acc, c) => acc + c.weight, 0);
            const target = Math.floor(random * total);
            expect(target >= start && target < start + (up[index]?.weight ?? 0)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('routePayment: connector limits are checked before anything is sent', () => {
  // Shaped like the connectors' declarations (adapters/psp/*/transformers.ts), kept here so the
  // domain's tests stand alone.
  const stripeLike: PspAmountLimits = { currencies: null, amountMinorMin: 1n, amountMinorMax: 99_999_999n, byCurrency: { BHD: { amountMinorMultiple: 10n }, ISK: { amountMinorMax: 999_999n } } };
  const adyenLike: PspAmountLimits = { currencies: null, amountMinorMin: 1n, amountMinorMax: 2n ** 53n - 1n, byCurrency: {} };
  const eurOnly: PspAmountLimits = { currencies: ['EUR'], amountMinorMin: 100n, amountMinorMax: 1_000_000n, byCurrency: {} };
  const both = { stripe: stripeLike, adyen: adyenLike };
  const split = validateRoutingRules([{ name: 'split', choices: [{ psp: 'stripe', weight: 3 }, { psp: 'adyen', weight: 1 }] }]);
  const stripeOnly = validateRoutingRules([{ name: 'stripe', choices: [{ psp: 'stripe', weight: 1 }] }]);

  it('skips a PSP whose limits refuse the payment; the others take all of its weight', () => {
    expect(routePayment(split, payment({ amountMinor: 100_000_000n }), allUp, both, 0)).toEqual(['adyen']);
    expect(routePayment(split, payment({ amountMinor: 1005n, currency: 'BHD' }), allUp, both, 0)).toEqual(['adyen']);
    expect(routePayment(split, payment({ amountMinor: 1010n, currency: 'BHD' }), allUp, both, 0)).toEqual(['stripe', 'adyen']);
    expect(routePayment(split, payment({ amountMinor: 1_000_000n, currency: 'ISK' }), allUp, both, 0)).toEqual(['adyen']);
    expect(routePayment(split, payment({ amountMinor: 999_999n, currency: 'ISK' }), allUp, both, 0)).toEqual(['stripe', 'adyen']);
  });

  it('answers the typed refusal, naming the PSP and its limit, when no PSP of the rule can take it', () => {
    const over = () => routePayment(stripeOnly, payment({ amountMinor: 100_000_000n }), allUp, both, 0);
    expect(over).toThrow(expect.objectContaining({ reason: 'AMOUNT_OUT_OF_RANGE', metadata: expect.objectContaining({ psp: 'stripe', amount_minor_max: '99999999' }) }));
    const fils = () => routePayment(stripeOnly, payment({ amountMinor: 1005n, currency: 'BHD' }), allUp, both, 0);
    expect(fils).toThrow(expect.objectContaining({ reason: 'AMOUNT_PRECISION_EXCEEDED', metadata: expect.objectContaining({ psp: 'stripe', amount_minor_multiple: '10' }) }));
    const usd = () => routePayment(split, payment({ currency: 'USD' }), allUp, { stripe: eurOnly, adyen: eurOnly }, 0);
    expect(usd).toThrow(expect.objectContaining({ reason: 'FIELD_INVALID', metadata: expect.objectContaining({ field: 'currency', psp: 'stripe' }) }));
    // Even while the PSP is down: the input is wrong whatever the breaker says.
    expect(over).toThrow(expect.objectContaining({ reason: 'AMOUNT_OUT_OF_RANGE' }));
    expect(() => routePayment(stripeOnly, payment({ amountMinor: 100_000_000n }), { stripe: false, adyen: true }, both, 0)).toThrow(expect.objectContaining({ reason: 'AMOUNT_OUT_OF_RANGE' }));
  });

  it('an unconfigured PSP is never chosen; a taking PSP that is down leaves the list empty (PSP_UNAVAILABLE)', () => {
    expect(routePayment(split, payment(), allUp, { adyen: adyenLike }, 0)).toEqual(['adyen']);
    expect(routePayment(split, payment(), allUp, {}, 0)).toEqual([]);
    expect(routePayment(split, payment({ amountMinor: 100_000_000n }), { stripe: true, adyen: false }, both, 0)).toEqual([]);
  });

  it('property: every PSP routed to accepts the payment; it throws only when every configured PSP of the rule refuses', () => {
    const limitsArb: fc.Arbitrary<PspAmountLimits> = fc.record({
      currencies: fc.option(fc.subarray(['EUR', 'USD', 'BHD', 'JPY']), { nil: null }),
      amountMinorMin: fc.bigInt({ min: 1n, max: 1_000n }),
      amountMinorMax: fc.bigInt({ min: 1_000n, max: 10n ** 9n }),
      byCurrency: fc.constantFrom<PspAmountLimits['byCurrency']>({}, { BHD: { amountMinorMultiple: 10n } }, { JPY: { amountMinorMax: 5_000n, amountMinorMultiple: 5n } }),
    });
    fc.assert(fc.property(
      fc.record({ stripe: fc.option(limitsArb, { nil: undefined }), adyen: fc.option(limitsArb, { nil: undefined }) }),
      fc.record({ amountMinor: fc.bigInt({ min: 1n, max: 10n ** 10n }), currency: fc.constantFrom('EUR', 'USD', 'BHD', 'JPY') }),
      fc.record({ stripe: fc.boolean(), adyen: fc.boolean() }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (limits, p, availability, random) => {
        const routable = payment(p);
        const configured = pspNames.filter((psp) => limits[psp] !== undefined);
        const accepting = configured.filter((psp) => pspAmountRefusal(psp, limits[psp]!, p.amountMinor, p.currency) === null);
        let routed: PspName[];
        try {
          routed = routePayment(split, routable, availability, limits, random);
        } catch (error) {
          expect(error).toBeInstanceOf(TallyError);
          expect(configured.length > 0 && accepting.length === 0).toBe(true);
          return;
        }
        expect(configured.length === 0 || accepting.length > 0).toBe(true);
        expect([...routed].sort()).toEqual(accepting.filter((psp) => availability[psp]).sort());
      },
    ), { seed: 11_009, numRuns: 500 });
  });
});
