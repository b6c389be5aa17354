"""LiteLLM proxy plugin for the Portal."""
