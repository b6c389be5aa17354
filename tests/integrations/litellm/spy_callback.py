"""Another LiteLLM callback beside the plugin, loaded by the test proxy: it writes what
LiteLLM hands every callback (the request's messages, the response, the standard
logging payload) to the file PORTAL_TEST_SPY_FILE, so a test can say which text any
callback could have carried."""

from __future__ import annotations

import json
import os

from litellm.integrations.custom_logger import CustomLogger


class SpyCallback(CustomLogger):
    def _write(self, event: str, kwargs: dict, response_obj: object) -> None:
        seen = {
            "event": event,
            "messages": kwargs.get("messages"),
            "standard_logging_object": kwargs.get("standard_logging_object"),
            "response": str(response_obj),
        }
        with open(os.environ["PORTAL_TEST_SPY_FILE"], "a", encoding="utf-8") as spy:
            spy.write(json.dumps(seen, default=str) + "\n")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write("success", kwargs, response_obj)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._write("failure", kwargs, response_obj)


spy_callback = SpyCallback()
