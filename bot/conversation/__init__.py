"""What the assistant says: the catalogue of services and intents, knowledge, answers, notifications, review."""
