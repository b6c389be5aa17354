"""Write the LiteLLM proxy's demo configuration: one mock deployment per catalog endpoint
(catalog/litellm_proxy.py). `make gateway` runs it."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from catalog.litellm_proxy import catalog_deployments, dumps, proxy_config


class Command(BaseCommand):
    help = "Write the LiteLLM proxy configuration (mock deployments) for the catalog."

    def add_arguments(self, parser):
        parser.add_argument("--output", default="var/litellm.yaml")

    def handle(self, *args, output: str, **options):
        deployments = catalog_deployments()
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(proxy_config(deployments)) + "\n", encoding="utf-8")
        self.stdout.write(f"Wrote {path} with {len(deployments)} mock deployments.")
