/**
 * Hosted card fields, as Stripe Elements or Adyen's Drop-in would serve them: a page the merchant's
 * checkout frames (`GET /elements/card?origin=<parent origin>`), whose inputs live on the sandbox's
 * origin, so card numbers are typed into and tokenized by the PSP and never reach the merchant or
 * Tally (PCI scope SAQ-A). The page talks to its parent only by `postMessage`, origin checked both
 * ways: it answers only `tally.tokenize` messages from `window.parent` at the declared origin, and
 * posts its answers with that origin as `targetOrigin`; the browser refuses to frame it anywhere
 * else (`Content-Security-Policy: frame-ancestors <origin>`).
 *
 * Tokenization mints one fresh token per PSP for each card entered (Stripe `pm_...`, Adyen
 * `adyen_tok_...`), bound to the sandbox test card the number stands for (`testCardNumbers`). The
 * PSP wires resolve those tokens like the fixed test tokens (`pm_card_visa`, `adyen_success`).
 */
import { randomBytes } from 'node:crypto';
import { SandboxInputError } from './faults.js';
import { type TestCard, adyenTestCard, stripeTestCard } from './test-cards.js';

/** A card brand the card fields recognise from the number's prefix. */
export type CardBrand = 'visa' | 'mastercard' | 'amex';

/** A test card number a buyer may type, and the sandbox test card it behaves as. */
export interface TestCardNumber {
  number: string;
  brand: CardBrand;
  /** Issuing country, ISO 3166-1 alpha-2. */
  country: string;
  /** The canonical Stripe token of the sandbox test card it maps to (see test-cards.ts). */
  stripeToken: string;
  description: string;
}

/**
 * The card numbers the hosted fields accept: Stripe's documented test numbers where Stripe has one
 * for the behaviour (https://docs.stripe.com/testing), each mapped to the sandbox test card with
 * that behaviour. README.md in this folder has the same table; keep both in step.
 */
export const testCardNumbers: readonly TestCardNumber[] = [
  { number: '4242424242424242', brand: 'visa', country: 'US', stripeToken: 'pm_card_visa', description: 'Approved.' },
  { number: '5555555555554444', brand: 'mastercard', country: 'US', stripeToken: 'pm_card_mastercard', description: 'Approved.' },
  { number: '378282246310005', brand: 'amex', country: 'US', stripeToken: 'pm_card_visa', description: 'Approved (4-digit CVC).' },
  { number: '4000008260000000', brand: 'visa', country: 'GB', stripeToken: 'pm_card_visa', description: 'Approved, issued in the United Kingdom.' },
  { number: '4000002760000016', brand: 'visa', country: 'DE', stripeToken: 'pm_card_visa', description: 'Approved, issued in Germany.' },
  { number: '4000000000000002', brand: 'visa', country: 'US', stripeToken: 'pm_card_chargeDeclined', description: 'Declined, generic.' },
  { number: '4000000000009995', brand: 'visa', country: 'US', stripeToken: 'pm_card_chargeDeclinedInsufficientFunds', description: 'Declined: insufficient funds.' },
  { number: '4000000000000069', brand: 'visa', country: 'US', stripeToken: 'pm_card_chargeDeclinedExpiredCard', description: 'Declined: expired card.' },
  { number: '4000000000000127', brand: 'visa', country: 'US', stripeToken: 'pm_card_chargeDeclinedIncorrectCvc', description: 'Declined: incorrect CVC.' },
  { number: '4100000000000019', brand: 'visa', country: 'US', stripeToken: 'pm_card_chargeDeclinedFraudulent', description: 'Declined: suspected fraud.' },
  { number: '4000000000003220', brand: 'visa', country: 'US', stripeToken: 'pm_card_threeDSecure2Required', description: '3DS-style challenge.' },
  { number: '4000002500003155', brand: 'visa', country: 'FR', stripeToken: 'pm_card_authenticationRequired', description: '3DS-style challenge, issued in France.' },
  { number: '4000000000000259', brand: 'visa', country: 'US', stripeToken: 'pm_card_createDispute', description: 'Approved; disputed as soon as it is captured.' },
];

const byNumber = new Map(testCardNumbers.map((card) => [card.number, card] as const));

/** What the card fields post to `/elements/tokenize`: exactly what the buyer typed. */
export interface CardInput {
  number: string;
  /** `MM / YY`, `MM/YY`, `MMYY` or `MM/YYYY`. */
  expiry: string;
  cvc: string;
}

/** What the parent page receives: tokens per PSP and display/routing facts, never the number. */
export interface CardTokenResult {
  pspTokens: { stripe: string; adyen: string };
  brand: CardBrand;
  last4: string;
  country: string;
}

/** Why a card was not tokenized; `field` is the input to fix (the page focuses it). */
export interface CardFieldError {
  code: 'invalid_number' | 'test_card_required' | 'incomplete_expiry' | 'expired_card_date' | 'invalid_cvc';
  field: 'number' | 'expiry' | 'cvc';
  message: string;
}

/** Luhn (ISO/IEC 7812) check digit test over a digit string. */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let total = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    total += digit;
  }
  return total % 10 === 0;
}

/** The brand a number's prefix names (IIN ranges), or null when it is none the fields accept. */
export function brandOf(digits: string): CardBrand | null {
  if (/^4/.test(digits)) return 'visa';
  if (/^3[47]/.test(digits)) return 'amex';
  const two = Number(digits.slice(0, 2));
  const four = Number(digits.slice(0, 4));
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) return 'mastercard';
  return null;
}

const INPUT_LENGTH_MAX = 32;

/**
 * Checks what the buyer typed and finds the test card it stands for. `nowMs` decides whether the
 * expiry is in the past (a card is valid through the last day of its expiry month, UTC here).
 */
export function checkCardInput(input: CardInput, nowMs: number): { card: TestCardNumber } | { error: CardFieldError } {
  const digits = input.number.replace(/[\s-]/g, '');
  if (digits.length < 12 || digits.length > 19 || !luhnValid(digits) || brandOf(digits) === null) {
    return { error: { code: 'invalid_number', field: 'number', message: 'Your card number is invalid.' } };
  }
  const card = byNumber.get(digits);
  if (card === undefined) {
    return { error: { code: 'test_card_required', field: 'number', message: 'This is a sandbox: use one of the test card numbers (for example 4242 4242 4242 4242).' } };
  }
  const expiry = /^\s*(\d{1,2})\s*\/?\s*(\d{2}|\d{4})\s*$/.exec(input.expiry);
  const month = expiry === null ? 0 : Number(expiry[1]);
  if (expiry === null || month < 1 || month > 12) {
    return { error: { code: 'incomplete_expiry', field: 'expiry', message: "Your card's expiration date is incomplete (MM / YY)." } };
  }
  const yearText = expiry[2] as string;
  const year = yearText.length === 2 ? 2000 + Number(yearText) : Number(yearText);
  const now = new Date(nowMs);
  if (year * 12 + month < now.getUTCFullYear() * 12 + now.getUTCMonth() + 1) {
    return { error: { code: 'expired_card_date', field: 'expiry', message: "Your card's expiration date is in the past." } };
  }
  const cvcLength = card.brand === 'amex' ? 4 : 3;
  if (!new RegExp(`^\\d{${cvcLength}}$`).test(input.cvc.trim())) {
    return { error: { code: 'invalid_cvc', field: 'cvc', message: `Your card's security code must be ${cvcLength} digits.` } };
  }
  return { card };
}

/** Parses the JSON body of `POST /elements/tokenize`; malformed input is a SandboxInputError (400). */
export function parseCardInput(body: string): CardInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new SandboxInputError('expected a JSON body { number, expiry, cvc }');
  }
  const input = parsed as Record<string, unknown> | null;
  const fields = ['number', 'expiry', 'cvc'] as const;
  if (typeof input !== 'object' || input === null) throw new SandboxInputError('expected a JSON body { number, expiry, cvc }');
  for (const field of fields) {
    const value = input[field];
    if (typeof value !== 'string' || value.length > INPUT_LENGTH_MAX) throw new SandboxInputError(`${field}: expected a string of at most ${INPUT_LENGTH_MAX} characters`);
  }
  return { number: input.number as string, expiry: input.expiry as string, cvc: input.cvc as string };
}

/**
 * The tokens minted by the card fields, per PSP, each bound to a test card. Bounded: beyond
 * `tokensMax` the oldest tokens are forgotten first (a PSP's unused tokens expire too), and a
 * forgotten token is refused by the wire as an unknown payment method.
 */
export class CardTokenVault {
  // Insertion-ordered, so the first key is the oldest.
  private readonly stripe = new Map<string, TestCard>();
  private readonly adyen = new Map<string, TestCard>();

  constructor(private readonly tokensMax: number) {
    if (!(Number.isSafeInteger(tokensMax) && tokensMax >= 1)) throw new Error(`CardTokenVault: tokensMax must be a positive integer, got ${tokensMax}`);
  }

  /** Mints a Stripe and an Adyen token for the test card behind `number`. */
  mint(number: TestCardNumber): CardTokenResult {
    const card = stripeTestCard(number.stripeToken);
    // A programmer error in the table above, not bad input: fail loudly.
    if (card === undefined) throw new Error(`card-fields: ${number.number} maps to unknown test card ${number.stripeToken}`);
    const stripeToken = `pm_${randomBytes(12).toString('hex')}`;
    const adyenToken = `adyen_tok_${randomBytes(12).toString('hex')}`;
    this.put(this.stripe, stripeToken, card);
    this.put(this.adyen, adyenToken, card);
    return { pspTokens: { stripe: stripeToken, adyen: adyenToken }, brand: number.brand, last4: number.number.slice(-4), country: number.country };
  }

  /** The test card behind a Stripe `payment_method`: a fixed test token or a minted one. */
  stripeCard(token: string): TestCard | undefined {
    return stripeTestCard(token) ?? this.stripe.get(token);
  }

  /** The test card behind an Adyen stored payment method id: a fixed test token or a minted one. */
  adyenCard(token: string): TestCard | undefined {
    return adyenTestCard(token) ?? this.adyen.get(token);
  }

  size(): number {
    return this.stripe.size;
  }

  clear(): void {
    this.stripe.clear();
    this.adyen.clear();
  }

  private put(map: Map<string, TestCard>, token: string, card: TestCard): void {
    map.set(token, card);
    while (map.size > this.tokensMax) {
      const oldest = map.keys().next().value as string;
      map.delete(oldest);
    }
  }
}

/**
 * The parent origin from `?origin=`: an http(s) origin exactly as `location.origin` spells it
 * (scheme, host, optional port; no path, no trailing slash), or a SandboxInputError.
 */
export function parseParentOrigin(value: string | null): string {
  const hint = 'origin: expected the framing page\'s origin, as location.origin spells it (e.g. https://shop.example)';
  if (value === null || value === '' || value.length > 200) throw new SandboxInputError(hint);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SandboxInputError(hint);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== value) throw new SandboxInputError(hint);
  return value;
}

/** The response headers of the card fields page: framed by `parentOrigin` only, scripts by nonce. */
export function cardFieldsHeaders(parentOrigin: string, nonce: string): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "connect-src 'self'",
      `frame-ancestors ${parentOrigin}`,
      "base-uri 'none'",
      "form-action 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  };
}

/**
 * The card fields page. No framework: three labelled inputs and a small script. Messages it posts
 * to the parent (always with `targetOrigin = parentOrigin`):
 * - `{ type: 'tally.card_ready' }` once it can tokenize;
 * - `{ type: 'tally.card_submit' }` when the buyer presses Enter in a field (the parent pays);
 * - `{ type: 'tally.card_resize', height }` when the form's height in CSS pixels changes (size the frame to it);
 * - `{ type: 'tally.card_token', requestId, card: { pspTokens: { stripe, adyen }, brand, last4, country } }`;
 * - `{ type: 'tally.card_error', requestId, message, field, code }`.
 * It acts on `{ type: 'tally.tokenize', requestId? }` and `{ type: 'tally.focus' }` (focus the number,
 * e.g. to try another card after a decline) from `window.parent` at `parentOrigin` only.
 */
export function cardFieldsPage(parentOrigin: string, nonce: string): string {
  // JSON inside a <script>: escape `<` so no value can close the element.
  const config = JSON.stringify({ parentOrigin }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Card details</title>
<style nonce="${nonce}">
  :root { color-scheme: light; font: 16px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1f36; }
  body { margin: 0; padding: 4px; background: transparent; }
  form { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 12px; }
  .full { grid-column: 1 / -1; }
  label { display: block; font-size: 14px; font-weight: 600; margin-bottom: 4px; }
  input { box-sizing: border-box; width: 100%; font: inherit; padding: 10px 12px; border: 1px solid #8792a2; border-radius: 6px; background: #fff; color: inherit; }
  input:focus-visible { outline: 3px solid #635bff; outline-offset: 1px; border-color: #635bff; }
  input[aria-invalid="true"] { border-color: #c0123c; }
  .error { grid-column: 1 / -1; min-height: 1.2em; margin: 0; color: #c0123c; font-size: 14px; }
</style>
</head>
<body>
<form id="card" novalidate>
  <div class="full">
    <label for="number">Card number</label>
    <input id="number" name="number" inputmode="numeric" autocomplete="cc-number" placeholder="1234 1234 1234 1234" maxlength="23" aria-describedby="error" spellcheck="false">
  </div>
  <div>
    <label for="expiry">Expiry (MM / YY)</label>
    <input id="expiry" name="expiry" inputmode="numeric" autocomplete="cc-exp" placeholder="MM / YY" maxlength="9" aria-describedby="error">
  </div>
  <div>
    <label for="cvc">Security code</label>
    <input id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" placeholder="CVC" maxlength="4" aria-describedby="error">
  </div>
  <p id="error" class="error" role="alert" aria-live="assertive"></p>
</form>
<script nonce="${nonce}">
(() => {
  const { parentOrigin } = ${config};
  const form = document.getElementById('card');
  const error = document.getElementById('error');
  const fields = { number: form.number, expiry: form.expiry, cvc: form.cvc };
  let busy = false;
  // Only ever talk to the page that framed us, at the origin it declared.
  const post = (message) => window.parent.postMessage(message, parentOrigin);
  const showError = (message, field) => {
    error.textContent = message || '';
    for (const [name, input] of Object.entries(fields)) input.setAttribute('aria-invalid', String(name === field));
  };
  fields.number.addEventListener('input', () => {
    const digits = fields.number.value.replace(/\\D/g, '').slice(0, 19);
    const groups = /^3[47]/.test(digits) ? [4, 6, 5] : [4, 4, 4, 4, 3];
    const parts = [];
    let at = 0;
    for (const size of groups) { if (at < digits.length) parts.push(digits.slice(at, at + size)); at += size; }
    fields.number.value = parts.join(' ');
  });
  fields.expiry.addEventListener('input', (event) => {
    const digits = fields.expiry.value.replace(/\\D/g, '').slice(0, 4);
    const deleting = event.inputType && event.inputType.startsWith('delete');
    fields.expiry.value = digits.length > 2 || (digits.length === 2 && !deleting) ? digits.slice(0, 2) + ' / ' + digits.slice(2) : digits;
  });
  // No submit button, so no implicit submission: Enter in any field asks the parent to pay.
  form.addEventListener('submit', (event) => event.preventDefault());
  form.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.isComposing) return;
    event.preventDefault();
    post({ type: 'tally.card_submit' });
  });
  window.addEventListener('message', async (event) => {
    if (event.origin !== parentOrigin || event.source !== window.parent) return;
    const data = event.data;
    if (typeof data !== 'object' || data === null) return;
    if (data.type === 'tally.focus') {
      fields.number.focus();
      fields.number.select();
      return;
    }
    if (data.type !== 'tally.tokenize') return;
    const requestId = typeof data.requestId === 'string' ? data.requestId.slice(0, 100) : null;
    if (busy) return;
    busy = true;
    try {
      const response = await fetch('/elements/tokenize', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ number: fields.number.value, expiry: fields.expiry.value, cvc: fields.cvc.value }),
      });
      const body = await response.json();
      if (response.ok) {
        showError('', null);
        post({ type: 'tally.card_token', requestId, card: body });
      } else {
        const failure = body.error || {};
        const message = failure.message || 'Your card could not be checked.';
        showError(message, failure.field);
        if (fields[failure.field]) fields[failure.field].focus();
        post({ type: 'tally.card_error', requestId, message, field: failure.field || null, code: failure.code || null });
      }
    } catch {
      const message = 'The card service could not be reached. Try again.';
      showError(message, null);
      post({ type: 'tally.card_error', requestId, message, field: null, code: 'network' });
    } finally {
      busy = false;
    }
  });
  // The parent sizes the frame to the form (labels wrap and errors appear on narrow screens).
  let lastHeight = 0;
  new ResizeObserver(() => {
    const height = Math.ceil(document.documentElement.scrollHeight);
    if (height !== lastHeight) post({ type: 'tally.card_resize', height: (lastHeight = height) });
  }).observe(document.body);
  post({ type: 'tally.card_ready' });
})();
</script>
</body>
</html>
`;
}

/** A new nonce for one page's inline script and style. */
export function newNonce(): string {
  return randomBytes(16).toString('base64');
}
