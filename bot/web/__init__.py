"""The web application on port 8000: the admin API for operators, status-page webhooks, health."""
