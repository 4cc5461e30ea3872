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
