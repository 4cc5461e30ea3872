import { assert, invalidField } from '../errors.js';
import { type Money, money } from './money.js';

/** Most parts one `allocate` call may produce: bounds the work and the size of the result. */
export const ALLOCATE_PARTS_MAX = 10_000;

/**
 * Splits `m` into `ratios.length` parts proportional to `ratios`, exactly: the parts always sum to
 * `m` (no minor unit lost or invented). Uses the largest-remainder method: every part first gets
 * its proportional share rounded toward zero, then the few leftover minor units go one each to the
 * parts with the largest remainders, earlier index first on ties. So each part is within one minor
 * unit of its exact share, and a zero ratio always gets zero. A negative total is split as the
 * mirror image of the positive one.
 *
 * Throws `FIELD_INVALID` (field `ratios`) unless there are 1..`ALLOCATE_PARTS_MAX` ratios, all
 * non-negative and at least one positive.
 */
export function allocate(m: Money, ratios: readonly bigint[]): Money[] {
  checkRatios(ratios);
  const negative = m.amountMinor < 0n;
  const totalMinor = negative ? -m.amountMinor : m.amountMinor;
  const ratioSum = ratios.reduce((acc, r) => acc + r, 0n);

  const partsMinor = ratios.map((r) => (totalMinor * r) / ratioSum);
  const remainders = ratios.map((r) => (totalMinor * r) % ratioSum);
  let leftoverMinor = totalMinor - partsMinor.reduce((acc, p) => acc + p, 0n);
  // Sum of remainders = leftover * ratioSum and each remainder < ratioSum, so leftover is smaller
  // than the number of parts with a non-zero remainder: the loop below ends within the array.
  assert(leftoverMinor >= 0n && leftoverMinor < BigInt(ratios.length), 'allocate: leftover bound');

  const order = ratios.map((_, i) => i);
  order.sort((a, b) => {
    const ra = remainders[a] ?? 0n;
    const rb = remainders[b] ?? 0n;
    return ra > rb ? -1 : ra < rb ? 1 : a - b; // largest remainder first, then earlier index
  });
  for (const i of order) {
    if (leftoverMinor === 0n) break;
    assert((remainders[i] ?? 0n) > 0n, 'allocate: leftover unit given to an exact share');
    partsMinor[i] = (partsMinor[i] ?? 0n) + 1n;
    leftoverMinor -= 1n;
  }
  assert(leftoverMinor === 0n, 'allocate: every leftover unit is placed');

  return partsMinor.map((p) => money(negative ? -p : p, m.currency));
}

/**
 * Splits `m` into `n` parts that differ by at most one minor unit and sum exactly to `m`; the
 * earlier parts get the extra units (100 / 3 -> 34, 33, 33). Throws `FIELD_INVALID` (field
 * `parts`) unless `n` is an integer in 1..`ALLOCATE_PARTS_MAX`.
 */
export function allocateEvenly(m: Money, n: number): Money[] {
  if (!Number.isSafeInteger(n) || n < 1 || n > ALLOCATE_PARTS_MAX) {
    throw invalidField('parts', `must be an integer from 1 to ${ALLOCATE_PARTS_MAX}`);
  }
  return allocate(m, new Array<bigint>(n).fill(1n));
}

function checkRatios(ratios: readonly bigint[]): void {
  if (ratios.length < 1 || ratios.length > ALLOCATE_PARTS_MAX) {
    throw invalidField('ratios', `must have 1 to ${ALLOCATE_PARTS_MAX} entries`);
  }
  let anyPositive = false;
  for (const r of ratios) {
    if (typeof r !== 'bigint' || r < 0n) throw invalidField('ratios', 'must be non-negative integers');
    if (r > 0n) anyPositive = true;
  }
  if (!anyPositive) throw invalidField('ratios', 'must have at least one positive entry');
}
