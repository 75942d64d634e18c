"""mockserver: a stateful mock and contract-testing server for the Userflow and Frigade APIs."""

__version__ = "0.1.0"
