# Hosted checkout (issue 17, ADR 0036). Sessions and their client-secret index are served by the
# `api` service (CheckoutService, HostedCheckoutService): no function or topic of their own.

# Sessions and their secrets' index expire 90 days after the session does (checkout-store.ts
# checkoutRetentionMs); mirror the fieldOverrides entries in firestore.indexes.json.
resource "google_firestore_field" "checkout_sessions_ttl" {
  database   = google_firestore_database.default.name
  collection = "checkoutSessions"
  field      = "expireAt"
  ttl_config {}
  index_config {}
}

resource "google_firestore_field" "checkout_secrets_ttl" {
  database   = google_firestore_database.default.name
  collection = "checkoutSecrets"
  field      = "expireAt"
  ttl_config {}
  index_config {}
}

variable "checkout_base_url" {
  type        = string
  description = "Origin the hosted checkout app is served from (Firebase Hosting's checkout site): session URLs are <this>/checkout/#<client secret>."
}

variable "checkout_card_fields_url" {
  type        = string
  description = "The PSP's hosted card fields page the checkout app shows in an iframe (card numbers never reach Tally: PCI SAQ-A)."
}
