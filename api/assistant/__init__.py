"""The assistant inside JupyterLab: chat, inline completion, error help and notebooks.

The api answers with the operator's model when one is configured (keys stay here), else
with the offline engine (the pattern library and known error explanations), and says which.
Conversations are stored per user and usage is counted per user per UTC day against the
plan's ``assistant_requests_per_day``.
"""
