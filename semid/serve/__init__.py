"""``semid serve``: a trained model behind an HTTP API (FastAPI + uvicorn).

``semid.serve.app.create_app(retriever)`` builds the app; ``semid.serve.cli`` is the command.
Nothing is imported here, so that ``semid --help`` does not load FastAPI.
"""

__all__: list[str] = []
