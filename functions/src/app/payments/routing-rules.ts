/** A tenant's PSP routing rules: set by the tenant, read through the instance cache. */
import { validateRoutingRules, type RoutingRule } from '../../domain/payments/index.js';
import { pspNames } from '../../ports/psp-gateway.js';
import type { PaymentsDeps } from './payments-deps.js';

export function routingRulesOf(deps: PaymentsDeps, tenantId: string): Promise<RoutingRule[] | undefined> {
  const cache = deps.caches?.routingRules;
  return cache ? cache.get(tenantId, () => deps.store.getRoutingRules(tenantId)) : deps.store.getRoutingRules(tenantId);
}

export const defaultRules = (): RoutingRule[] => validateRoutingRules([{ name: 'default', choices: pspNames.map((psp) => ({ psp, weight: 1 })) }]);

export function setRoutingRules(deps: PaymentsDeps, tenantId: string, rules: Parameters<typeof validateRoutingRules>[0]): Promise<RoutingRule[]> {
  const valid = validateRoutingRules(rules);
  return deps.store.setRoutingRules(tenantId, valid).then(() => {
    deps.caches?.routingRules.delete(tenantId); // this instance applies them at once; others within the TTL
    return valid;
  });
}
