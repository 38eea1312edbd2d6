"""podwarden.ui: the PySide6 desktop views."""
