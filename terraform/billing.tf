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
