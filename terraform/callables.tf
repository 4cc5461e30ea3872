# HTTPS callables for the Vue apps (issue 17, ADR 0037): thin bridges over the same ConnectRPC
# services as the api (functions/src/compose-callables.ts), each with its allowlist. Firebase Hosting
# serves the built apps (firebase.json `hosting` targets checkout and console) and rewrites
# /callables/** to these functions, so the apps call them on their own origin.

resource "google_cloudfunctions2_function" "checkout_callables" {
  name     = "checkoutCallables"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "checkoutCallables"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    # The same RPCs as the api service, so the same identity and configuration.
    service_account_email            = google_service_account.api.email
    timeout_seconds                  = 60
    available_memory                 = "512Mi"
    max_instance_count               = 20
    max_instance_request_concurrency = 80
    available_cpu                    = "1"
    ingress_settings                 = "ALLOW_ALL"
    environment_variables = {
      TALLY_TRACE_EXPORTER           = "cloud-trace"
      TALLY_CLICKHOUSE_URL           = var.clickhouse_url
      TALLY_CLICKHOUSE_USER          = var.clickhouse_user
      TALLY_KMS_KEY_VERSION          = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_WEBHOOK_SECRETS_KMS_KEY  = google_kms_crypto_key.webhook_secrets.id
      TALLY_CHECKOUT_BASE_URL        = var.checkout_base_url
      TALLY_CHECKOUT_CARD_FIELDS_URL = var.checkout_card_fields_url
      TALLY_ADYEN_MERCHANT_ACCOUNT   = var.adyen_merchant_account
      TALLY_ADYEN_BASE_URL           = var.adyen_checkout_base_url
    }
    # PSP credentials, webhook secrets, ClickHouse (secrets.tf, analytics.tf; ADR 0019).
    secret_environment_variables {
      key        = "TALLY_CLICKHOUSE_PASSWORD"
      project_id = var.project_id
      secret     = google_secret_manager_secret.clickhouse_password.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_PLATFORM_ADMIN_KEY_SHA256"
      project_id = var.project_id
      secret     = google_secret_manager_secret.platform_admin_key_sha256.secret_id
      version    = "latest"
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
}

# Browsers call it (through Hosting's rewrite): the callable authenticates each request itself
# (HostedCheckoutService: the session's client secret in every request).
resource "google_cloud_run_service_iam_member" "public_invokes_checkout_callables" {
  location = var.region
  service  = google_cloudfunctions2_function.checkout_callables.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloudfunctions2_function" "console_callables" {
  name     = "consoleCallables"
  location = var.region
  build_config {
    runtime     = "nodejs20"
    entry_point = "consoleCallables"
    source {
      storage_source {
        bucket = var.functions_source_bucket
        object = var.functions_source_object
      }
    }
  }
  service_config {
    # The same RPCs as the api service, so the same identity and configuration.
    service_account_email            = google_service_account.api.email
    timeout_seconds                  = 60
    available_memory                 = "512Mi"
    max_instance_count               = 10
    max_instance_request_concurrency = 80
    available_cpu                    = "1"
    ingress_settings                 = "ALLOW_ALL"
    environment_variables = {
      TALLY_TRACE_EXPORTER           = "cloud-trace"
      TALLY_CLICKHOUSE_URL           = var.clickhouse_url
      TALLY_CLICKHOUSE_USER          = var.clickhouse_user
      TALLY_KMS_KEY_VERSION          = "${google_kms_crypto_key.ledger_checkpoints.id}/cryptoKeyVersions/1"
      TALLY_WEBHOOK_SECRETS_KMS_KEY  = google_kms_crypto_key.webhook_secrets.id
      TALLY_CHECKOUT_BASE_URL        = var.checkout_base_url
      TALLY_CHECKOUT_CARD_FIELDS_URL = var.checkout_card_fields_url
      TALLY_ADYEN_MERCHANT_ACCOUNT   = var.adyen_merchant_account
      TALLY_ADYEN_BASE_URL           = var.adyen_checkout_base_url
    }
    # PSP credentials, webhook secrets, ClickHouse (secrets.tf, analytics.tf; ADR 0019).
    secret_environment_variables {
      key        = "TALLY_CLICKHOUSE_PASSWORD"
      project_id = var.project_id
      secret     = google_secret_manager_secret.clickhouse_password.secret_id
      version    = "latest"
    }
    secret_environment_variables {
      key        = "TALLY_PLATFORM_ADMIN_KEY_SHA256"
      project_id = var.project_id
      secret     = google_secret_manager_secret.platform_admin_key_sha256.secret_id
      version    = "latest"
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
}

# Browsers call it (through Hosting's rewrite): the callable authenticates each request itself
# (a Firebase Auth ID token whose tenantId/role claims Tally checks on every RPC).
resource "google_cloud_run_service_iam_member" "public_invokes_console_callables" {
  location = var.region
  service  = google_cloudfunctions2_function.console_callables.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
