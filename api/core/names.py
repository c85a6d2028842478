"""Names both sides of a process boundary must agree on.

The hub config, the launcher, the api, the hub services and the dashboards' kernels run
in different processes; each side imports its names from here, so a rename cannot leave
one side behind. Keep this module free of imports: dashboard kernels load it too.
"""

from __future__ import annotations

# Hub-managed services, by the name JupyterHub knows them (URLs, tokens, roles).
API_SERVICE = "api"
QUOTA_SERVICE = "quota"
GENERATION_WORKER_SERVICE = "generation-worker"
DASHBOARDS_SERVICE = "dashboards"
CULLER_SERVICE = "idle-culler"

# Where the hub's proxy routes the api.
API_PREFIX = f"/services/{API_SERVICE}/"

# The prefix of every platform setting in the environment (see api.core.config.Settings).
SETTINGS_ENV_PREFIX = "DATAZENTR_"

# The credential the dashboards service mints for a visitor and its kernel sends to the api.
DASHBOARD_CREDENTIAL_HEADER = "X-Datazentr-Dashboard-Credential"
# How Voila hands that header to the kernel's environment (CGI naming, RFC 3875).
DASHBOARD_CREDENTIAL_ENV = "HTTP_" + DASHBOARD_CREDENTIAL_HEADER.upper().replace("-", "_")
# The api's URL as dashboard kernels reach it.
DASHBOARD_API_URL_ENV = "DATAZENTR_DASHBOARD_API_URL"
