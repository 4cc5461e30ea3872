# What the merchant console reads that nothing else does (issue 17).

# ListCustomers with an email: one tenant's customers with that email, newest first.
resource "google_firestore_index" "customers_by_email" {
  database   = google_firestore_database.default.name
  collection = "customers"
  fields {
    field_path = "email"
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
