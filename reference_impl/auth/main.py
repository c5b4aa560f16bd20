"""The auth service: `uvicorn reference_impl.auth.main:app` (default port 8001)."""

from reference_impl.auth.router import router
from reference_impl.core.app import create_app

# Redis: the failed-login counters (auth/throttle.py); no other service needs it.
app = create_app(service="auth", title="auth", routers=[router], hashes_passwords=True, uses_redis=True)
