# Billing (issue 14, ADR 0032): the composite indexes of billingRun's queues and of listing (firestore.indexes.json).
resource "google_firestore_index" "subscriptions_due_all_tenants" {
  database    = google_firestore_database.default.name
  collection  = "subscriptions"
  query_scope = "COLLECTION_GROUP"
  fields {
    field_path = "testClockId"
    order      = "ASCENDING"
  }
  fields {
    field_path = "nextActionAt"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "subscriptions_due" {
  database    = google_firestore_database.default.name
  collection  = "subscriptions"
  query_scope = "COLLECTION"
  fields {
    field_path = "testClockId"
    order      = "ASCENDING"
  }
  fields {
    field_path = "nextActionAt"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "invoices_due_all_tenants" {
  database    = google_firestore_database.default.name
  collection  = "invoices"
  query_scope = "COLLECTION_GROUP"
  fields {
    field_path = "testClockId"
    order      = "ASCENDING"
  }
  fields {
    field_path = "nextAttemptAt"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "invoices_due" {
  database    = google_firestore_database.default.name
  collection  = "invoices"
  query_scope = "COLLECTION"
  fields {
    field_path = "testClockId"
    order      = "ASCENDING"
  }
  fields {
    field_path = "nextAttemptAt"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "invoices_by_subscription" {
  database    = google_firestore_database.default.name
  collection  = "invoices"
  query_scope = "COLLECTION"
  fields {
    field_path = "subscriptionId"
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

resource "google_firestore_index" "usage_records_by_price" {
  database    = google_firestore_database.default.name
  collection  = "usageRecords"
  query_scope = "COLLECTION"
  fields {
    field_path = "subscriptionId"
    order      = "ASCENDING"
  }
  fields {
    field_path = "priceId"
    order      = "ASCENDING"
  }
  fields {
    field_path = "at"
    order      = "ASCENDING"
  }
}

# billingRun (ADR 0032): a scheduler tick every five minutes renews due subscriptions and charges due
# invoices in bounded rounds; a run that hits its bound leaves the rest to the next tick.
resource "google_pubsub_topic" "ticks_billing" {
  name = "ticks-billing"
}

resource "google_cloud_scheduler_job" "billing_tick" {
  name     = "billing-tick"
  schedule = "*/5 * * * *"
  pubsub_target {
    topic_name = google_pubsub_topic.ticks_billing.id
    data       = base64encode("tick")
  }
}

resource "google_cloudfunctions2_function" "billing_run" {
  name     = "billingRun"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "billingRun"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    # It charges through the payments use cases: the payments service account and PSP credentials.
    service_account_email = google_service_account.payments.email
    timeout_seconds       = 540
    available_memory      = "1Gi"
    # One run at a time: runs racing are safe (ADR 0032) but only contend on tenants' counters.
    max_instance_count = 1
    environment_variables = {
      TALLY_TRACE_EXPORTER         = "cloud-trace"
      TALLY_KMS_KEY_VERSION        = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_ADYEN_MERCHANT_ACCOUNT = var.adyen_merchant_account
      TALLY_ADYEN_BASE_URL         = var.adyen_checkout_base_url
    }
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
  # Fed by the push subscription google_pubsub_subscription.billing_run (dead-letter policy attached).
}

resource "google_cloud_run_service_iam_member" "push_invokes_billing_run" {
  location = var.region
  service  = google_cloudfunctions2_function.billing_run.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

resource "google_pubsub_subscription" "billing_run" {
  name                 = "billing-run"
  topic                = google_pubsub_topic.ticks_billing.id
  ack_deadline_seconds = 300
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.billing_run.url}/projects/${var.project_id}/topics/ticks-billing"
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

resource "google_pubsub_subscription_iam_member" "agent_subscribes_billing_run" {
  subscription = google_pubsub_subscription.billing_run.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The console lists one customer's invoices and subscriptions, newest first (issue 17).
resource "google_firestore_index" "invoices_by_customer" {
  database    = google_firestore_database.default.name
  collection  = "invoices"
  query_scope = "COLLECTION"
  fields {
    field_path = "customerId"
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

resource "google_firestore_index" "subscriptions_by_customer" {
  database    = google_firestore_database.default.name
  collection  = "subscriptions"
  query_scope = "COLLECTION"
  fields {
    field_path = "customerId"
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

# ListPrices with a product_id: one product's prices, newest first (ADR 0035).
resource "google_firestore_index" "prices_by_product" {
  database    = google_firestore_database.default.name
  collection  = "prices"
  query_scope = "COLLECTION"
  fields {
    field_path = "productId"
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
