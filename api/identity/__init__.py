"""The api as the platform's OpenID Connect provider: JupyterHub (and later other parts of
the platform) sign people in through it, with the accounts of ``api.accounts``.

Authlib provides the grants; ``server.py`` adapts its synchronous authorization server to
Starlette, and the grants reach the database through the request's own session
(``AsyncSession.run_sync``), so no state is kept in memory and several api processes
serve the same provider.
"""
