# Issue 17 (merchant console): the composite indexes of ListPayments' filters (status, customer,
# on the newest-first order) and of ListPaymentEvents (one payment's outbox events, oldest first).
resource "google_firestore_index" "payments_by_status" {
  database    = google_firestore_database.default.name
  collection  = "payments"
  query_scope = "COLLECTION"
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

resource "google_firestore_index" "payments_by_customer" {
  database    = google_firestore_database.default.name
  collection  = "payments"
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

resource "google_firestore_index" "payments_by_customer_and_status" {
  database    = google_firestore_database.default.name
  collection  = "payments"
  query_scope = "COLLECTION"
  fields {
    field_path = "customerId"
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

resource "google_firestore_index" "outbox_by_aggregate" {
  database    = google_firestore_database.default.name
  collection  = "outbox"
  query_scope = "COLLECTION"
  fields {
    field_path   = "aggregateIds"
    array_config = "CONTAINS"
  }
  fields {
    field_path = "createdAt"
    order      = "ASCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }
}
