"""The api as OpenID Connect provider, on the real database."""
