import { describe, expect, it } from 'vitest';
import { sinkFlushesInFlightMax, sinkInFlightMax } from './compose-analytics.js';
import { parseConfig } from './platform/config/config.js';

describe('sinkInFlightMax (what the local bridge hands analyticsSink at once, ADR 0029)', () => {
  it('holds the batches being written and as many gathering behind them, so the pipeline does not stop and go', () => {
    const config = parseConfig({ TALLY_ANALYTICS_BATCH_ROWS_MAX: '1000' });
    expect(sinkInFlightMax(config)).toBe(2 * sinkFlushesInFlightMax * 1000);
  });

  it('never exceeds what the sink holds (waitingEventsMax), which would refuse the excess as overloaded', () => {
    const config = parseConfig({ TALLY_ANALYTICS_BATCH_ROWS_MAX: '5000', TALLY_ANALYTICS_WAITING_EVENTS_MAX: '12000' });
    expect(sinkInFlightMax(config)).toBe(12_000);
  });
});
