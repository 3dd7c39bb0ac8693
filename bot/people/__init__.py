"""People behind the assistant: escalations to support staff, staff accounts, operator API tokens."""
