"""The users service: `uvicorn reference_impl.users.main:app` (default port 8002)."""

from reference_impl.core.app import create_app
from reference_impl.users.router import router

app = create_app(service="users", title="users", routers=[router], hashes_passwords=True)
