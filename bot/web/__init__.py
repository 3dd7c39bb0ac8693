"""The web application on port 8000: the customers' web chat, the staff console, the admin API
for operators, status-page webhooks, and health."""
