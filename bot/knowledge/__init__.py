"""What operators and engineers state once: the catalogue of services and intents (code), and the
operator-edited knowledge file (names, normal ways, workarounds, policies, urgency words)."""
