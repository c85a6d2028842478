"""Pydantic request and response models of the api, one module per resource."""
