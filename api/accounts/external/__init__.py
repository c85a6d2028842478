"""Signing in with an outside identity: GitHub, Google and OpenID Connect providers the
operator configures. The platform is the relying party here (and the hub's provider)."""
