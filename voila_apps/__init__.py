"""Voila dashboards and the small library their notebooks import (runs in the kernels)."""
