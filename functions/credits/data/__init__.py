"""Data access of the credits service: pynamodb models, table binding, transactions, repository."""
