"""Project generation: a durable pipeline of agents, sandboxed quality gates, a time machine.

A project's history is its numbered event log (``project_events``); everything else —
files, decisions, gate results — is rebuilt from it (:mod:`api.generation.state`).
"""
