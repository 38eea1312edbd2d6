"""podwarden.app: entry points (desktop and headless)."""
