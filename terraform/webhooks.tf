# ---- Merchant webhooks (issue 16, ADR 0034) ------------------------------------------------------
# webhookDispatcher is fed by a push subscription on domain-events (dead-letter topic attached): it
# records each event's deliveries in Firestore before answering, then attempts them. webhookRetrier
# runs every minute (Scheduler -> ticks-webhooks) and attempts the deliveries that are due. Signing
# secrets are encrypted with the webhook-secrets CryptoKey (symmetric). Numbers mirror
# functions/src/adapters/pubsub/subscription-policies.ts (test/terraform.test.ts compares them).

resource "google_kms_crypto_key" "webhook_secrets" {
  name     = "webhook-secrets"
  key_ring = google_kms_key_ring.tally.id
  purpose  = "ENCRYPT_DECRYPT"
  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = "HSM"
  }
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_service_account" "webhooks" {
  account_id   = "tally-webhooks"
  display_name = "Tally webhookDispatcher and webhookRetrier (merchant webhooks)"
}

resource "google_project_iam_member" "webhooks_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.webhooks.email}"
}

resource "google_project_iam_member" "webhooks_trace" {
  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = "serviceAccount:${google_service_account.webhooks.email}"
}

# The dispatcher and the retrier decrypt secrets to sign; the api encrypts them (create, roll) and
# decrypts them (resend, test events).
resource "google_kms_crypto_key_iam_member" "webhooks_decrypt" {
  crypto_key_id = google_kms_crypto_key.webhook_secrets.id
  role          = "roles/cloudkms.cryptoKeyDecrypter"
  member        = "serviceAccount:${google_service_account.webhooks.email}"
}

resource "google_kms_crypto_key_iam_member" "api_webhook_secrets" {
  crypto_key_id = google_kms_crypto_key.webhook_secrets.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${google_service_account.api.email}"
}

resource "google_cloudfunctions2_function" "webhook_dispatcher" {
  name     = "webhookDispatcher"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "webhookDispatcher"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email = google_service_account.webhooks.email
    # One delivery attempt is at most 10 s; a message's attempts run concurrently.
    timeout_seconds                  = 60
    available_memory                 = "512Mi"
    available_cpu                    = "1"
    max_instance_request_concurrency = 80
    max_instance_count               = 20
    # Every TALLY_WEBHOOK_* setting (functions/src/platform/config/webhooks-config.ts) is set here,
    # explicitly, with the same values in webhookRetrier below (both attempt deliveries; a lease or
    # a timeout that differed between them would let one take the other's running attempt).
    # test/terraform.test.ts fails when one is missing or the two disagree.
    environment_variables = {
      TALLY_TRACE_EXPORTER                   = "cloud-trace"
      TALLY_KMS_KEY_VERSION                  = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_WEBHOOK_SECRETS_KMS_KEY          = google_kms_crypto_key.webhook_secrets.id
      TALLY_WEBHOOK_URL_PROFILE              = "deployed"
      TALLY_WEBHOOK_TIMEOUT_MS               = "10000"
      TALLY_WEBHOOK_RESPONSE_BYTES_MAX       = "65536"
      TALLY_WEBHOOK_CONCURRENCY_PER_ENDPOINT = "16"
      TALLY_WEBHOOK_QUEUE_PER_ENDPOINT_MAX   = "200"
      TALLY_WEBHOOK_QUEUE_TIMEOUT_MS         = "5000"
      TALLY_WEBHOOK_LEASE_MS                 = "60000"
      TALLY_WEBHOOK_ENDPOINTS_PER_TENANT_MAX = "50"
      TALLY_WEBHOOK_ENDPOINTS_CACHE_TTL_MS   = "5000"
      TALLY_WEBHOOK_BREAKERS_MAX             = "10000"
      TALLY_WEBHOOK_BREAKER_WINDOW_MS        = "60000"
      TALLY_WEBHOOK_BREAKER_MINIMUM_CALLS    = "10"
      TALLY_WEBHOOK_BREAKER_FAILURE_PERCENT  = "50"
      TALLY_WEBHOOK_BREAKER_OPEN_MS          = "30000"
      # Dispatcher only: how long a first attempt may run before its delivery is recorded as
      # claimed (ADR 0034); a quicker outcome is recorded in the same single write.
      TALLY_WEBHOOK_INLINE_RECORD_MS = "1000"
      # Dispatcher only: new deliveries' records of concurrent events share commits (ADR 0034).
      TALLY_WEBHOOK_RECORD_GROUP_WRITES_MAX  = "200"
      TALLY_WEBHOOK_RECORD_GROUP_WAITING_MAX = "10000"
    }
  }
  # Fed by google_pubsub_subscription.webhook_dispatcher (push, dead-letter policy), not event_trigger.
}

resource "google_cloudfunctions2_function" "webhook_retrier" {
  name     = "webhookRetrier"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "webhookRetrier"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email = google_service_account.webhooks.email
    timeout_seconds       = 300
    available_memory      = "1Gi"
    max_instance_count    = 1
    # The same delivery settings as webhookDispatcher (see there).
    environment_variables = {
      TALLY_TRACE_EXPORTER                   = "cloud-trace"
      TALLY_KMS_KEY_VERSION                  = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_WEBHOOK_SECRETS_KMS_KEY          = google_kms_crypto_key.webhook_secrets.id
      TALLY_WEBHOOK_URL_PROFILE              = "deployed"
      TALLY_WEBHOOK_TIMEOUT_MS               = "10000"
      TALLY_WEBHOOK_RESPONSE_BYTES_MAX       = "65536"
      TALLY_WEBHOOK_CONCURRENCY_PER_ENDPOINT = "16"
      TALLY_WEBHOOK_QUEUE_PER_ENDPOINT_MAX   = "200"
      TALLY_WEBHOOK_QUEUE_TIMEOUT_MS         = "5000"
      TALLY_WEBHOOK_LEASE_MS                 = "60000"
      TALLY_WEBHOOK_ENDPOINTS_PER_TENANT_MAX = "50"
      TALLY_WEBHOOK_ENDPOINTS_CACHE_TTL_MS   = "5000"
      TALLY_WEBHOOK_BREAKERS_MAX             = "10000"
      TALLY_WEBHOOK_BREAKER_WINDOW_MS        = "60000"
      TALLY_WEBHOOK_BREAKER_MINIMUM_CALLS    = "10"
      TALLY_WEBHOOK_BREAKER_FAILURE_PERCENT  = "50"
      TALLY_WEBHOOK_BREAKER_OPEN_MS          = "30000"
      # Retrier only: due deliveries claimed per run (a full batch is logged as an error).
      TALLY_WEBHOOK_RETRIER_BATCH_MAX = "500"
    }
  }
}

resource "google_cloud_run_service_iam_member" "push_invokes_webhook_dispatcher" {
  location = var.region
  service  = google_cloudfunctions2_function.webhook_dispatcher.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

resource "google_cloud_run_service_iam_member" "push_invokes_webhook_retrier" {
  location = var.region
  service  = google_cloudfunctions2_function.webhook_retrier.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

resource "google_pubsub_topic" "webhook_dispatcher_dlq" {
  name = "webhook-dispatcher-dlq"
}

resource "google_pubsub_subscription" "webhook_dispatcher_dlq_hold" {
  name                       = "webhook-dispatcher-dlq-hold"
  topic                      = google_pubsub_topic.webhook_dispatcher_dlq.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "agent_publishes_webhook_dispatcher_dlq" {
  topic  = google_pubsub_topic.webhook_dispatcher_dlq.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription" "webhook_dispatcher" {
  name                    = "webhook-dispatcher"
  topic                   = google_pubsub_topic.domain_events.id
  ack_deadline_seconds    = 60
  enable_message_ordering = false
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.webhook_dispatcher.url}/projects/${var.project_id}/topics/domain-events"
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
    }
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.webhook_dispatcher_dlq.id
    max_delivery_attempts = 20
  }
}

resource "google_pubsub_subscription_iam_member" "agent_subscribes_webhook_dispatcher" {
  subscription = google_pubsub_subscription.webhook_dispatcher.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_topic" "ticks_webhooks" {
  name = "ticks-webhooks"
}

resource "google_cloud_scheduler_job" "webhooks_tick" {
  name     = "webhooks-tick"
  schedule = "* * * * *"
  pubsub_target {
    topic_name = google_pubsub_topic.ticks_webhooks.id
    data       = base64encode("tick")
  }
}

resource "google_pubsub_subscription" "webhook_retrier" {
  name                 = "webhook-retrier"
  topic                = google_pubsub_topic.ticks_webhooks.id
  ack_deadline_seconds = 300
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.webhook_retrier.url}/projects/${var.project_id}/topics/ticks-webhooks"
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
    }
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "300s"
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.ticks_dlq.id
    max_delivery_attempts = 5
  }
}

resource "google_pubsub_subscription_iam_member" "agent_subscribes_webhook_retrier" {
  subscription = google_pubsub_subscription.webhook_retrier.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The retrier's query: pending deliveries across tenants by due time.
resource "google_firestore_index" "webhook_deliveries_due" {
  database    = google_firestore_database.default.name
  collection  = "webhookDeliveries"
  query_scope = "COLLECTION_GROUP"
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "nextAttemptAtMs"
    order      = "ASCENDING"
  }
}

# ListWebhookDeliveries: one endpoint's deliveries, newest first, optionally by status.
resource "google_firestore_index" "webhook_deliveries_by_endpoint" {
  database    = google_firestore_database.default.name
  collection  = "webhookDeliveries"
  query_scope = "COLLECTION"
  fields {
    field_path = "endpointId"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "webhook_deliveries_by_endpoint_status" {
  database    = google_firestore_database.default.name
  collection  = "webhookDeliveries"
  query_scope = "COLLECTION"
  fields {
    field_path = "endpointId"
    order      = "ASCENDING"
  }
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "DESCENDING"
  }
}

# Delivery documents expire 30 days after creation (webhooks-store.ts deliveryRetentionMs); mirrors
# the fieldOverrides entry in firestore.indexes.json.
resource "google_firestore_field" "webhook_deliveries_ttl" {
  database   = google_firestore_database.default.name
  collection = "webhookDeliveries"
  field      = "expireAt"
  ttl_config {}
  index_config {}
}

# Never queried: no single-field index entries for each delivery's body and attempts.
resource "google_firestore_field" "webhook_deliveries_body" {
  database   = google_firestore_database.default.name
  collection = "webhookDeliveries"
  field      = "body"
  index_config {}
}

resource "google_firestore_field" "webhook_deliveries_attempts" {
  database   = google_firestore_database.default.name
  collection = "webhookDeliveries"
  field      = "attempts"
  index_config {}
}
