"""The database: engine and sessions, the typed ORM models, migrations, and the audit trail."""
