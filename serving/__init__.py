"""The Flask app that serves Discerner's HTTP API."""

from serving.app import create_app

__all__ = ["create_app"]
