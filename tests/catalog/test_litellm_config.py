"""`manage.py litellm_config` (make gateway): one mock deployment per catalog endpoint,
each naming its provider for the portal plugin, and no secret in the file."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from catalog.demo_data import DEMO_ENDPOINTS, load_demo_catalog

pytestmark = pytest.mark.django_db


def test_one_mock_deployment_per_catalog_endpoint(tmp_path):
    load_demo_catalog()
    output = tmp_path / "litellm.yaml"
    call_command("litellm_config", output=str(output), stdout=io.StringIO())
    config = json.loads(output.read_text().split("\n", 1)[1])
    expected = {
        (model, provider)
        for model, endpoints in DEMO_ENDPOINTS.items()
        for provider, *_ in endpoints
    }
    found = {(d["model_name"], d["model_info"]["portal_provider"]) for d in config["model_list"]}
    assert found == expected
    assert len(config["model_list"]) == len(expected)
    assert all("mock_response" in d["litellm_params"] for d in config["model_list"])
    assert len({d["model_info"]["id"] for d in config["model_list"]}) == len(expected)
    general = config["general_settings"]
    assert general["custom_auth"] == "portal_litellm.auth.user_api_key_auth"
    # The master key comes from the environment, never written into the file.
    assert general["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert config["litellm_settings"]["turn_off_message_logging"] is True
    assert config["litellm_settings"]["callbacks"] == ["portal_litellm.handler.portal_handler"]
