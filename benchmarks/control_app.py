"""The load benchmark's control: a bare FastAPI app returning a constant JSON, served like the services.

python -m uvicorn control_app:app --app-dir benchmarks ...   (the bench starts it with the stack's flags)
"""

from fastapi import FastAPI

app = FastAPI(title="bench-control")


@app.get("/")
async def constant() -> dict[str, str]:
    return {"status": "ok"}
