"""Settings, errors, the clock, time wording and development secrets: what every other area uses."""
