/**
 * Webhook delivery with injected faults. Each PSP has its own queue: events start in queue order,
 * at most `concurrencyMax` at a time (1 makes arrival order equal send order, which tests of
 * reordering rely on). A non-2xx answer or a network error is retried with capped exponential
 * backoff, `attemptsMax` attempts in all, as the real PSPs retry; every bound is explicit.
 */
import type { Clock } from '../../functions/src/ports/clock.js';
import { type PspFaults, type SandboxPspName, sandboxPsps } from './faults.js';

/** One event to deliver. `render` runs at each attempt: Stripe signs every attempt with its own time. */
export interface OutgoingWebhook {
  psp: SandboxPspName;
  eventId: string;
  type: string;
  render(nowMs: number): { body: string; headers: Record<string, string> };
}

/** What happened to one delivery attempt (or to an event that never got one). */
export interface SandboxWebhookRecord {
  psp: SandboxPspName;
  eventId: string;
  type: string;
  /** 1-based attempt number; 0 when no attempt was made. */
  attempt: number;
  outcome: 'delivered' | 'failed' | 'dropped' | 'held' | 'no_target' | 'overflow';
  /** The target's HTTP status, null for network errors and events not sent. */
  status: number | null;
  /** True for the second copy of an event duplicated on purpose. */
  duplicate: boolean;
  atMs: number;
}

export interface WebhookLimits {
  attemptsMax: number;
  retryDelayMsBase: number;
  retryDelayMsMax: number;
  timeoutMs: number;
  /** Events waiting or in flight per PSP; more are refused (`overflow`). */
  pendingMax: number;
  /** Events held for reordering per PSP; more release the held ones at once. */
  heldMax: number;
  concurrencyMax: number;
}

export interface WebhookDispatcherOptions {
  targets: () => Readonly<Partial<Record<SandboxPspName, string>>>;
  faults: (psp: SandboxPspName) => PspFaults;
  random: () => number;
  clock: Clock;
  limits: WebhookLimits;
  record: (record: SandboxWebhookRecord) => void;
}

interface Delivery {
  event: OutgoingWebhook;
  duplicate: boolean;
  attempt: number;
}

interface PspQueue {
  ready: Delivery[];
  inFlight: number;
  /** Waiting on a timer (delay or retry backoff). */
  sleeping: number;
  held: Delivery[];
}

export class WebhookDispatcher {
  private readonly queues: Record<SandboxPspName, PspQueue>;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly stopController = new AbortController();
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.queues = { stripe: emptyQueue(), adyen: emptyQueue() };
  }

  /** Queues an event, applying the PSP's drop / duplicate / hold / reorder faults. */
  emit(event: OutgoingWebhook): void {
    if (this.stopController.signal.aborted) return;
    const faults = this.options.faults(event.psp);
    if (faults.webhookDropRate > 0 && this.options.random() < faults.webhookDropRate) {
      this.recordNotSent(event, 'dropped', false);
      return;
    }
    const duplicated = faults.webhookDuplicateRate > 0 && this.options.random() < faults.webhookDuplicateRate;
    this.route({ event, duplicate: false, attempt: 1 }, faults);
    if (duplicated) this.route({ event, duplicate: true, attempt: 1 }, faults);
  }

  /**
   * Sends held events of `psp` (all PSPs when absent), newest first unless `order` is fifo; at most
   * `max` of them (the newest for reverse, the oldest for fifo), so a test can let a sequence through
   * one event at a time. Returns how many were released.
   */
  release(psp: SandboxPspName | undefined, order: 'reverse' | 'fifo', max = Number.POSITIVE_INFINITY): number {
    let released = 0;
    for (const name of psp === undefined ? sandboxPsps : [psp]) {
      const queue = this.queues[name];
      const count = Math.min(queue.held.length, max - released);
      const held = order === 'fifo' ? queue.held.splice(0, count) : queue.held.splice(queue.held.length - count, count).reverse();
      for (const delivery of held) this.schedule(delivery, 0);
      released += held.length;
    }
    return released;
  }

  /** Events of `psp` held right now. */
  heldCount(psp: SandboxPspName): number {
    return this.queues[psp].held.length;
  }

  /** Resolves once nothing is waiting, sleeping or in flight (held events do not count), or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  /** Forgets held and queued events (deliveries in flight finish). */
  clear(): void {
    for (const psp of sandboxPsps) {
      const queue = this.queues[psp];
      queue.held.length = 0;
      queue.ready.length = 0;
    }
    this.notifyIfIdle();
  }

  stop(): void {
    this.stopController.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.clear();
    for (const waiter of this.idleWaiters.splice(0)) waiter();
  }

  private route(delivery: Delivery, faults: PspFaults): void {
    const queue = this.queues[delivery.event.psp];
    const reorder = faults.webhookReorderWindow >= 2;
    if (!faults.webhookHold && !reorder) {
      this.schedule(delivery, faults.webhookDelayMs);
      return;
    }
    queue.held.push(delivery);
    this.recordNotSent(delivery.event, 'held', delivery.duplicate);
    const windowFull = !faults.webhookHold && queue.held.length >= faults.webhookReorderWindow;
    if (windowFull || queue.held.length >= this.options.limits.heldMax) this.release(delivery.event.psp, 'reverse');
  }

  private schedule(delivery: Delivery, delayMs: number): void {
    const queue = this.queues[delivery.event.psp];
    if (queue.ready.length + queue.inFlight + queue.sleeping >= this.options.limits.pendingMax) {
      this.recordNotSent(delivery.event, 'overflow', delivery.duplicate);
      return;
    }
    if (delayMs <= 0) {
      queue.ready.push(delivery);
      this.pump(delivery.event.psp);
      return;
    }
    queue.sleeping++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      queue.sleeping--;
      queue.ready.push(delivery);
      this.pump(delivery.event.psp);
    }, delayMs);
    this.timers.add(timer);
  }

  private pump(psp: SandboxPspName): void {
    const queue = this.queues[psp];
    while (queue.inFlight < this.options.limits.concurrencyMax && queue.ready.length > 0) {
      const delivery = queue.ready.shift() as Delivery;
      queue.inFlight++;
      void this.attempt(delivery).finally(() => {
        queue.inFlight--;
        this.pump(psp);
        this.notifyIfIdle();
      });
    }
  }

  private async attempt(delivery: Delivery): Promise<void> {
    const { event } = delivery;
    const target = this.options.targets()[event.psp];
    if (target === undefined) {
      this.recordNotSent(event, 'no_target', delivery.duplicate);
      return;
    }
    const { body, headers } = event.render(this.options.clock.nowMs());
    let status: number | null = null;
    try {
      const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.options.limits.timeoutMs)]);
      const response = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal });
      status = response.status;
      await response.arrayBuffer();
    } catch {
      // A network error or timeout: recorded with a null status and retried like a non-2xx.
    }
    if (this.stopController.signal.aborted) return;
    const delivered = status !== null && status >= 200 && status < 300;
    this.options.record({
      psp: event.psp, eventId: event.eventId, type: event.type, attempt: delivery.attempt,
      outcome: delivered ? 'delivered' : 'failed', status, duplicate: delivery.duplicate, atMs: this.options.clock.nowMs(),
    });
    if (delivered || delivery.attempt >= this.options.limits.attemptsMax) return;
    const { retryDelayMsBase, retryDelayMsMax } = this.options.limits;
    const delayMs = Math.min(retryDelayMsMax, retryDelayMsBase * 2 ** (delivery.attempt - 1));
    this.schedule({ ...delivery, attempt: delivery.attempt + 1 }, delayMs);
  }

  private recordNotSent(event: OutgoingWebhook, outcome: SandboxWebhookRecord['outcome'], duplicate: boolean): void {
    this.options.record({ psp: event.psp, eventId: event.eventId, type: event.type, attempt: 0, outcome, status: null, duplicate, atMs: this.options.clock.nowMs() });
  }

  private isIdle(): boolean {
    return sandboxPsps.every((psp) => {
      const queue = this.queues[psp];
      return queue.ready.length === 0 && queue.inFlight === 0 && queue.sleeping === 0;
    });
  }

  private notifyIfIdle(): void {
    if (!this.isIdle()) return;
    for (const waiter of this.idleWaiters.splice(0)) waiter();
  }
}

function emptyQueue(): PspQueue {
  return { ready: [], inFlight: 0, sleeping: 0, held: [] };
}
