"""Everything a request may need, built once per ingress replica."""

from dataclasses import dataclass

from serve_app.config import AppConfig
from serve_app.db.session import Database
from serve_app.services.generation import GenerationService
from serve_app.services.models import ModelClient
from serve_app.storage.base import ObjectStore
from serve_app.storage.factory import build_object_store


@dataclass
class AppState:
    config: AppConfig
    db: Database
    store: ObjectStore
    models: ModelClient
    generation: GenerationService

    @classmethod
    def build(cls, config: AppConfig, *, model_handles: dict) -> "AppState":
        db = Database(config.database_url)
        store = build_object_store(config)
        models = ModelClient(model_handles, timeout_s=config.generation_timeout_s)
        generation = GenerationService(config=config, db=db, store=store, models=models)
        return cls(config=config, db=db, store=store, models=models, generation=generation)

    async def startup(self) -> None:
        await self.db.create_schema()

    async def shutdown(self) -> None:
        await self.db.dispose()
