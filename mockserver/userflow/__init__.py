"""The Userflow REST API (version 2020-01-03)."""
