"""The admin API (/api/v1): operators publish incident state; one router per resource."""
