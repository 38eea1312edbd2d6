"""Parts of the Deployments view (kept out of ui/views/deployments.py to keep it small)."""
