"""Account pages, one module per URL group (see ``accounts/urls.py``).

- :mod:`~accounts.views.auth`: sign-up, log-in, password reset, email verification, account.
- :mod:`~accounts.views.workspaces`: the user's workspaces; making one; switching.
- :mod:`~accounts.views.team`: the current workspace's members, invitations and settings.
- :mod:`~accounts.views.invitations`: accepting an invitation from its link.
- :mod:`~accounts.views.api_keys`: the workspace's API keys.

Views are thin: they validate forms, call ``accounts.services`` and turn ``AccountsError`` into a
message. Objects in URLs are looked up with ``get_for_workspace`` (another workspace's object is a
404) before any role check (a member without the role gets a 403 page).
"""
