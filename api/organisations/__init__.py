"""Organisations run by their own admins: create one, invite people by mail, let people at
its e-mail domains join, manage roles and seats, leave.

A person belongs to at most one organisation (``user_profiles.tenant_id``), so the scope of
each of their requests is unambiguous for row-level security. ``membership`` holds the
rules of who belongs and who runs it, ``invitations`` the mailed links, ``pages`` the
account pages under ``/services/api/accounts/organisation``. Errors are the api's own
(``api.errors``), each with a message a person can act on.
"""
