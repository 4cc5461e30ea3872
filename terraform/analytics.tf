# ---- Analytics: domain-events -> analyticsSink -> ClickHouse (issue 13, ADR 0029) ---------------
# analyticsSink is fed by a push subscription on domain-events with a dead-letter topic; it batches
# the events of concurrent deliveries in one instance (up to max_instance_request_concurrency) and
# answers each delivery only once its batch is in ClickHouse, so an unanswered or failed delivery
# is retried, then dead-lettered, never lost. Numbers mirror
# functions/src/adapters/pubsub/subscription-policies.ts (test/terraform.test.ts compares them).

variable "clickhouse_url" {
  type        = string
  description = "HTTPS URL of the analytics ClickHouse server (ClickHouse Cloud or self-hosted), without credentials."
}

variable "clickhouse_user" {
  type        = string
  default     = "tally"
  description = "ClickHouse user the sink and the analytics API use (its password is the secret tally-clickhouse-password)."
}

resource "google_secret_manager_secret" "clickhouse_password" {
  secret_id = "tally-clickhouse-password"
  replication {
    auto {}
  }
}

resource "google_service_account" "analytics" {
  account_id   = "tally-analytics"
  display_name = "Tally analyticsSink (domain-events into ClickHouse)"
}

resource "google_project_iam_member" "analytics_trace" {
  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = "serviceAccount:${google_service_account.analytics.email}"
}

resource "google_secret_manager_secret_iam_member" "analytics_reads_clickhouse_password" {
  secret_id = google_secret_manager_secret.clickhouse_password.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.analytics.email}"
}

# The api service's AnalyticsService reads reports with the same ClickHouse user (ADR 0030).
resource "google_secret_manager_secret_iam_member" "api_reads_clickhouse_password" {
  secret_id = google_secret_manager_secret.clickhouse_password.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}

resource "google_cloudfunctions2_function" "analytics_sink" {
  name     = "analyticsSink"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "analyticsSink"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email = google_service_account.analytics.email
    timeout_seconds       = 60
    available_memory      = "1Gi"
    available_cpu         = "1"
    # Concurrent deliveries per instance are what a batch is made of (ADR 0029): 1,000 rows a batch
    # needs up to 1,000 deliveries waiting in one instance.
    max_instance_request_concurrency = 1000
    max_instance_count               = 10
    environment_variables = {
      TALLY_TRACE_EXPORTER               = "cloud-trace"
      TALLY_KMS_KEY_VERSION              = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_CLICKHOUSE_URL               = var.clickhouse_url
      TALLY_CLICKHOUSE_USER              = var.clickhouse_user
      TALLY_CLICKHOUSE_DATABASE          = "tally"
      TALLY_ANALYTICS_BATCH_ROWS_MAX     = "1000"
      TALLY_ANALYTICS_BATCH_BYTES_MAX    = "4194304"
      TALLY_ANALYTICS_BATCH_AGE_MS       = "200"
      TALLY_ANALYTICS_WAITING_EVENTS_MAX = "20000"
    }
    secret_environment_variables {
      key        = "TALLY_CLICKHOUSE_PASSWORD"
      project_id = var.project_id
      secret     = google_secret_manager_secret.clickhouse_password.secret_id
      version    = "latest"
    }
  }
  # Fed by the push subscription google_pubsub_subscription.analytics_sink (dead-letter policy
  # attached), not by an event_trigger: Eventarc's own subscription cannot take a dead-letter topic.
}

resource "google_cloud_run_service_iam_member" "push_invokes_analytics_sink" {
  location = var.region
  service  = google_cloudfunctions2_function.analytics_sink.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

resource "google_pubsub_topic" "analytics_sink_dlq" {
  name = "analytics-sink-dlq"
}

resource "google_pubsub_subscription" "analytics_sink_dlq_hold" {
  name                       = "analytics-sink-dlq-hold"
  topic                      = google_pubsub_topic.analytics_sink_dlq.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "agent_publishes_analytics_sink_dlq" {
  topic  = google_pubsub_topic.analytics_sink_dlq.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription" "analytics_sink" {
  name                    = "analytics-sink"
  topic                   = google_pubsub_topic.domain_events.id
  ack_deadline_seconds    = 60
  enable_message_ordering = false
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.analytics_sink.url}/projects/${var.project_id}/topics/domain-events"
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
    }
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.analytics_sink_dlq.id
    max_delivery_attempts = 20
  }
}

resource "google_pubsub_subscription_iam_member" "agent_subscribes_analytics_sink" {
  subscription = google_pubsub_subscription.analytics_sink.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# analyticsMaintenance (ADR 0029 decision 9): a monthly tick applies the analytics retention (monthly
# partitions older than 7 years dropped, at most 120 a run; a run stopped at its bound fails so the
# tick is redelivered to continue). Idempotent: a run drops only what system.parts still lists. The
# ClickHouse user needs ALTER TABLE ... DROP PARTITION on the tally database; ClickHouse users are
# not managed here (no ClickHouse provider): the operator runs, once,
#   GRANT ALTER DELETE ON tally.* TO tally;
# (ALTER DELETE is the privilege DROP PARTITION checks; README "Analytics", ADR 0029 decision 9).
resource "google_pubsub_topic" "ticks_analytics" {
  name = "ticks-analytics"
}

resource "google_cloud_scheduler_job" "analytics_tick" {
  name     = "analytics-tick"
  schedule = "17 3 1 * *"
  pubsub_target {
    topic_name = google_pubsub_topic.ticks_analytics.id
    data       = base64encode("tick")
  }
}

resource "google_cloudfunctions2_function" "analytics_maintenance" {
  name     = "analyticsMaintenance"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "analyticsMaintenance"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    service_account_email = google_service_account.analytics.email
    timeout_seconds       = 540
    available_memory      = "256Mi"
    # One run at a time: runs racing are safe (a drop of a gone partition changes nothing) but useless.
    max_instance_count = 1
    environment_variables = {
      TALLY_TRACE_EXPORTER      = "cloud-trace"
      TALLY_KMS_KEY_VERSION     = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_CLICKHOUSE_URL      = var.clickhouse_url
      TALLY_CLICKHOUSE_USER     = var.clickhouse_user
      TALLY_CLICKHOUSE_DATABASE = "tally"
    }
    secret_environment_variables {
      key        = "TALLY_CLICKHOUSE_PASSWORD"
      project_id = var.project_id
      secret     = google_secret_manager_secret.clickhouse_password.secret_id
      version    = "latest"
    }
  }
  # Fed by the push subscription google_pubsub_subscription.analytics_maintenance (dead-letter policy attached).
}

resource "google_cloud_run_service_iam_member" "push_invokes_analytics_maintenance" {
  location = var.region
  service  = google_cloudfunctions2_function.analytics_maintenance.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

resource "google_pubsub_subscription" "analytics_maintenance" {
  name                 = "analytics-maintenance"
  topic                = google_pubsub_topic.ticks_analytics.id
  ack_deadline_seconds = 300
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.analytics_maintenance.url}/projects/${var.project_id}/topics/ticks-analytics"
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

resource "google_pubsub_subscription_iam_member" "agent_subscribes_analytics_maintenance" {
  subscription = google_pubsub_subscription.analytics_maintenance.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
