/**
 * Per-tenant PSP routing: ordered rules, the first whose conditions all match a payment decides.
 * A rule names weighted PSP choices (traffic split) and optional fallbacks (failover only, never
 * picked first). `choosePsps` turns the matching rule into an ordered failover list:
 *
 *   1. one weighted pick among the rule's available choices (weights renormalized over them);
 *   2. the remaining available choices, heaviest first (listed order on ties);
 *   3. the available fallbacks, in listed order.
 *
 * PSPs whose circuit breaker is open are left out entirely (the breaker state is an input), so a
 * payment never waits on a PSP known to be down. `routePayment` first checks each PSP's declared
 * limits (psp-limits.ts): a PSP that would refuse the amount or currency before sending is skipped
 * for that payment, and when none of the rule's PSPs can take it the caller gets the typed refusal
 * (AMOUNT_OUT_OF_RANGE, AMOUNT_PRECISION_EXCEEDED, FIELD_INVALID naming the PSP's limit), not
 * PSP_UNAVAILABLE: the request is wrong, no PSP is down, and no breaker is touched. Only the first matching rule counts: rules carry
 * merchant constraints (e.g. "EUR above 1,000.00 only through adyen"), which a later, broader rule
 * must not override. An empty list means no PSP can take the payment now; the app answers
 * `PSP_UNAVAILABLE` at once rather than hanging.
 *
 * Deterministic: the caller passes the random number, so tests and replays see the same routes.
 */
import { assert, invalidField } from '../errors.js';
import { AMOUNT_MINOR_MAX, currencyOf } from '../money/index.js';
import { type PspAmountLimits, pspAmountRefusal } from './psp-limits.js';
import { type PspName, pspNames } from './psp-vocabulary.js';
import { isCountryCode } from './payment-fields.js';

/** Card brands rules can match (a closed set; connectors map theirs onto it). */
export const cardBrands = [
  'visa',
  'mastercard',
  'amex',
  'discover',
  'jcb',
  'diners',
  'unionpay',
  'maestro',
  'cartes_bancaires',
  'other',
] as const;

/** One of `cardBrands`. */
export type CardBrand = (typeof cardBrands)[number];

/** Most rules per tenant: bounds the work of every routing decision. */
export const ROUTING_RULES_MAX = 50;
/** Most entries in one rule's currency, brand or country list. */
export const ROUTING_RULE_LIST_MAX = 50;
/** Largest weight of one choice. */
export const ROUTING_WEIGHT_MAX = 1_000_000;
/** Longest rule name. */
export const ROUTING_RULE_NAME_LENGTH_MAX = 64;

/** A rule as configured (decoded at the edge, not yet validated). */
export interface RoutingRuleInput {
  /** Shown in logs and metrics; defaults to `rule-<index>`. */
  readonly name?: string | null;
  /** ISO 4217 codes; empty or absent matches any currency. */
  readonly currencies?: readonly string[] | null;
  /** Inclusive bounds of the amount in minor units; null for unbounded. */
  readonly amountMinorMin?: bigint | null;
  readonly amountMinorMax?: bigint | null;
  /** Card brands; empty or absent matches any (and payments without a known brand). */
  readonly cardBrands?: readonly string[] | null;
  /** ISO 3166-1 alpha-2 countries of the card's issuer; empty or absent matches any. */
  readonly countries?: readonly string[] | null;
  /** Weighted choices: one or more distinct PSPs with positive integer weights. */
  readonly choices: readonly { readonly psp: string; readonly weight: number }[];
  /** PSPs tried after every choice, in order; never picked first. */
  readonly fallbacks?: readonly string[] | null;
}

/** A validated rule: lists are empty for "any", PSPs are distinct across choices and fallbacks. */
export interface RoutingRule {
  readonly name: string;
  readonly currencies: readonly string[];
  readonly amountMinorMin: bigint | null;
  readonly amountMinorMax: bigint | null;
  readonly cardBrands: readonly CardBrand[];
  readonly countries: readonly string[];
  readonly choices: readonly { readonly psp: PspName; readonly weight: number }[];
  readonly fallbacks: readonly PspName[];
}

/** What routing looks at in a payment. */
export interface RoutablePayment {
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly cardBrand: CardBrand | null;
  readonly country: string | null;
}

/** Per PSP: true when its circuit breaker lets calls through (closed or half-open). */
export type PspAvailability = Readonly<Record<PspName, boolean>>;

/** Per configured PSP: the limits its connector declares. A PSP without limits is not configured. */
export type PspLimitsByName = Readonly<Partial<Record<PspName, PspAmountLimits>>>;

/**
 * Validates a tenant's rules. Throws `FIELD_INVALID` naming the field (`rules[2].choices[0].weight`)
 * for: more than `ROUTING_RULES_MAX` rules, unknown currencies, brands, PSP names or country
 * shapes, lists longer than `ROUTING_RULE_LIST_MAX`, negative or inverted amount bounds, weights
 * that are not integers in 1..`ROUTING_WEIGHT_MAX`, no choices, or a PSP named twice in a rule.
 */
export function validateRoutingRules(input: readonly RoutingRuleInput[]): RoutingRule[] {
  if (!Array.isArray(input) || input.length > ROUTING_RULES_MAX) {
    throw invalidField('rules', `must be a list of at most ${ROUTING_RULES_MAX} rules`);
  }
  return input.map((rule, i) => validateRule(rule, `rules[${i}]`, i));
}

/** The first rule matching `payment`, or null. */
export function matchRule(rules: readonly RoutingRule[], payment: RoutablePayment): RoutingRule | null {
  return rules.find((rule) => ruleMatches(rule, payment)) ?? null;
}

/**
 * The ordered failover list for `payment` (see the file header). `random` is a number in [0, 1)
 * (e.g. `Math.random()` in production, fixed in tests); the same inputs always give the same list.
 */
export function choosePsps(
  rules: readonly RoutingRule[],
  payment: RoutablePayment,
  availability: PspAvailability,
  random: number,
): PspName[] {
  assert(Number.isFinite(random) && random >= 0 && random < 1, 'choosePsps: random must be in [0, 1)');
  const rule = matchRule(rules, payment);
  if (rule === null) return [];
  const choices = rule.choices.filter((c) => availability[c.psp]);
  const fallbacks = rule.fallbacks.filter((psp) => availability[psp]);
  if (choices.length === 0) return [...fallbacks];

  const totalWeight = choices.reduce((acc, c) => acc + c.weight, 0);
  // Weights are bounded integers, so the total is exact and `target` is an integer < totalWeight.
  const target = Math.floor(random * totalWeight);
  let pickedIndex = choices.length - 1;
  let cumulative = 0;
  for (const [i, c] of choices.entries()) {
    cumulative += c.weight;
    if (target < cumulative) {
      pickedIndex = i;
      break;
    }
  }
  const picked = choices[pickedIndex];
  assert(picked !== undefined, 'choosePsps: pick within the choices');
  const rest = choices
    .map((c, i) => ({ ...c, i }))
    .filter((c) => c.i !== pickedIndex)
    .sort((a, b) => b.weight - a.weight || a.i - b.i)
    .map((c) => c.psp);
  return [picked.psp, ...rest, ...fallbacks];
}

/**
 * `choosePsps` over the PSPs that can take `payment`: configured (present in `limits`) and whose
 * limits accept its amount and currency. Throws the typed refusal of the first of the matching
 * rule's configured PSPs (choices, then fallbacks) when none of them can take it; the list is
 * empty, as in `choosePsps`, when no rule matches or every PSP that could take it is unavailable.
 */
export function routePayment(
  rules: readonly RoutingRule[],
  payment: RoutablePayment,
  availability: PspAvailability,
  limits: PspLimitsByName,
  random: number,
): PspName[] {
  const rule = matchRule(rules, payment);
  if (rule === null) return [];
  const configured = [...rule.choices.map((c) => c.psp), ...rule.fallbacks].filter((psp) => limits[psp] !== undefined);
  const refusals = configured.map((psp) => pspAmountRefusal(psp, limits[psp]!, payment.amountMinor, payment.currency));
  const firstRefusal = refusals.find((refusal) => refusal !== null);
  if (firstRefusal !== undefined && refusals.every((refusal) => refusal !== null)) throw firstRefusal;
  // Only the matching rule decides (see the file header): PSPs outside it, or refusing, are out.
  const takes = Object.fromEntries(pspNames.map((psp) => [psp, false])) as Record<PspName, boolean>;
  configured.forEach((psp, i) => { takes[psp] = refusals[i] === null && availability[psp]; });
  return choosePsps([rule], payment, takes, random);
}

function ruleMatches(rule: RoutingRule, payment: RoutablePayment): boolean {
  if (rule.currencies.length > 0 && !rule.currencies.includes(payment.currency)) return false;
  if (rule.amountMinorMin !== null && payment.amountMinor < rule.amountMinorMin) return false;
  if (rule.amountMinorMax !== null && payment.amountMinor > rule.amountMinorMax) return false;
  if (rule.cardBrands.length > 0 && (payment.cardBrand === null || !rule.cardBrands.includes(payment.cardBrand))) return false;
  if (rule.countries.length > 0 && (payment.country === null || !rule.countries.includes(payment.country))) return false;
  return true;
}

function validateRule(rule: RoutingRuleInput, field: string, index: number): RoutingRule {
  const name = validateName(rule.name, `${field}.name`, index);
  const currencies = validateList(rule.currencies, `${field}.currencies`, (value, f) => {
    currencyOf(value, f);
    return value;
  });
  const brands = validateList(rule.cardBrands, `${field}.card_brands`, (value, f) => {
    if (!(cardBrands as readonly string[]).includes(value)) throw invalidField(f, `must be one of ${cardBrands.join(', ')}`);
    return value as CardBrand;
  });
  const countries = validateList(rule.countries, `${field}.countries`, (value, f) => {
    // The same set a payment method's country is checked against (payment-fields.ts): a rule on any other code could never match.
    if (!isCountryCode(value)) throw invalidField(f, 'must be an ISO 3166-1 alpha-2 country code (as FR, US)');
    return value;
  });
  const amountMinorMin = validateBound(rule.amountMinorMin, `${field}.amount_minor_min`);
  const amountMinorMax = validateBound(rule.amountMinorMax, `${field}.amount_minor_max`);
  if (amountMinorMin !== null && amountMinorMax !== null && amountMinorMin > amountMinorMax) {
    throw invalidField(`${field}.amount_minor_max`, 'must not be below amount_minor_min');
  }
  const { choices, fallbacks } = validatePsps(rule, field);
  return { name, currencies, amountMinorMin, amountMinorMax, cardBrands: brands, countries, choices, fallbacks };
}

function validatePsps(rule: RoutingRuleInput, field: string): Pick<RoutingRule, 'choices' | 'fallbacks'> {
  const seen = new Set<PspName>();
  const pspOf = (value: unknown, f: string): PspName => {
    if (typeof value !== 'string' || !(pspNames as readonly string[]).includes(value)) {
      throw invalidField(f, `must be one of ${pspNames.join(', ')}`);
    }
    const psp = value as PspName;
    if (seen.has(psp)) throw invalidField(f, `${psp} appears twice in this rule`);
    seen.add(psp);
    return psp;
  };
  if (!Array.isArray(rule.choices) || rule.choices.length === 0) {
    throw invalidField(`${field}.choices`, 'at least one choice', 'FIELD_REQUIRED');
  }
  // Distinct PSPs bound both lists to pspNames.length; the check above bounds the input itself.
  if (rule.choices.length > pspNames.length) throw invalidField(`${field}.choices`, `at most ${pspNames.length} choices`);
  const choices = rule.choices.map((c, j) => {
    const psp = pspOf(c.psp, `${field}.choices[${j}].psp`);
    if (!Number.isSafeInteger(c.weight) || c.weight < 1 || c.weight > ROUTING_WEIGHT_MAX) {
      throw invalidField(`${field}.choices[${j}].weight`, `must be an integer from 1 to ${ROUTING_WEIGHT_MAX}`);
    }
    return { psp, weight: c.weight };
  });
  const fallbackInput = rule.fallbacks ?? [];
  if (!Array.isArray(fallbackInput) || fallbackInput.length > pspNames.length) {
    throw invalidField(`${field}.fallbacks`, `at most ${pspNames.length} PSPs`);
  }
  const fallbacks = fallbackInput.map((psp, j) => pspOf(psp, `${field}.fallbacks[${j}]`));
  return { choices, fallbacks };
}

function validateName(name: string | null | undefined, field: string, index: number): string {
  if (name === undefined || name === null || name === '') return `rule-${index}`;
  if (typeof name !== 'string' || name.length > ROUTING_RULE_NAME_LENGTH_MAX || /[\u0000-\u001f\u007f]/.test(name)) {
    throw invalidField(field, `at most ${ROUTING_RULE_NAME_LENGTH_MAX} printable characters`);
  }
  return name;
}

function validateList<T>(values: readonly string[] | null | undefined, field: string, check: (value: string, field: string) => T): T[] {
  if (values === undefined || values === null) return [];
  if (!Array.isArray(values) || values.length > ROUTING_RULE_LIST_MAX) {
    throw invalidField(field, `at most ${ROUTING_RULE_LIST_MAX} entries`);
  }
  return values.map((value, i) => {
    if (typeof value !== 'string') throw invalidField(`${field}[${i}]`, 'must be a string');
    return check(value, `${field}[${i}]`);
  });
}

function validateBound(value: bigint | null | undefined, field: string): bigint | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'bigint' || value < 0n || value > AMOUNT_MINOR_MAX) {
    throw invalidField(field, 'must be a non-negative integer number of minor units');
  }
  return value;
}
