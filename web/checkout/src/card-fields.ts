/**
 * The parent side of the PSP's hosted card fields (an iframe on the PSP's origin: card numbers are
 * typed there and never reach this page or Tally). Talks to the frame by postMessage only, checking
 * every message's origin (the PSP's) and source (this frame's window), and addressing its own
 * messages to the PSP's origin only. Protocol: emulators/sandbox-psp/README.md "Hosted card fields".
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { HostedCardSchema } from '@gen/tally/checkout/v1/checkout_pb';

/** The card as the fields tokenized it: what ConfirmHostedSession takes as `card`. */
export type TokenizedCard = MessageInitShape<typeof HostedCardSchema> & {
  pspTokens: Record<string, string>;
  brand: string;
  last4: string;
  country: string;
};

/** The fields refused the card (the frame shows which field and why) or did not answer. */
export class CardFieldsError extends Error {
  constructor(message: string, readonly field: string | null) {
    super(message);
    this.name = 'CardFieldsError';
  }
}

/** Bound on one tokenization: the frame answers in well under a second unless something broke. */
export const TOKENIZE_TIMEOUT_MS = 20_000;

/** `<card_fields_url>?origin=<this page's origin>`: the frame lets only this origin frame it and talk to it. */
export function cardFieldsSrc(cardFieldsUrl: string, parentOrigin: string): string {
  const url = new URL(cardFieldsUrl);
  url.searchParams.set('origin', parentOrigin);
  return url.toString();
}

function parseCard(value: unknown): TokenizedCard | null {
  if (typeof value !== 'object' || value === null) return null;
  const card = value as Record<string, unknown>;
  const tokens = card.pspTokens;
  if (typeof tokens !== 'object' || tokens === null) return null;
  const pspTokens: Record<string, string> = {};
  for (const [psp, token] of Object.entries(tokens)) {
    if (typeof token !== 'string') return null;
    pspTokens[psp] = token;
  }
  if (typeof card.brand !== 'string' || typeof card.last4 !== 'string' || typeof card.country !== 'string') return null;
  return { pspTokens, brand: card.brand, last4: card.last4, country: card.country };
}

interface Pending {
  requestId: string;
  resolve(card: TokenizedCard): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface CardFieldsHandlers {
  /** The frame can tokenize. */
  onReady(): void;
  /** The buyer pressed Enter in a card field: pay, as a form would. */
  onSubmit(): void;
  /** The form inside the frame is now `heightPx` tall. */
  onResize(heightPx: number): void;
}

/** Bounds on the frame's height, whatever the frame says (it is another origin's page). */
export const FRAME_HEIGHT_PX_MIN = 120;
export const FRAME_HEIGHT_PX_MAX = 480;

/** One framed card form. `dispose()` removes the listener. */
export class CardFieldsClient {
  private readonly pspOrigin: string;
  private pending: Pending | null = null;
  private sequence = 0;
  private readonly listener = (event: MessageEvent): void => this.receive(event);

  constructor(private readonly frame: HTMLIFrameElement, cardFieldsUrl: string, private readonly handlers: CardFieldsHandlers) {
    this.pspOrigin = new URL(cardFieldsUrl).origin;
    window.addEventListener('message', this.listener);
  }

  /** Asks the frame for tokens; one tokenization at a time. */
  tokenize(): Promise<TokenizedCard> {
    if (this.pending !== null) return Promise.reject(new CardFieldsError('The card is already being checked.', null));
    const target = this.frame.contentWindow;
    if (target === null) return Promise.reject(new CardFieldsError('The card form is not loaded. Reload the page and try again.', null));
    const requestId = `tok_${++this.sequence}`;
    return new Promise<TokenizedCard>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = null;
        reject(new CardFieldsError('The card form did not answer. Reload the page and try again.', null));
      }, TOKENIZE_TIMEOUT_MS);
      this.pending = { requestId, resolve, reject, timer };
      target.postMessage({ type: 'tally.tokenize', requestId }, this.pspOrigin);
    });
  }

  /** Moves focus to the card number inside the frame (to try another card). */
  focus(): void {
    this.frame.focus();
    this.frame.contentWindow?.postMessage({ type: 'tally.focus' }, this.pspOrigin);
  }

  dispose(): void {
    window.removeEventListener('message', this.listener);
    if (this.pending !== null) {
      clearTimeout(this.pending.timer);
      this.pending.reject(new CardFieldsError('The card form was closed.', null));
      this.pending = null;
    }
  }

  private receive(event: MessageEvent): void {
    // Only the PSP's frame we embedded: any other window or origin may be hostile.
    if (event.origin !== this.pspOrigin || event.source !== this.frame.contentWindow) return;
    const data = event.data as Record<string, unknown> | null;
    if (typeof data !== 'object' || data === null) return;
    if (data.type === 'tally.card_ready') return this.handlers.onReady();
    if (data.type === 'tally.card_submit') return this.handlers.onSubmit();
    if (data.type === 'tally.card_resize') {
      if (typeof data.height === 'number' && Number.isFinite(data.height)) {
        this.handlers.onResize(Math.min(FRAME_HEIGHT_PX_MAX, Math.max(FRAME_HEIGHT_PX_MIN, Math.ceil(data.height))));
      }
      return;
    }
    const pending = this.pending;
    if (pending === null || data.requestId !== pending.requestId) return;
    if (data.type === 'tally.card_token') {
      const card = parseCard(data.card);
      this.settle(pending);
      if (card === null) pending.reject(new CardFieldsError('The card form answered something unexpected. Reload the page and try again.', null));
      else pending.resolve(card);
    } else if (data.type === 'tally.card_error') {
      this.settle(pending);
      pending.reject(new CardFieldsError(typeof data.message === 'string' ? data.message : 'Check your card details.', typeof data.field === 'string' ? data.field : null));
    }
  }

  private settle(pending: Pending): void {
    clearTimeout(pending.timer);
    this.pending = null;
  }
}
