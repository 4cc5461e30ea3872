import { describe, expect, it } from 'vitest';
import { canTransitionSubscription, subscriptionStatuses, transitionSubscription } from './subscription.js';

describe('subscription status table', () => {
  const allowed = new Set([
    'trialing>active', 'trialing>past_due', 'trialing>paused', 'trialing>canceled',
    'active>past_due', 'active>paused', 'active>canceled',
    'past_due>active', 'past_due>unpaid', 'past_due>canceled',
    'unpaid>active', 'unpaid>canceled',
    'paused>active', 'paused>canceled',
  ]);
  const all = subscriptionStatuses.flatMap((from) => subscriptionStatuses.map((to) => [from, to] as const));

  it.each(all)('%s -> %s follows the documented table', (from, to) => {
    expect(canTransitionSubscription(from, to)).toBe(allowed.has(`${from}>${to}`));
    if (allowed.has(`${from}>${to}`)) expect(transitionSubscription(from, to, 'sub_1')).toBe(to);
    else expect(() => transitionSubscription(from, to, 'sub_1')).toThrow(expect.objectContaining({ reason: 'INVALID_STATE_TRANSITION', metadata: { from, to, subscriptionId: 'sub_1' } }));
  });
});
