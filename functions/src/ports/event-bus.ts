/** Publishes messages to a topic (Pub/Sub). Attributes carry the W3C trace context. */
export interface EventBus {
  /** Resolves with the message id once the broker has it. */
  publish(topic: string, data: Uint8Array, attributes: Record<string, string>, orderingKey?: string): Promise<string>;
}
