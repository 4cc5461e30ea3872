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
      resources {
        limits = { cpu = "1", memory = "512Mi" }
      }
      env {
        name  = "TALLY_TRACE_EXPORTER"
        value = "cloud-trace"
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
  event_trigger {
    trigger_region = var.region
    event_type     = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic   = google_pubsub_topic.ticks_ledger.id
    retry_policy   = "RETRY_POLICY_RETRY"
  }
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
  }
  event_trigger {
    trigger_region = var.region
    event_type     = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic   = google_pubsub_topic.psp_events.id
    retry_policy   = "RETRY_POLICY_RETRY"
  }
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
  }
  event_trigger {
    trigger_region = var.region
    event_type     = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic   = google_pubsub_topic.ticks_janitor.id
    retry_policy   = "RETRY_POLICY_RETRY"
  }
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
