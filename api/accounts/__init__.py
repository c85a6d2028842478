"""Platform accounts: sign-up, sign-in, mailed links, sessions and the account pages.

One concept per module: ``passwords`` (hashing), ``links`` (single-use mailed links),
``mail`` (SMTP or the outbox), ``ratelimit`` (lockouts), ``sessions`` (browser sessions and
safe redirects), ``csrf`` (form tokens), ``usernames`` (hub names), ``service`` (the flows),
``pages`` (the server-rendered routes).
"""
