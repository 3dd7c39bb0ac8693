"""The staff console (/console): server-rendered pages for support staff and admins.

Sessions live in the database (the cookie carries a random token; only its hash is
stored), cookies are HttpOnly and SameSite=Strict, every form carries a CSRF token, and
failed logins are limited per username. Jinja2 escapes everything it renders, so customer
text cannot run in a staff browser. One router per resource; `pages` holds what they share.
"""
