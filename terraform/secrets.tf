# Secrets (ADR 0019): every credential the config reads (TALLY_*_API_KEY, *_SECRET, *_KEY_HEX,
# *_KEY_SHA256) comes from Secret Manager, never from a plain environment value, and only the
# service accounts of the deployables that use it may read it. Start-up refuses a PSP API key
# without its webhook secret or HMAC key, so both are wired together (test/terraform.test.ts
# checks every deployable's environment against parseConfig). Operators add the secret versions.

resource "google_secret_manager_secret" "stripe_api_key" {
  secret_id = "tally-stripe-api-key"
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret" "stripe_webhook_secret" {
  secret_id = "tally-stripe-webhook-secret"
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret" "adyen_api_key" {
  secret_id = "tally-adyen-api-key"
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret" "adyen_hmac_key_hex" {
  secret_id = "tally-adyen-hmac-key-hex"
  replication {
    auto {}
  }
}

variable "adyen_merchant_account" {
  type        = string
  description = "Adyen merchant account code (not a secret; required with the Adyen API key)."
}

variable "adyen_checkout_base_url" {
  type        = string
  default     = "https://checkout-test.adyen.com/v71"
  description = "Adyen Checkout API base URL (live URLs carry the account's prefix)."
}

# ---- Who may read which secret -----------------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "api_reads_platform_admin_key_sha256" {
  secret_id = google_secret_manager_secret.platform_admin_key_sha256.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}

resource "google_secret_manager_secret_iam_member" "api_reads_stripe_api_key" {
  secret_id = google_secret_manager_secret.stripe_api_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}

resource "google_secret_manager_secret_iam_member" "api_reads_stripe_webhook_secret" {
  secret_id = google_secret_manager_secret.stripe_webhook_secret.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}

resource "google_secret_manager_secret_iam_member" "api_reads_adyen_api_key" {
  secret_id = google_secret_manager_secret.adyen_api_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}

resource "google_secret_manager_secret_iam_member" "api_reads_adyen_hmac_key_hex" {
  secret_id = google_secret_manager_secret.adyen_hmac_key_hex.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}

resource "google_secret_manager_secret_iam_member" "payments_reads_stripe_api_key" {
  secret_id = google_secret_manager_secret.stripe_api_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.payments.email}"
}

resource "google_secret_manager_secret_iam_member" "payments_reads_stripe_webhook_secret" {
  secret_id = google_secret_manager_secret.stripe_webhook_secret.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.payments.email}"
}

resource "google_secret_manager_secret_iam_member" "payments_reads_adyen_api_key" {
  secret_id = google_secret_manager_secret.adyen_api_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.payments.email}"
}

resource "google_secret_manager_secret_iam_member" "payments_reads_adyen_hmac_key_hex" {
  secret_id = google_secret_manager_secret.adyen_hmac_key_hex.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.payments.email}"
}
