# Reconciliation of uploaded settlement reports (issue 15, ADR 0033): the api (ReconService.UploadReport)
# stores a report and publishes { tenantId, runId } on recon-requests; reconRun runs it. Delivery
# policy: functions/src/adapters/pubsub/subscription-policies.ts ('recon-run'), compared by test/terraform.test.ts.

resource "google_service_account" "recon" {
  account_id   = "tally-recon"
  display_name = "Tally reconRun (settlement report runs)"
}

resource "google_project_iam_member" "recon_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.recon.email}"
}

resource "google_pubsub_topic" "recon_requests" {
  name = "recon-requests"
}

resource "google_pubsub_topic_iam_member" "api_publishes_recon_requests" {
  topic  = google_pubsub_topic.recon_requests.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.api.email}"
}

resource "google_cloudfunctions2_function" "recon_run" {
  name     = "reconRun"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "reconRun"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email = google_service_account.recon.email
    # A report of at most 8 MiB, matched in batches; the ack deadline (540 s) covers the timeout.
    timeout_seconds    = 540
    available_memory   = "1Gi"
    max_instance_count = 10
    environment_variables = {
      TALLY_TRACE_EXPORTER  = "cloud-trace"
      TALLY_KMS_KEY_VERSION = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
    }
  }
  # Fed by google_pubsub_subscription.recon_run (push, dead-letter policy), not event_trigger.
}

resource "google_cloud_run_service_iam_member" "push_invokes_recon_run" {
  location = var.region
  service  = google_cloudfunctions2_function.recon_run.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

resource "google_pubsub_topic" "recon_run_dlq" {
  name = "recon-run-dlq"
}

resource "google_pubsub_subscription" "recon_run_dlq_hold" {
  name                       = "recon-run-dlq-hold"
  topic                      = google_pubsub_topic.recon_run_dlq.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "agent_publishes_recon_run_dlq" {
  topic  = google_pubsub_topic.recon_run_dlq.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription" "recon_run" {
  name                    = "recon-run"
  topic                   = google_pubsub_topic.recon_requests.id
  ack_deadline_seconds    = 540
  enable_message_ordering = false
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.recon_run.url}/projects/${var.project_id}/topics/recon-requests"
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
    }
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.recon_run_dlq.id
    max_delivery_attempts = 10
  }
}

resource "google_pubsub_subscription_iam_member" "agent_subscribes_recon_run" {
  subscription = google_pubsub_subscription.recon_run.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
