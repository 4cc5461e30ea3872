/** Time as the app sees it; tests pass a fake to control leases, TTLs and timeouts. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };
