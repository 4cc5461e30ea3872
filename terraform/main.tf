# Tally on Google Cloud. Foundation pieces: Firestore (rules, TTL for idempotency records), the
# `api` Cloud Run service with its own service account, and the platform admin key in Secret
# Manager. Later areas add their functions, topics and schedulers here.

terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0"
    }
  }
}

variable "project_id" {
  type        = string
  description = "GCP project that hosts Tally."
}

variable "region" {
  type        = string
  default     = "europe-west1"
  description = "Region for Cloud Run, Functions and Firestore."
}

variable "api_image" {
  type        = string
  description = "Container image of the api service (built from functions/)."
}

provider "google" {
  project = var.project_id
  region  = var.region
}

resource "google_firestore_database" "default" {
  name                    = "(default)"
  location_id             = var.region
  type                    = "FIRESTORE_NATIVE"
  concurrency_mode        = "PESSIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
}

# Idempotency records expire through this TTL field (kept >= 24 h by TALLY_IDEMPOTENCY_RETENTION_MS);
# mirrors the fieldOverrides entry in firestore.indexes.json.
resource "google_firestore_field" "idempotency_ttl" {
  database   = google_firestore_database.default.name
  collection = "idempotency"
  field      = "expireAt"
  ttl_config {}
  index_config {}
}

# PSP events parked until their PSP reference is known expire through this TTL field (30 days,
# payments-use-cases.ts parkedEventRetentionMs); mirrors firestore.indexes.json.
resource "google_firestore_field" "parked_psp_events_ttl" {
  database   = google_firestore_database.default.name
  collection = "parkedPspEvents"
  field      = "expireAt"
  ttl_config {}
  index_config {}
}

resource "google_service_account" "api" {
  account_id   = "tally-api"
  display_name = "Tally api (Cloud Run)"
}

resource "google_project_iam_member" "api_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.api.email}"
}

resource "google_project_iam_member" "api_trace" {
  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = "serviceAccount:${google_service_account.api.email}"
}

resource "google_secret_manager_secret" "platform_admin_key_sha256" {
  secret_id = "tally-platform-admin-key-sha256"
  replication {
    auto {}
  }
}

resource "google_cloud_run_v2_service" "api" {
  name     = "api"
  location = var.region
  ingress  = "INGRESS_TRAFFIC_ALL"

  template {
    service_account                  = google_service_account.api.email
    timeout                          = "30s"
    max_instance_request_concurrency = 80
    scaling {
      min_instance_count = 1
      max_instance_count = 20
    }
    containers {
      image = var.api_image
      # gRPC needs HTTP/2 end to end: the port is declared h2c, so Cloud Run speaks cleartext
      # HTTP/2 to the container, whose entry (functions/src/serve-api.ts) serves h2c and HTTP/1.1
      # on one port (ADR 0020). Connect and gRPC-Web clients on HTTP/1.1 still work at the front.
      command = ["node", "--import", "tsx", "functions/src/serve-api.ts"]
      ports {
        name           = "h2c"
        container_port = 8080
      }
      resources {
        limits = { cpu = "1", memory = "512Mi" }
      }
      env {
        name  = "TALLY_TRACE_EXPORTER"
        value = "cloud-trace"
      }
      # AnalyticsService reads merchant reports from ClickHouse (terraform/analytics.tf, ADR 0030).
      env {
        name  = "TALLY_CLICKHOUSE_URL"
        value = var.clickhouse_url
      }
      env {
        name  = "TALLY_CLICKHOUSE_USER"
        value = var.clickhouse_user
      }
      env {
        name = "TALLY_CLICKHOUSE_PASSWORD"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.clickhouse_password.secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "TALLY_PLATFORM_ADMIN_KEY_SHA256"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.platform_admin_key_sha256.secret_id
            version = "latest"
          }
        }
      }
      # Checkpoints are verified against the KMS key (start-up requires it when deployed).
      env {
        name  = "TALLY_KMS_KEY_VERSION"
        value = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      }
      # Merchant webhook signing secrets are sealed with this key (terraform/webhooks.tf, ADR 0034).
      env {
        name  = "TALLY_WEBHOOK_SECRETS_KMS_KEY"
        value = google_kms_crypto_key.webhook_secrets.id
      }
      # Hosted checkout sessions' buyer URLs and card fields (terraform/checkout.tf, ADR 0036).
      env {
        name  = "TALLY_CHECKOUT_BASE_URL"
        value = var.checkout_base_url
      }
      env {
        name  = "TALLY_CHECKOUT_CARD_FIELDS_URL"
        value = var.checkout_card_fields_url
      }
      # PSP credentials and webhook secrets (secrets.tf, ADR 0019).
      env {
        name = "TALLY_STRIPE_API_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.stripe_api_key.secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "TALLY_STRIPE_WEBHOOK_SECRET"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.stripe_webhook_secret.secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "TALLY_ADYEN_API_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.adyen_api_key.secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "TALLY_ADYEN_HMAC_KEY_HEX"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.adyen_hmac_key_hex.secret_id
            version = "latest"
          }
        }
      }
      env {
        name  = "TALLY_ADYEN_MERCHANT_ACCOUNT"
        value = var.adyen_merchant_account
      }
      env {
        name  = "TALLY_ADYEN_BASE_URL"
        value = var.adyen_checkout_base_url
      }
    }
  }
}

# ---- Ledger -----------------------------------------------------------------------------------

# Checkpoints are signed by a key the database writers cannot use: tampering with Firestore alone
# cannot forge a checkpoint. The api/maintenance service accounts may sign but not manage the key.
resource "google_kms_key_ring" "tally" {
  name     = "tally"
  location = var.region
}

resource "google_kms_crypto_key" "ledger_checkpoints" {
  name     = "ledger-checkpoints"
  key_ring = google_kms_key_ring.tally.id
  purpose  = "ASYMMETRIC_SIGN"
  version_template {
    algorithm        = "EC_SIGN_P256_SHA256"
    protection_level = "HSM"
  }
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "maintenance_signs" {
  crypto_key_id = google_kms_crypto_key.ledger_checkpoints.id
  role          = "roles/cloudkms.signerVerifier"
  member        = "serviceAccount:${google_service_account.ledger_maintenance.email}"
}

resource "google_kms_crypto_key_iam_member" "api_verifies" {
  crypto_key_id = google_kms_crypto_key.ledger_checkpoints.id
  role          = "roles/cloudkms.publicKeyViewer"
  member        = "serviceAccount:${google_service_account.api.email}"
}

resource "google_service_account" "ledger_maintenance" {
  account_id   = "tally-ledger-maintenance"
  display_name = "Tally ledgerMaintenance (pending expiry, checkpoints)"
}

resource "google_project_iam_member" "ledger_maintenance_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.ledger_maintenance.email}"
}

resource "google_pubsub_topic" "ticks_ledger" {
  name = "ticks-ledger"
}

resource "google_cloud_scheduler_job" "ledger_tick" {
  name     = "ledger-tick"
  schedule = "* * * * *"
  pubsub_target {
    topic_name = google_pubsub_topic.ticks_ledger.id
    data       = base64encode("tick")
  }
}

variable "functions_source_bucket" {
  type        = string
  description = "Bucket holding the zipped functions/ build."
}

variable "functions_source_object" {
  type        = string
  description = "Object name of the zipped functions/ build."
}

resource "google_cloudfunctions2_function" "ledger_maintenance" {
  name     = "ledgerMaintenance"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "ledgerMaintenance"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email = google_service_account.ledger_maintenance.email
    timeout_seconds       = 300
    available_memory      = "512Mi"
    max_instance_count    = 1
    environment_variables = {
      TALLY_TRACE_EXPORTER  = "cloud-trace"
      TALLY_SIGNER          = "kms"
      TALLY_KMS_KEY_VERSION = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
    }
  }
  # Fed by the push subscription google_pubsub_subscription.ledger_maintenance (dead-letter policy attached),
  # not by an event_trigger: Eventarc's own subscription cannot take a dead-letter topic here.
}

resource "google_firestore_index" "journal_by_account" {
  database   = google_firestore_database.default.name
  collection = "journal"
  fields {
    field_path   = "accountIds"
    array_config = "CONTAINS"
  }
  fields {
    field_path = "kind"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
  fields {
    field_path = "id"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "journal_by_account_time" {
  database   = google_firestore_database.default.name
  collection = "journal"
  fields {
    field_path   = "accountIds"
    array_config = "CONTAINS"
  }
  fields {
    field_path = "createdAt"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "journal_by_stripe" {
  database   = google_firestore_database.default.name
  collection = "journal"
  fields {
    field_path = "chain.stripe"
    order      = "ASCENDING"
  }
  fields {
    field_path = "chain.sequence"
    order      = "ASCENDING"
  }
}

# The as-of balance read: an account's latest balance snapshot at or before a time (ADR 0025).
resource "google_firestore_index" "balance_snapshots_by_account_time" {
  database   = google_firestore_database.default.name
  collection = "balanceSnapshots"
  fields {
    field_path = "accountId"
    order      = "ASCENDING"
  }
  fields {
    field_path = "throughMs"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "pending_expiry" {
  database    = google_firestore_database.default.name
  collection  = "pendingEntries"
  query_scope = "COLLECTION_GROUP"
  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "expiresAt"
    order      = "ASCENDING"
  }
}

# ---- Payments ---------------------------------------------------------------------------------

resource "google_service_account" "payments" {
  account_id   = "tally-payments"
  display_name = "Tally pspWebhook, processPspEvent, paymentJanitor"
}

resource "google_project_iam_member" "payments_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.payments.email}"
}

resource "google_project_iam_member" "payments_pubsub" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.payments.email}"
}

resource "google_pubsub_topic" "psp_events" {
  name = "psp-events"
}

resource "google_pubsub_topic" "psp_events_dlq" {
  name = "psp-events-dlq"
}

resource "google_pubsub_topic" "ticks_janitor" {
  name = "ticks-janitor"
}

resource "google_cloud_scheduler_job" "janitor_tick" {
  name     = "janitor-tick"
  schedule = "* * * * *"
  pubsub_target {
    topic_name = google_pubsub_topic.ticks_janitor.id
    data       = base64encode("tick")
  }
}

resource "google_cloudfunctions2_function" "psp_webhook" {
  name     = "pspWebhook"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "pspWebhook"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email = google_service_account.payments.email
    timeout_seconds       = 10
    available_memory      = "256Mi"
    max_instance_count    = 50
    ingress_settings      = "ALLOW_ALL"
    environment_variables = {
      TALLY_TRACE_EXPORTER         = "cloud-trace"
      TALLY_KMS_KEY_VERSION        = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_ADYEN_MERCHANT_ACCOUNT = var.adyen_merchant_account
      TALLY_ADYEN_BASE_URL         = var.adyen_checkout_base_url
    }
    # PSP credentials and webhook secrets (secrets.tf, ADR 0019).
    secret_environment_variables {
      key        = "TALLY_STRIPE_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.stripe_api_key.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_STRIPE_WEBHOOK_SECRET"
      project_id = var.project_id
      secret     = google_secret_manager_secret.stripe_webhook_secret.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_ADYEN_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.adyen_api_key.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_ADYEN_HMAC_KEY_HEX"
      project_id = var.project_id
      secret     = google_secret_manager_secret.adyen_hmac_key_hex.secret_id
      version    = "latest"
    }
  }
}

resource "google_cloudfunctions2_function" "process_psp_event" {
  name     = "processPspEvent"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "processPspEvent"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email = google_service_account.payments.email
    timeout_seconds       = 60
    available_memory      = "512Mi"
    max_instance_count    = 50
    environment_variables = {
      TALLY_TRACE_EXPORTER         = "cloud-trace"
      TALLY_KMS_KEY_VERSION        = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_ADYEN_MERCHANT_ACCOUNT = var.adyen_merchant_account
      TALLY_ADYEN_BASE_URL         = var.adyen_checkout_base_url
    }
    # PSP credentials and webhook secrets (secrets.tf, ADR 0019).
    secret_environment_variables {
      key        = "TALLY_STRIPE_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.stripe_api_key.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_STRIPE_WEBHOOK_SECRET"
      project_id = var.project_id
      secret     = google_secret_manager_secret.stripe_webhook_secret.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_ADYEN_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.adyen_api_key.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_ADYEN_HMAC_KEY_HEX"
      project_id = var.project_id
      secret     = google_secret_manager_secret.adyen_hmac_key_hex.secret_id
      version    = "latest"
    }
  }
  # Fed by the push subscription google_pubsub_subscription.process_psp_event (dead-letter policy attached),
  # not by an event_trigger: Eventarc's own subscription cannot take a dead-letter topic here.
}

resource "google_cloudfunctions2_function" "payment_janitor" {
  name     = "paymentJanitor"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "paymentJanitor"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email = google_service_account.payments.email
    timeout_seconds       = 300
    available_memory      = "512Mi"
    max_instance_count    = 1
    environment_variables = {
      TALLY_TRACE_EXPORTER         = "cloud-trace"
      TALLY_KMS_KEY_VERSION        = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_ADYEN_MERCHANT_ACCOUNT = var.adyen_merchant_account
      TALLY_ADYEN_BASE_URL         = var.adyen_checkout_base_url
    }
    # PSP credentials and webhook secrets (secrets.tf, ADR 0019).
    secret_environment_variables {
      key        = "TALLY_STRIPE_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.stripe_api_key.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_STRIPE_WEBHOOK_SECRET"
      project_id = var.project_id
      secret     = google_secret_manager_secret.stripe_webhook_secret.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_ADYEN_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.adyen_api_key.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_ADYEN_HMAC_KEY_HEX"
      project_id = var.project_id
      secret     = google_secret_manager_secret.adyen_hmac_key_hex.secret_id
      version    = "latest"
    }
  }
  # Fed by the push subscription google_pubsub_subscription.payment_janitor (dead-letter policy attached),
  # not by an event_trigger: Eventarc's own subscription cannot take a dead-letter topic here.
}

# The janitor's collection-group query on unknownSince (a single-field override, as in
# firestore.indexes.json).
resource "google_firestore_field" "payments_unknown_since" {
  database   = google_firestore_database.default.name
  collection = "payments"
  field      = "unknownSince"
  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
    indexes {
      order = "ASCENDING"
    }
  }
}

resource "google_firestore_field" "payments_capture_due_since" {
  database   = google_firestore_database.default.name
  collection = "payments"
  field      = "captureDueSince"
  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
    indexes {
      order = "ASCENDING"
    }
  }
}

# The janitor's queue of unresolved payments, across tenants (payments-store findUnresolved).
resource "google_firestore_field" "payments_settle_queued_at" {
  database   = google_firestore_database.default.name
  collection = "payments"
  field      = "settleQueuedAt"
  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
    indexes {
      order = "ASCENDING"
    }
  }
}

# ---- Outbox relay -------------------------------------------------------------------------------
# Every state change writes tenants/{tenantId}/outbox/{eventId} in its own transaction; outboxRelay
# publishes it to domain-events (ordering key = aggregate id) and marks it sent; outboxSweeper
# republishes what a lost trigger left unsent. Delivery is at least once (ADR 0010).

resource "google_service_account" "outbox" {
  account_id   = "tally-outbox"
  display_name = "Tally outboxRelay, outboxSweeper"
}

resource "google_project_iam_member" "outbox_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.outbox.email}"
}

resource "google_project_iam_member" "outbox_trace" {
  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = "serviceAccount:${google_service_account.outbox.email}"
}

# The Firestore trigger delivers through Eventarc with this service account as its identity.
resource "google_project_iam_member" "outbox_event_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.outbox.email}"
}

resource "google_pubsub_topic" "domain_events" {
  name                       = "domain-events"
  message_retention_duration = "604800s"
}

resource "google_pubsub_topic_iam_member" "outbox_publishes_domain_events" {
  topic  = google_pubsub_topic.domain_events.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.outbox.email}"
}

resource "google_pubsub_topic" "ticks_outbox" {
  name = "ticks-outbox"
}

resource "google_cloud_scheduler_job" "outbox_tick" {
  name     = "outbox-tick"
  schedule = "* * * * *"
  pubsub_target {
    topic_name = google_pubsub_topic.ticks_outbox.id
    data       = base64encode("tick")
  }
}

resource "google_cloudfunctions2_function" "outbox_relay" {
  name     = "outboxRelay"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "outboxRelay"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email            = google_service_account.outbox.email
    timeout_seconds                  = 60
    available_memory                 = "256Mi"
    max_instance_count               = 20
    max_instance_request_concurrency = 1
    environment_variables = {
      TALLY_TRACE_EXPORTER  = "cloud-trace"
      TALLY_KMS_KEY_VERSION = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
    }
  }
  # An Eventarc Firestore trigger. Its data is a protobuf DocumentEventData (the default content
  # type, application/protobuf; this event_trigger block takes no other): the created document,
  # which the handler decodes and relays without reading it (ADR 0027; the local trigger in
  # emulators/outbox-trigger.ts delivers the same bytes). Retried while the publish fails; Eventarc's subscription takes no
  # dead-letter topic, and none is needed: the unsent document is its own dead letter, which
  # outboxSweeper republishes.
  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.firestore.document.v1.created"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.outbox.email
    event_filters {
      attribute = "database"
      value     = google_firestore_database.default.name
    }
    event_filters {
      attribute = "document"
      value     = "tenants/{tenantId}/outbox/{eventId}"
      operator  = "match-path-pattern"
    }
  }
}

resource "google_cloudfunctions2_function" "outbox_sweeper" {
  name     = "outboxSweeper"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "outboxSweeper"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email = google_service_account.outbox.email
    timeout_seconds       = 300
    available_memory      = "512Mi"
    max_instance_count    = 1
    environment_variables = {
      TALLY_TRACE_EXPORTER         = "cloud-trace"
      TALLY_KMS_KEY_VERSION        = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_OUTBOX_SWEEP_AGE_MS    = "60000"
      TALLY_OUTBOX_SWEEP_BATCH_MAX = "200"
    }
  }
}

resource "google_firestore_index" "outbox_unpublished_all_tenants" {
  database    = google_firestore_database.default.name
  collection  = "outbox"
  query_scope = "COLLECTION_GROUP"
  fields {
    field_path = "publishedAt"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "outbox_unpublished_one_tenant" {
  database   = google_firestore_database.default.name
  collection = "outbox"
  fields {
    field_path = "publishedAt"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "ASCENDING"
  }
}

# ---- Pub/Sub push subscriptions with dead-letter topics ---------------------------------------
# Every Pub/Sub-triggered function is fed by a push subscription declared here (not an
# event_trigger), so that it can carry a dead-letter policy: after max_delivery_attempts a message
# goes to its DLQ topic, where a pull subscription keeps it for inspection and replay. The push
# path /projects/<project>/topics/<topic> lets the Functions Framework name the topic in the
# CloudEvent source. Pub/Sub's service agent must publish to the DLQ and ack the source.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_service_account" "pubsub_push" {
  account_id   = "tally-pubsub-push"
  display_name = "Tally Pub/Sub push identity (OIDC tokens to the functions)"
}

resource "google_cloud_run_service_iam_member" "push_invokes_ledger_maintenance" {
  location = var.region
  service  = google_cloudfunctions2_function.ledger_maintenance.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

resource "google_cloud_run_service_iam_member" "push_invokes_process_psp_event" {
  location = var.region
  service  = google_cloudfunctions2_function.process_psp_event.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

resource "google_cloud_run_service_iam_member" "push_invokes_payment_janitor" {
  location = var.region
  service  = google_cloudfunctions2_function.payment_janitor.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

resource "google_cloud_run_service_iam_member" "push_invokes_outbox_sweeper" {
  location = var.region
  service  = google_cloudfunctions2_function.outbox_sweeper.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

# Scheduler ticks share one DLQ: a tick that keeps failing is superseded by the next one anyway;
# the DLQ shows that it happened.
resource "google_pubsub_topic" "ticks_dlq" {
  name = "ticks-dlq"
}

resource "google_pubsub_subscription" "ticks_dlq_hold" {
  name                       = "ticks-dlq-hold"
  topic                      = google_pubsub_topic.ticks_dlq.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "psp_events_dlq_hold" {
  name                       = "psp-events-dlq-hold"
  topic                      = google_pubsub_topic.psp_events_dlq.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "agent_publishes_ticks_dlq" {
  topic  = google_pubsub_topic.ticks_dlq.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_topic_iam_member" "agent_publishes_psp_events_dlq" {
  topic  = google_pubsub_topic.psp_events_dlq.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription" "ledger_maintenance" {
  name                 = "ledger-maintenance"
  topic                = google_pubsub_topic.ticks_ledger.id
  ack_deadline_seconds = 300
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.ledger_maintenance.url}/projects/${var.project_id}/topics/ticks-ledger"
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

resource "google_pubsub_subscription" "process_psp_event" {
  name                    = "process-psp-event"
  topic                   = google_pubsub_topic.psp_events.id
  ack_deadline_seconds    = 60
  enable_message_ordering = true
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.process_psp_event.url}/projects/${var.project_id}/topics/psp-events"
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
    }
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.psp_events_dlq.id
    max_delivery_attempts = 20
  }
}

resource "google_pubsub_subscription" "payment_janitor" {
  name                 = "payment-janitor"
  topic                = google_pubsub_topic.ticks_janitor.id
  ack_deadline_seconds = 300
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.payment_janitor.url}/projects/${var.project_id}/topics/ticks-janitor"
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

resource "google_pubsub_subscription" "outbox_sweeper" {
  name                 = "outbox-sweeper"
  topic                = google_pubsub_topic.ticks_outbox.id
  ack_deadline_seconds = 300
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.outbox_sweeper.url}/projects/${var.project_id}/topics/ticks-outbox"
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

# Dead-lettering acks the message on the source subscription as the service agent.
resource "google_pubsub_subscription_iam_member" "agent_subscribes_ledger_maintenance" {
  subscription = google_pubsub_subscription.ledger_maintenance.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "agent_subscribes_process_psp_event" {
  subscription = google_pubsub_subscription.process_psp_event.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "agent_subscribes_payment_janitor" {
  subscription = google_pubsub_subscription.payment_janitor.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "agent_subscribes_outbox_sweeper" {
  subscription = google_pubsub_subscription.outbox_sweeper.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Index exemptions (as in firestore.indexes.json): payloads that are never queried. Firestore
# indexes every field by default; these are large (a payment's state JSON, an event's payload map,
# a stored response, a PSP event) and would cost an index write each, on every save.
resource "google_firestore_field" "payments_state_unindexed" {
  database   = google_firestore_database.default.name
  collection = "payments"
  field      = "state"
  index_config {}
}

resource "google_firestore_field" "outbox_payload_unindexed" {
  database   = google_firestore_database.default.name
  collection = "outbox"
  field      = "payload"
  index_config {}
}

# One outbox document per commit holds its events in `events` (ADR 0027): never queried inside.
resource "google_firestore_field" "outbox_events_unindexed" {
  database   = google_firestore_database.default.name
  collection = "outbox"
  field      = "events"
  index_config {}
}

# The outbox as a log by time across tenants (OutboxStore.listEventsBetween, `tally events replay`).
resource "google_firestore_field" "outbox_created_at" {
  database   = google_firestore_database.default.name
  collection = "outbox"
  field      = "createdAt"
  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
    indexes {
      order = "ASCENDING"
    }
  }
}

resource "google_firestore_field" "idempotency_response_unindexed" {
  database   = google_firestore_database.default.name
  collection = "idempotency"
  field      = "response"
  index_config {}
}

resource "google_firestore_field" "inbox_event_unindexed" {
  database   = google_firestore_database.default.name
  collection = "inbox"
  field      = "event"
  index_config {}
}

# Log-based metrics from pspWebhook's structured logs (the message strings are the handler's;
# test/terraform.test.ts checks they match). A rise in either deserves a look: unmatched events
# are PSP notifications for payments Tally cannot find (another platform's, or lost), rejected
# ones failed signature or freshness checks (a wrong secret, or someone probing the endpoint).
resource "google_logging_metric" "psp_webhook_unmatched" {
  name   = "tally/psp_webhook_unmatched"
  filter = "resource.type=\"cloud_run_revision\" AND jsonPayload.message=\"webhook for an unknown payment\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key        = "psp"
      value_type = "STRING"
    }
  }
  label_extractors = {
    "psp" = "EXTRACT(jsonPayload.psp)"
  }
}

resource "google_logging_metric" "psp_webhook_rejected" {
  name   = "tally/psp_webhook_rejected"
  filter = "resource.type=\"cloud_run_revision\" AND jsonPayload.message=\"webhook rejected\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key        = "psp"
      value_type = "STRING"
    }
  }
  label_extractors = {
    "psp" = "EXTRACT(jsonPayload.psp)"
  }
}

# Payment anomalies (functions/src/app/payments/payments-use-cases.ts `paymentAnomalyMessage`): a
# PSP event or answer contradicting what Tally recorded that the domain could not apply (e.g. a
# capture the card scheme rejected after it was refunded). Each one needs a human or
# reconciliation; any rise deserves an alert.
resource "google_logging_metric" "payment_anomaly" {
  name   = "tally/payment_anomaly"
  filter = "resource.type=\"cloud_run_revision\" AND jsonPayload.message=\"payment anomaly\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key        = "reason"
      value_type = "STRING"
    }
    labels {
      key        = "psp"
      value_type = "STRING"
    }
  }
  label_extractors = {
    "reason" = "EXTRACT(jsonPayload.reason)"
    "psp"    = "EXTRACT(jsonPayload.psp)"
  }
}
