/**
 * The shopper's 3DS-style challenge page (`/_sandbox/challenge/<psp>/<id>`), standing in for the
 * issuer's page a real PSP redirects to: it shows what is being authenticated and offers
 * "Complete" and "Fail". A browser's form post completes the challenge and is redirected (303) to
 * the payment's return URL with the PSP's query parameters, as the real redirect flow does.
 */
import { formatDecimal, fromSafeInteger } from '../../functions/src/domain/money/index.js';

/** A payment's challenge as its page shows it (see `WireProtocol.challenge`). */
export interface ChallengeView {
  /** True while the payment waits for the challenge; false once completed or failed. */
  waiting: boolean;
  /** The amount, minor units of the ISO 4217 currency. */
  amountMinor: number;
  /** ISO 4217, uppercase. */
  currency: string;
  /**
   * Where the shopper goes back to, with the PSP's parameters appended (Stripe `payment_intent`,
   * `redirect_status`; Adyen `redirectResult`), or null when the payment carries no return URL.
   */
  returnUrl: string | null;
}

/**
 * `returnUrl` with `params` added to its query (before any fragment, which is kept); null when it
 * is not an absolute http(s) URL, so a `javascript:` return URL never becomes a link or redirect.
 */
export function withQuery(returnUrl: string, params: Record<string, string>): string | null {
  let url: URL;
  try {
    url = new URL(returnUrl);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

export function challengePage(psp: string, id: string, view: ChallengeView, nonce: string): string {
  const amount = `${formatDecimal(fromSafeInteger(view.amountMinor, view.currency))} ${view.currency}`;
  const body = view.waiting
    ? `<p>Confirm the payment of <strong>${escapeHtml(amount)}</strong> with your bank.</p>
<p class="note">This sandbox page stands in for the card issuer's 3-D Secure challenge.</p>
<form method="post">
  <button name="result" value="success" class="primary" autofocus>Complete</button>
  <button name="result" value="failure">Fail</button>
</form>`
    : `<p>This authentication is already finished.</p>${view.returnUrl === null ? '' : `<p><a href="${escapeHtml(view.returnUrl)}">Return to the merchant</a></p>`}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authenticate your payment</title>
<style nonce="${nonce}">
  :root { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1f36; background: #f6f8fa; }
  main { max-width: 420px; margin: 48px auto; padding: 24px; background: #fff; border-radius: 12px; box-shadow: 0 2px 8px rgba(0,0,0,.08); }
  h1 { font-size: 22px; margin: 0 0 12px; }
  .note { color: #4f566b; font-size: 14px; }
  form { display: flex; gap: 12px; margin-top: 20px; }
  button { flex: 1; font: inherit; font-weight: 600; padding: 12px; border-radius: 6px; border: 1px solid #8792a2; background: #fff; cursor: pointer; }
  button.primary { background: #635bff; border-color: #635bff; color: #fff; }
  button:focus-visible, a:focus-visible { outline: 3px solid #1a1f36; outline-offset: 2px; }
  .ref { color: #4f566b; font-size: 12px; word-break: break-all; }
</style>
</head>
<body>
<main>
  <h1>Authenticate your payment</h1>
  ${body}
  <p class="ref">Sandbox ${escapeHtml(psp)} payment ${escapeHtml(id)}</p>
</main>
</body>
</html>
`;
}

/**
 * Headers of the challenge page: no script at all, styles by nonce. No `form-action`: browsers
 * apply it to the redirect that follows the post too, and the return URL is on the merchant's origin.
 */
export function challengeHeaders(nonce: string): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; frame-ancestors 'none'; base-uri 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  };
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
