/**
 * Locally there is no Eventarc: this stands in for the `outboxRelay` Firestore trigger. A snapshot
 * listener on the `outbox` collection group (unsent documents only) hands each newly seen document
 * to the handler as a `google.cloud.firestore.document.v1.created` CloudEvent with the same
 * `subject` Eventarc sets (`documents/tenants/T/outbox/E`). Like the deployed trigger, whose data
 * is a protobuf DocumentEventData (terraform/), the relay uses only the subject, so the data is
 * left empty here. A failed relay is not retried by the listener: the document stays unsent and
 * the sweeper (on its interval) publishes it. At most `inFlightMax` relays run at once; documents
 * seen beyond that are likewise left to the sweeper.
 */
import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import type { CloudEvent } from '@google-cloud/functions-framework';

export interface OutboxTrigger { stop(): Promise<void> }

export function startOutboxTrigger(options: {
  db: Firestore;
  projectId: string;
  handler: (event: CloudEvent<unknown>) => Promise<void>;
  inFlightMax?: number;
  onError?: (error: unknown) => void;
}): OutboxTrigger {
  const inFlightMax = options.inFlightMax ?? 32;
  const running = new Set<Promise<void>>();
  const unsubscribe = options.db.collectionGroup('outbox').where('publishedAt', '==', null).onSnapshot((snapshot) => {
    for (const change of snapshot.docChanges()) {
      if (change.type !== 'added' || running.size >= inFlightMax) continue;
      const event: CloudEvent<unknown> = {
        specversion: '1.0',
        id: randomUUID(),
        type: 'google.cloud.firestore.document.v1.created',
        source: `//firestore.googleapis.com/projects/${options.projectId}/databases/(default)`,
        subject: `documents/${change.doc.ref.path}`,
        time: (change.doc.createTime ?? change.doc.readTime).toDate().toISOString(),
        datacontenttype: 'application/protobuf',
      };
      const run = options.handler(event).catch((error: unknown) => options.onError?.(error)).finally(() => running.delete(run));
      running.add(run);
    }
  }, (error) => options.onError?.(error));
  return {
    async stop() {
      unsubscribe();
      await Promise.allSettled([...running]);
    },
  };
}
