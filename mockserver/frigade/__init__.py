"""The Frigade API under /v1/."""
