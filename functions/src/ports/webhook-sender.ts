/** Sends one signed webhook POST. Never throws for what the receiver or the network did: it reports it. */
export interface WebhookPost {
  url: string;
  headers: Readonly<Record<string, string>>;
  body: string;
}

export interface WebhookPostResult {
  /** True for a 2xx answer. */
  ok: boolean;
  /** HTTP status, 0 when none came back. */
  statusCode: number;
  latencyMs: number;
  /** '' on success; otherwise what went wrong (the start of the body included, capped). */
  error: string;
  /** The address refused before any connection (SSRF rule): nothing reached the network. */
  refused: boolean;
}

export interface WebhookSender {
  send(post: WebhookPost): Promise<WebhookPostResult>;
}
